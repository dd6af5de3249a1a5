"""Validating a segment's bytes batch by batch: the pure half of recovery.

`scan` walks a buffer holding part of a segment file and accepts a batch only if
its header is sane (length, magic 2), its CRC32C matches, its record count equals
its last offset delta + 1, and its base offset is exactly the next expected offset
(offsets in a segment are dense). The first batch that fails ends the valid prefix:
recovery truncates the file there. A batch cut off by the end of the file is a torn
tail; one cut off by the end of the buffer only means "read more".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from reference_broker import records

_PREFIX = struct.Struct(">qi")


class ScannedBatch(NamedTuple):
    """Where a valid batch lies in its segment, and what the indexes need of it."""

    position: int
    base_offset: int
    next_offset: int
    max_timestamp: int
    size: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    """``batches`` accepted; ``consumed`` bytes of the buffer they cover; ``problem``
    is None if the buffer ended cleanly or mid-batch before end of file, else why
    the valid prefix ends; ``need`` is the bytes the next read must hold (>= 61)."""

    batches: list[ScannedBatch]
    consumed: int
    problem: str | None
    need: int


def scan(buf: records.Buffer, file_position: int, expected_offset: int, *,
         at_eof: bool) -> ScanResult:
    """Validate the batches in ``buf``, which starts at ``file_position`` in the file.

    ``at_eof``: the buffer reaches the end of the file, so an incomplete batch at its
    end is a torn tail rather than a reason to read more.
    """
    out: list[ScannedBatch] = []
    pos = 0
    end = len(buf)
    expected = expected_offset
    while pos < end:
        avail = end - pos
        need = records.HEADER_SIZE
        if avail >= records.LOG_OVERHEAD:
            length = _PREFIX.unpack_from(buf, pos)[1]
            if length < records.MIN_BATCH_LENGTH:
                return ScanResult(out, pos, f"batch length {length} at byte "
                                  f"{file_position + pos} is impossible", need)
            need = max(need, length + records.LOG_OVERHEAD)
        if avail < need:
            if at_eof:
                return ScanResult(out, pos, f"torn tail: {avail} bytes of a "
                                  f"{need}-byte batch at byte {file_position + pos}", need)
            return ScanResult(out, pos, None, need)
        try:
            h = records.validate_batch(buf, pos)
        except records.InvalidRecords as e:
            return ScanResult(out, pos, f"{e.reason} at byte {file_position + pos}: {e}",
                              need)
        if h.last_offset_delta < 0 or h.record_count != h.last_offset_delta + 1:
            return ScanResult(out, pos, f"batch at byte {file_position + pos} has "
                              f"{h.record_count} records but last offset delta "
                              f"{h.last_offset_delta}", need)
        if h.base_offset != expected:
            return ScanResult(out, pos, f"batch at byte {file_position + pos} has base "
                              f"offset {h.base_offset}, expected {expected}", need)
        out.append(ScannedBatch(file_position + pos, h.base_offset, h.next_offset,
                                h.max_timestamp, h.size))
        expected = h.next_offset
        pos += h.size
    return ScanResult(out, pos, None, records.HEADER_SIZE)
