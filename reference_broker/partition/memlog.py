"""In-memory stand-in for `reference_broker.log.PartitionLog` (same interface).

Used only while the on-disk log is absent from the tree; nothing survives a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_broker import records


class OffsetOutOfRange(Exception):
    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(f"offset {offset} outside [{log_start_offset}, {log_end_offset}]")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    segment_bytes: int = 1 << 30
    roll_ms: int = 7 * 24 * 3600 * 1000
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    flush: str = "never"
    flush_interval_ms: int = 1000
    index_interval_bytes: int = 4096


@dataclass(frozen=True, slots=True)
class AppendInfo:
    base_offset: int
    last_offset: int
    max_timestamp: int


class PartitionLog:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.batches: list[tuple[int, bytes]] = []
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.size_bytes = 0

    @classmethod
    def open(cls, directory: Path, config: Any, now_ms: int) -> PartitionLog:
        return cls(config)

    def append(self, batch: bytes, now_ms: int) -> AppendInfo:
        base = self.log_end_offset
        out, nxt = records.assign_offsets(batch, base, 0)
        maxts = -1
        for pos, h in records.iter_batches(out):
            self.batches.append((h.base_offset, bytes(out[pos:pos + h.size])))
            maxts = max(maxts, h.max_timestamp)
        self.log_end_offset = nxt
        self.size_bytes += len(out)
        return AppendInfo(base, nxt - 1, maxts)

    def read(self, offset: int, max_bytes: int, max_offset: int | None) -> bytes:
        if not self.log_start_offset <= offset <= self.log_end_offset:
            raise OffsetOutOfRange(offset, self.log_start_offset, self.log_end_offset)
        out = bytearray()
        for base, b in self.batches:
            h = records.read_header(b)
            if h.last_offset < offset:
                continue
            if max_offset is not None and base >= max_offset:
                break
            if out and len(out) + len(b) > max_bytes:
                break
            out += b
        return bytes(out)

    def iter_batch_headers(self, from_offset: int) -> Iterator[records.BatchHeader]:
        for _, b in self.batches:
            h = records.read_header(b)
            if h.last_offset >= from_offset:
                yield h

    def offset_for_timestamp(self, ts_ms: int) -> tuple[int, int] | None:
        for _, b in self.batches:
            for r in records.iter_records(b):
                if r.timestamp >= ts_ms:
                    return r.offset, r.timestamp
        return None

    def flush(self) -> None:
        pass

    def maybe_flush(self, now_ms: int) -> None:
        pass

    def apply_retention(self, now_ms: int, high_watermark: int) -> int:
        return 0

    def reconfigure(self, config: Any) -> None:
        self.config = config

    def close(self) -> None:
        pass
