"""PartitionLog over real files: appends, reads, rolls, indexes, timestamps, truncation,
retention, log start offset, flush policies."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from reference_broker import records as R
from reference_broker.log import (
    CorruptBatch,
    LogClosed,
    LogConfig,
    LogConfigError,
    OffsetOutOfRange,
    PartitionLog,
)
from reference_broker.log import files as F

from .helpers import batch, batch_ts, headers, segment_files, split, tag_of


def _open(d: Path, now: int = 0, **kw: object) -> PartitionLog:
    return PartitionLog.open(d, LogConfig(**kw), now)  # type: ignore[arg-type]


def _read_all(log: PartitionLog, max_bytes: int = 1 << 20) -> list[tuple[R.BatchHeader, bytes]]:
    out: list[tuple[R.BatchHeader, bytes]] = []
    off = log.log_start_offset
    while off < log.log_end_offset:
        data = log.read(off, max_bytes)
        got = list(split(data))
        assert got, off
        assert got[0][0].base_offset <= off <= got[0][0].last_offset
        out += got
        off = got[-1][0].next_offset
    return out


def test_append_read_round_trip_with_dense_offsets(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=2000, index_interval_bytes=150)
    sent: list[tuple[int, int, bytes]] = []
    for i in range(120):
        n = 1 + i % 4
        b = batch(n, ts=1000 + i, size=(i * 37) % 200, tag=i)
        info = log.append(b, 1000 + i)
        assert info.base_offset == (sent[-1][1] + 1 if sent else 0)
        assert info.last_offset == info.base_offset + n - 1
        assert info.max_timestamp == 1000 + i
        sent.append((info.base_offset, info.last_offset, b))
    assert log.log_end_offset == sent[-1][1] + 1
    got = _read_all(log)
    assert [(h.base_offset, h.last_offset) for h, _ in got] == [(a, b) for a, b, _ in sent]
    for (_h, data), (_, _, b) in zip(got, sent):
        assert data[8:] == b[8:]  # identical but for the base offset
    # every offset, any max_bytes: the first batch returned holds it
    for off in range(0, log.log_end_offset, 7):
        for mb in (0, 100, 700):
            data = log.read(off, mb)
            hs = headers(data)
            assert hs[0].base_offset <= off <= hs[0].last_offset
            assert len(hs) == 1 or len(data) <= mb
    assert len(segment_files(tmp_path)) > 5
    log.close()


def test_append_many_and_multi_batch_buffers_and_epoch(tmp_path: Path) -> None:
    log = _open(tmp_path)
    info = log.append(batch(2, tag=1) + batch(3, tag=2), 0, partition_leader_epoch=7)
    assert (info.base_offset, info.last_offset) == (0, 4)
    info = log.append_many([batch(1, tag=3), batch(4, tag=4)], 0)
    assert (info.base_offset, info.last_offset) == (5, 9)
    got = [(h.base_offset, h.partition_leader_epoch, tag_of(b)) for h, b in _read_all(log)]
    assert got == [(0, 7, 1), (2, 7, 2), (5, 0, 3), (6, 0, 4)]


@pytest.mark.parametrize("bad", [b"", b"\x00" * 10, batch(2)[:-1], batch(2) + b"\x00" * 30])
def test_append_refuses_what_is_not_whole_batches(tmp_path: Path, bad: bytes) -> None:
    log = _open(tmp_path)
    log.append(batch(1), 0)
    with pytest.raises(CorruptBatch):
        log.append(bad, 0)
    assert log.log_end_offset == 1 and log.size_bytes == len(batch(1))


def test_append_refuses_sparse_offsets(tmp_path: Path) -> None:
    b = bytearray(batch(2))
    b[23:27] = (9).to_bytes(4, "big")
    b[17:21] = R.compute_crc(b).to_bytes(4, "big")
    with _open(tmp_path) as log, pytest.raises(CorruptBatch, match="record count"):
        log.append(b, 0)


def test_read_bounds_and_high_watermark(tmp_path: Path) -> None:
    log = _open(tmp_path)
    for i in range(5):
        log.append(batch(2, tag=i), 0)  # offsets 0-1, 2-3, ..., 8-9
    assert log.read(10, 100) == b""
    with pytest.raises(OffsetOutOfRange) as e:
        log.read(11, 100)
    assert (e.value.offset, e.value.log_start_offset, e.value.log_end_offset) == (11, 0, 10)
    with pytest.raises(OffsetOutOfRange):
        log.read(-1, 100)
    assert [h.base_offset for h in headers(log.read(0, 10**6, max_offset=6))] == [0, 2, 4]
    assert [h.base_offset for h in headers(log.read(0, 10**6, max_offset=5))] == [0, 2]
    assert log.read(4, 10**6, max_offset=5) == b""  # batch 4-5 straddles the bound
    assert log.read(6, 10**6, max_offset=6) == b""
    assert [h.base_offset for h in headers(log.read(3, 10**6, max_offset=100))] == [2, 4, 6, 8]


def test_read_returns_one_oversized_batch_and_stays_in_one_segment(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=500, index_interval_bytes=0)
    log.append(batch(1, size=50), 0)
    big = batch(1, size=3000, tag=9)
    info = log.append(big, 0)  # larger than a segment: a segment of its own
    log.append(batch(1, size=50), 0)
    assert [int(n[:20]) for n in segment_files(tmp_path)] == [0, 1, 2]
    data = log.read(1, 10)
    assert len(data) == len(big) and tag_of(data) == 9 and info.base_offset == 1
    assert len(headers(log.read(0, 10**6))) == 1  # one segment per read


def test_roll_by_time_uses_first_append_time(tmp_path: Path) -> None:
    log = _open(tmp_path, roll_ms=100)
    log.append(batch(1, ts=0), 1000)
    log.append(batch(1, ts=0), 1100)  # exactly roll_ms later: same segment
    assert len(segment_files(tmp_path)) == 1
    log.append(batch(1, ts=0), 1101)
    assert segment_files(tmp_path) == [F.segment_name(0), F.segment_name(2)]
    log.append(batch(1, ts=0), 1201)
    assert len(segment_files(tmp_path)) == 2
    log.append(batch(1, ts=0), 1202)
    assert len(segment_files(tmp_path)) == 3


def test_segment_names_and_index_files(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=300)
    for i in range(6):
        log.append(batch(3, size=100, tag=i), 0)
    names = sorted(os.listdir(tmp_path))
    assert "00000000000000000000.log" in names and "log-start-offset" in names
    closed = [n for n in names if n.endswith(".log")][:-1]
    for n in closed:  # closed segments have both index files, the active one none
        assert n.replace(".log", ".index") in names
        assert n.replace(".log", ".timeindex") in names
    active = [n for n in names if n.endswith(".log")][-1]
    assert active.replace(".log", ".index") not in names
    infos = log.segment_infos()
    assert all(a.next_offset == b.base_offset for a, b in itertools.pairwise(infos))
    assert sum(i.size_bytes for i in infos) == log.size_bytes == sum(
        (tmp_path / n).stat().st_size for n in names if n.endswith(".log"))


def test_offset_for_timestamp(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=160, index_interval_bytes=0)
    log.append(batch_ts([10, 30, 20]), 0)  # 0-2
    log.append(batch_ts([25, 5]), 0)  # 3-4
    log.append(batch_ts([40, 50, 45]), 0)  # 5-7
    log.append(R.build_batch([R.Record(None, b"z", t) for t in (60, 70)],
                             compression=R.COMPRESSION_GZIP), 0)  # 8-9
    assert len(segment_files(tmp_path)) > 1
    cases = {0: (0, 10), 10: (0, 10), 11: (1, 30), 30: (1, 30), 31: (5, 40), 45: (6, 50),
             46: (6, 50), 51: (8, 60), 61: (9, 70), 70: (9, 70)}
    for _ in range(2):
        for ts, want in cases.items():
            assert log.offset_for_timestamp(ts) == want, ts
        assert log.offset_for_timestamp(71) is None
        assert log.offset_for_timestamp(41, max_offset=6) is None
        assert log.offset_for_timestamp(41, max_offset=7) == (6, 50)
        log.close()
        log = _open(tmp_path, segment_bytes=160, index_interval_bytes=0)
        assert log.recovery.rebuilt_indexes == 0


def test_truncate_to(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=250)
    for i in range(10):
        log.append(batch(3, size=20, tag=i), 0)  # batches at 0, 3, ..., 27
    n_seg = len(segment_files(tmp_path))
    assert n_seg > 3
    assert log.truncate_to(100) == 30
    assert log.truncate_to(16) == 15  # inside batch 15-17: the whole batch goes
    assert log.log_end_offset == 15
    assert [tag_of(b) for _, b in _read_all(log)] == [0, 1, 2, 3, 4]
    assert len(segment_files(tmp_path)) < n_seg
    assert log.append(batch(1, tag=77), 0).base_offset == 15
    log.close()
    log = _open(tmp_path, segment_bytes=250)
    assert [tag_of(b) for _, b in _read_all(log)] == [0, 1, 2, 3, 4, 77]
    assert log.truncate_to(0) == 0 and log.size_bytes == 0
    assert log.append(batch(1), 0).base_offset == 0
    with pytest.raises(OffsetOutOfRange):
        log.truncate_to(-1)


def test_iter_batch_headers(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=200, index_interval_bytes=0)
    for i in range(8):
        log.append(R.build_batch([R.Record(None, b"v", 0)] * 2, producer_id=5,
                                 producer_epoch=0, base_sequence=2 * i), 0)
    hs = list(log.iter_batch_headers())
    assert [(h.base_offset, h.base_sequence) for h in hs] == [(2 * i, 2 * i) for i in range(8)]
    assert [h.base_offset for h in log.iter_batch_headers(7)] == [6, 8, 10, 12, 14]


def test_retention_by_time_boundary_and_log_start(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=100, retention_ms=1000)
    for i in range(6):  # one 3-record batch per segment; batch i has max ts 100 * i
        log.append(batch_ts([100 * i - 50, 100 * i, 100 * i - 10], tag=i), 0)
    assert len(segment_files(tmp_path)) == 6
    hw = log.log_end_offset
    assert log.apply_retention(1000, hw) == 0  # segment 0: now - max ts == retention
    assert log.apply_retention(1001, hw) == 1
    assert log.log_start_offset == 3
    assert F.read_log_start_offset(tmp_path) == (3, None)
    with pytest.raises(OffsetOutOfRange):
        log.read(2, 100)
    assert log.apply_retention(1300, hw) == 2  # max ts 100, 200 < 300; 300 stays
    assert log.apply_retention(10**9, 12) == 1  # high watermark: segment [12, 15) stays
    assert log.apply_retention(10**9, hw) == 1  # never the active one
    assert len(segment_files(tmp_path)) == 1 and log.log_start_offset == 15
    assert log.apply_retention(10**9, hw) == 0
    log.close()
    log = _open(tmp_path, segment_bytes=200)
    assert log.log_start_offset == 15 and log.log_end_offset == 18
    assert [tag_of(b) for _, b in _read_all(log)] == [5]


def test_retention_by_size_boundary(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=100)
    one = len(batch(1, size=20))
    for _ in range(5):
        log.append(batch(1, size=20), 0)
    assert log.size_bytes == 5 * one
    log.reconfigure(LogConfig(segment_bytes=100, retention_bytes=3 * one))
    assert log.apply_retention(0, 5) == 2  # total - size >= retention_bytes, twice
    assert log.size_bytes == 3 * one
    log.reconfigure(LogConfig(segment_bytes=100, retention_bytes=2 * one + 1))
    assert log.apply_retention(0, 5) == 0
    log.reconfigure(LogConfig(segment_bytes=100, retention_bytes=0))
    assert log.apply_retention(0, 5) == 2 and log.size_bytes == one
    assert log.log_start_offset == 4


def test_log_start_offset_never_moves_back(tmp_path: Path) -> None:
    log = _open(tmp_path, segment_bytes=100, retention_ms=0)
    for _ in range(4):
        log.append(batch(1, size=40, ts=0), 0)
    log.apply_retention(10, 4)
    assert log.log_start_offset == 3
    log.truncate_to(3)  # empties the active segment; start stays
    assert (log.log_start_offset, log.log_end_offset) == (3, 3)
    log.close()
    log = _open(tmp_path, segment_bytes=100)
    assert (log.log_start_offset, log.log_end_offset) == (3, 3)
    assert log.append(batch(1), 0).base_offset == 3


def test_flush_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    real = os.fdatasync

    def counting_fdatasync(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    log = _open(tmp_path / "a", flush="always")
    log.append(batch(1), 0)
    assert len(syncs) == 1  # before append returned
    log.close()
    syncs.clear()
    log = _open(tmp_path / "b", flush="interval", flush_interval_ms=100, now=0)
    assert not log.maybe_flush(500)  # nothing to sync
    log.append(batch(1), 510)
    assert syncs == []
    assert log.maybe_flush(550)
    assert len(syncs) == 1
    log.append(batch(1), 560)
    assert not log.maybe_flush(600) and len(syncs) == 1
    assert log.maybe_flush(650) and len(syncs) == 2
    log.close()
    syncs.clear()
    log = _open(tmp_path / "c", flush="never")
    log.append(batch(1), 0)
    assert not log.maybe_flush(10**9) and syncs == []
    log.close()  # a clean close flushes
    assert len(syncs) == 1


def test_closed_log_and_bad_config(tmp_path: Path) -> None:
    log = _open(tmp_path)
    log.close()
    log.close()
    with pytest.raises(LogClosed):
        log.append(batch(1), 0)
    with pytest.raises(LogClosed):
        log.read(0, 1)
    for bad in ({"segment_bytes": 1}, {"flush": "sometimes"}, {"retention_ms": -2},
                {"index_interval_bytes": -1}, {"roll_ms": True}):
        with pytest.raises(LogConfigError, match=next(iter(bad))):
            LogConfig(**bad)


def test_reads_take_one_pread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No header-by-header reads: the sparse index bounds where the batch starts."""
    log = _open(tmp_path, segment_bytes=1 << 20, index_interval_bytes=4096)
    for i in range(400):
        log.append(batch(1 + i % 5, size=(i * 53) % 900, tag=i), 0)
    calls: list[int] = []
    real = os.pread

    def counting_pread(fd: int, n: int, pos: int) -> bytes:
        calls.append(n)
        return real(fd, n, pos)

    monkeypatch.setattr(os, "pread", counting_pread)
    for off in range(0, log.log_end_offset, 13):
        for max_bytes in (0, 5000, 65536):
            calls.clear()
            data = log.read(off, max_bytes)
            assert headers(data)[0].base_offset <= off
            # one pread whenever the first batch fits in max_bytes, else one more
            assert len(calls) == (1 if max_bytes else len(calls)) <= 2, (off, calls)


def test_descriptors_stay_bounded_with_many_segments(tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    log = _open(tmp_path, segment_bytes=100)
    for i in range(300):
        log.append(batch(1, size=40, tag=i), 0)
    assert len(segment_files(tmp_path)) == 300
    assert [tag_of(b) for _, b in _read_all(log)] == list(range(300))
    assert log.offset_for_timestamp(1000) == (0, 1000)
    assert len(list(log.iter_batch_headers())) == 300
    log.flush()
    assert open_fds() - before <= 10
    log.close()
    log = _open(tmp_path, segment_bytes=100)
    assert open_fds() - before <= 2
    assert [tag_of(b) for _, b in _read_all(log)] == list(range(300))
    log.close()
    assert open_fds() == before


def test_append_racing_a_flush_is_synced_by_the_next_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _open(tmp_path, flush="never")
    log.append(batch(1), 0)
    real = os.fdatasync
    synced: list[int] = []

    def racing_fdatasync(fd: int) -> None:
        if not synced:
            log.append(batch(1), 0)  # lands while the first sync runs
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", racing_fdatasync)
    log.flush()
    assert len(synced) == 1
    log.flush()  # the racing append was not covered: it must be synced now
    assert len(synced) == 2
    log.flush()
    assert len(synced) == 2
    log.close()


def test_flush_in_a_worker_thread_while_appending_and_reading(tmp_path: Path) -> None:
    import threading

    log = _open(tmp_path, segment_bytes=400, retention_bytes=4000, flush="never")
    stop = threading.Event()
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                log.flush()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=flusher)
    t.start()
    try:
        for i in range(600):
            log.append(batch(1, size=50, tag=i), 0)
            if i % 7 == 0:
                log.read(max(log.log_start_offset, i - 50), 1000)
            if i % 50 == 0:
                log.apply_retention(0, log.log_end_offset)
    finally:
        stop.set()
        t.join(30)
    assert not errors
    log.flush()
    tags = [tag_of(b) for _, b in _read_all(log)]
    assert tags == list(range(600 - len(tags), 600))
    log.close()
