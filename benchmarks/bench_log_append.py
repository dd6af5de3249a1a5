"""PartitionLog append/read throughput against raw file I/O, in one run.

Appends the same CRC-valid batches to a PartitionLog (flush=never) and with plain
``os.write`` to a file, then reads them back (PartitionLog.read with 1 MiB max_bytes
vs ``os.pread`` of 1 MiB chunks). Prints MB/s, batches/s and the log/raw ratio for two
batch sizes. Usage: ``python benchmarks/bench_log_append.py [--mb 200]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

from reference_broker import records as R
from reference_broker.log import LogConfig, PartitionLog


def _batch(records: int, value_bytes: int) -> bytes:
    return R.build_batch([R.Record(None, bytes(value_bytes), 1_700_000_000_000)] * records,
                         producer_id=1, producer_epoch=0, base_sequence=0)


def _raw_write(path: Path, batches: list[bytes]) -> float:
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for b in batches:
            os.write(fd, b)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def _raw_read(path: Path, chunk: int) -> float:
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while data := os.pread(fd, chunk, pos):
            pos += len(data)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def _log_write(d: Path, batches: list[bytes]) -> tuple[float, PartitionLog]:
    log = PartitionLog.open(d, LogConfig(segment_bytes=64 << 20, flush="never"), 0)
    t0 = time.perf_counter()
    for b in batches:
        log.append(b, 0)
    return time.perf_counter() - t0, log


_PREFIX = struct.Struct(">qi")
_LOD = struct.Struct(">i")


def _next_offset(data: bytes) -> int:
    """Offset after the last batch in ``data`` (what a consumer fetches next)."""
    pos = 0
    base = lod = 0
    while pos < len(data):
        base, length = _PREFIX.unpack_from(data, pos)
        lod = _LOD.unpack_from(data, pos + 23)[0]
        pos += length + 12
    return int(base + lod + 1)


def _log_read(log: PartitionLog, chunk: int) -> float:
    t0 = time.perf_counter()
    off = 0
    end = log.log_end_offset
    while off < end:
        data = log.read(off, chunk)
        off = _next_offset(data)
    return time.perf_counter() - t0


def run(total_mb: int) -> None:
    print(f"{'batch':>22} {'op':>6} {'log MB/s':>9} {'raw MB/s':>9} {'log batch/s':>12} "
          f"{'log/raw':>8}")
    for records, value in ((100, 100), (1, 1000)):
        one = _batch(records, value)
        n = max(1, (total_mb << 20) // len(one))
        batches = [one] * n
        mb = n * len(one) / 1e6
        tmp = Path(tempfile.mkdtemp(prefix="bench-log-"))
        try:
            raw_w = _raw_write(tmp / "raw", batches)
            log_w, log = _log_write(tmp / "log", batches)
            raw_r = _raw_read(tmp / "raw", 1 << 20)
            log_r = _log_read(log, 1 << 20)
            log.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        label = f"{records}x{value}B ({len(one)} B)"
        for op, lt, rt in (("append", log_w, raw_w), ("read", log_r, raw_r)):
            print(f"{label:>22} {op:>6} {mb / lt:9.0f} {mb / rt:9.0f} {n / lt:12.0f} "
                  f"{rt / lt:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="MB written per batch size")
    run(ap.parse_args().mb)


if __name__ == "__main__":
    main()
