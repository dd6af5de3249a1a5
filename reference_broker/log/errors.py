"""Errors raised by the partition log; all are `LogError`.

A server maps them to Kafka error codes: `OffsetOutOfRange` -> OFFSET_OUT_OF_RANGE (1),
`CorruptBatch` -> CORRUPT_MESSAGE (2), `LogConfigError` -> INVALID_CONFIG (40);
anything else is a storage failure (KAFKA_STORAGE_ERROR, 56).
"""

from __future__ import annotations


class LogError(Exception):
    """Base class of every deliberate error of `reference_broker.log`."""


class LogConfigError(LogError, ValueError):
    """A `LogConfig` value out of range: names the field, the value and the range."""


class OffsetOutOfRange(LogError):
    """An offset outside ``[log_start_offset, log_end_offset]``."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
        super().__init__(
            f"offset {offset} is out of range: the log holds "
            f"[{log_start_offset}, {log_end_offset}) (log start offset, log end offset)")


class CorruptBatch(LogError):
    """Bytes given to `append` that are not whole, self-consistent v2 batches."""


class LogClosed(LogError):
    """An operation on a `PartitionLog` after `close()`."""


class LogCorrupt(LogError):
    """On-disk state that recovery cannot repair (e.g. an unreadable directory)."""
