"""Recovery on open: torn tails, flipped CRC bytes, damaged indexes, crash leftovers,
the log start checkpoint, and a writer SIGKILLed mid-append with fsync=always."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reference_broker.log import LogConfig, PartitionLog
from reference_broker.log import files as F

from .helpers import batch, segment_files, split, tag_of

CFG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def _fill(d: Path, n: int, *, cfg: LogConfig = CFG) -> list[int]:
    """Append n two-record batches tagged 0..n-1; returns their base offsets."""
    log = PartitionLog.open(d, cfg, 0)
    bases = [log.append(batch(2, size=40, tag=i), 0).base_offset for i in range(n)]
    log.close()
    return bases


def _tags(log: PartitionLog) -> list[int]:
    out = []
    off = log.log_start_offset
    while off < log.log_end_offset:
        got = list(split(log.read(off, 1 << 20)))
        out += [tag_of(b) for _, b in got]
        off = got[-1][0].next_offset
    return out


def _last_segment(d: Path) -> Path:
    return d / segment_files(d)[-1]


def test_clean_reopen_trusts_indexes(tmp_path: Path) -> None:
    _fill(tmp_path, 30)
    log = PartitionLog.open(tmp_path, CFG, 0)
    r = log.recovery
    assert (r.truncated_bytes, r.rebuilt_indexes, r.deleted_segments, r.problems) == (
        0, 0, 0, [])
    assert r.segments == len(segment_files(tmp_path)) > 3
    assert _tags(log) == list(range(30))


@pytest.mark.parametrize("cut", [1, 20, 61, 100])
def test_torn_tail_is_truncated(tmp_path: Path, cut: int) -> None:
    bases = _fill(tmp_path, 30)
    seg = _last_segment(tmp_path)
    size = seg.stat().st_size
    os.truncate(seg, size - cut)  # the last batch loses its last `cut` bytes
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.log_end_offset == bases[-1]
    assert log.recovery.truncated_bytes == len(batch(2, size=40)) - cut
    assert "torn tail" in log.recovery.problems[0]
    assert _tags(log) == list(range(29))
    assert log.append(batch(1, tag=99), 0).base_offset == bases[-1]
    log.close()
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert _tags(log) == [*range(29), 99] and log.recovery.problems == []


def test_flipped_crc_byte_truncates_from_that_batch(tmp_path: Path) -> None:
    bases = _fill(tmp_path, 30)
    seg = _last_segment(tmp_path)
    one = len(batch(2, size=40))
    seg_base = int(seg.name[:20])
    in_seg = [b for b in bases if b >= seg_base]
    assert len(in_seg) >= 3
    data = bytearray(seg.read_bytes())
    data[one + 17] ^= 0x01  # the stored CRC of the segment's second batch
    seg.write_bytes(data)
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.log_end_offset == in_seg[1]
    assert "crc" in log.recovery.problems[0]
    assert log.recovery.truncated_bytes == len(data) - one
    assert _tags(log) == list(range(bases.index(in_seg[1])))


def test_garbage_after_the_last_batch(tmp_path: Path) -> None:
    _fill(tmp_path, 5)
    seg = _last_segment(tmp_path)
    with seg.open("ab") as f:
        f.write(bytes(4096))  # e.g. a preallocated, never written tail
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert _tags(log) == list(range(5)) and log.recovery.truncated_bytes == 4096


def test_damaged_index_files_are_rebuilt(tmp_path: Path) -> None:
    _fill(tmp_path, 30)
    names = segment_files(tmp_path)
    first = tmp_path / names[0]
    first.with_suffix(".index").write_bytes(b"\x00" * 7)
    (tmp_path / names[1]).with_suffix(".timeindex").unlink()
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.recovery.rebuilt_indexes == 2 and log.recovery.problems == []
    assert _tags(log) == list(range(30))
    assert log.offset_for_timestamp(0) == (0, 1000)


def test_corrupt_closed_segment_keeps_valid_prefix_only(tmp_path: Path) -> None:
    bases = _fill(tmp_path, 30)
    names = segment_files(tmp_path)
    second = tmp_path / names[1]
    second.with_suffix(".index").unlink()  # force a rescan of that segment
    data = bytearray(second.read_bytes())
    data[-1] ^= 0xFF  # last batch of the second segment
    second.write_bytes(data)
    log = PartitionLog.open(tmp_path, CFG, 0)
    lost_from = bases.index(int(names[2][:20])) - 1
    assert _tags(log) == list(range(lost_from))
    assert log.recovery.deleted_segments == len(names) - 2
    assert segment_files(tmp_path) == names[:2]
    assert log.append(batch(1), 0).base_offset == bases[lost_from]


def test_crash_leftovers_are_cleaned(tmp_path: Path) -> None:
    _fill(tmp_path, 10)
    (tmp_path / "log-start-offset.tmp").write_bytes(b"junk")
    (tmp_path / (F.segment_name(9999, F.INDEX_SUFFIX))).write_bytes(b"")
    (tmp_path / (F.segment_name(9999, F.TIME_INDEX_SUFFIX + ".tmp"))).write_bytes(b"")
    (tmp_path / F.segment_name(9990)).write_bytes(b"")  # empty segment created by a roll
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert _tags(log) == list(range(10))
    assert not [n for n in os.listdir(tmp_path) if "9999" in n or n.endswith(".tmp")]


def test_checkpoint_ahead_of_segments_deletes_them(tmp_path: Path) -> None:
    bases = _fill(tmp_path, 30)
    names = segment_files(tmp_path)
    start = int(names[2][:20])
    F.write_log_start_offset(tmp_path, start)  # crash after checkpoint, before deletion
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.log_start_offset == start and segment_files(tmp_path) == names[2:]
    assert _tags(log) == list(range(bases.index(start), 30))


def test_checkpoint_past_the_end_starts_afresh_there(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    F.write_log_start_offset(tmp_path, 500)
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert (log.log_start_offset, log.log_end_offset) == (500, 500)
    assert segment_files(tmp_path) == [F.segment_name(500)]
    assert log.append(batch(1), 0).base_offset == 500


def test_malformed_checkpoint_is_reported(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    (tmp_path / F.CHECKPOINT_NAME).write_bytes(b"1\nabc\n")
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert "malformed" in log.recovery.problems[0] and log.log_start_offset == 0
    assert F.read_log_start_offset(tmp_path) == (0, None)


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from reference_broker import records as R
    from reference_broker.log import LogConfig, PartitionLog
    cfg = LogConfig(segment_bytes=1 << 20, flush="always", index_interval_bytes=4096)
    log = PartitionLog.open(Path(sys.argv[1]), cfg, 0)
    i = 0
    while True:
        b = R.build_batch([R.Record(None, i.to_bytes(4, "big") + bytes(50_000), i)] * 3)
        info = log.append(b, i)
        sys.stdout.write(f"{i} {info.base_offset}\\n")
        sys.stdout.flush()
        i += 1
""")


@pytest.mark.parametrize("acks_before_kill", [3, 40, 200])
def test_sigkill_mid_append_loses_no_acknowledged_append(tmp_path: Path,
                                                         acks_before_kill: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)],
                            stdout=subprocess.PIPE, env=env, text=True)
    acked: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(acked) < acks_before_kill and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            tag, off = map(int, line.split())
            acked[tag] = off
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # acknowledgements written before the kill but not yet read
        for line in proc.stdout.read().splitlines():
            tag, off = map(int, line.split())
            acked[tag] = off
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(acked) >= acks_before_kill, "writer did not start"
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=1 << 20), 0)
    try:
        assert log.log_end_offset >= 3 * len(acked)
        for tag, off in acked.items():
            got = list(split(log.read(off, 0)))
            assert got[0][0].base_offset == off and tag_of(got[0][1]) == tag
        assert [h.base_offset for h in log.iter_batch_headers()] == list(
            range(0, log.log_end_offset, 3))
    finally:
        log.close()


def test_rebuilt_indexes_are_written_back(tmp_path: Path) -> None:
    _fill(tmp_path, 30)
    first = tmp_path / segment_files(tmp_path)[0]
    first.with_suffix(".index").unlink()
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.recovery.rebuilt_indexes == 1 and first.with_suffix(".index").exists()
    log.close()
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert log.recovery.rebuilt_indexes == 0 and _tags(log) == list(range(30))


def test_garbage_after_a_closed_segment_keeps_later_segments(tmp_path: Path) -> None:
    _fill(tmp_path, 30)
    names = segment_files(tmp_path)
    with (tmp_path / names[1]).open("ab") as f:
        f.write(b"\xff" * 100)
    log = PartitionLog.open(tmp_path, CFG, 0)
    assert _tags(log) == list(range(30)) and segment_files(tmp_path) == names
    assert log.recovery.rebuilt_indexes == 1 and log.recovery.deleted_segments == 0
    assert log.recovery.truncated_bytes == 100 and len(log.recovery.problems) == 1
