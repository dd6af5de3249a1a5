"""Batches for the log tests: small, distinct, CRC-valid, recognisable after a read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reference_broker import records as R


def batch(n: int = 1, *, ts: int = 1000, size: int = 10, tag: int = 0) -> bytes:
    """``n`` records, all with timestamp ``ts`` except the last, which has ``ts``
    as well: the batch's max timestamp is ``ts``; values carry ``tag``."""
    return R.build_batch([R.Record(None, tag.to_bytes(4, "big") + bytes(size), ts)
                          for _ in range(n)])


def batch_ts(timestamps: list[int], *, tag: int = 0) -> bytes:
    """One record per timestamp, in order."""
    return R.build_batch([R.Record(None, tag.to_bytes(4, "big"), t) for t in timestamps])


def tag_of(b: bytes) -> int:
    rec = next(R.iter_records(b))
    assert rec.value is not None
    return int.from_bytes(rec.value[:4], "big")


def headers(data: bytes) -> list[R.BatchHeader]:
    return [h for _, h in R.iter_batches(data, check_crc=True)]


def split(data: bytes) -> Iterator[tuple[R.BatchHeader, bytes]]:
    for pos, h in R.iter_batches(data, check_crc=True):
        yield h, data[pos: pos + h.size]


def segment_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".log"))
