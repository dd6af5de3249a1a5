"""Moving a log's start: `PartitionLog.advance_start` / `reset` / `retention_point`,
the early-retention rule, and `RaftPartitionLog` over them (snapshot points that
survive a restart, and a crash between storing the point and moving the log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reference_broker.cluster.storage import RaftPartitionLog, snapshot_data
from reference_broker.log import LogConfig, OffsetOutOfRange, PartitionLog
from reference_broker.log.retention import SegmentInfo, deletable_prefix
from reference_broker.raft import Entry, HardState, Snapshot

from .helpers import batch, segment_files

CFG = LogConfig(segment_bytes=200, retention_ms=1000, flush="never")


def filled(d: Path, n: int = 12, ts: int = 1000) -> PartitionLog:
    log = PartitionLog.open(d, CFG, 0)
    for i in range(n):
        log.append(batch(2, ts=ts + i, tag=i), ts)
    return log


# -- the pure rule ---------------------------------------------------------------------------

def test_early_retention_ages_a_segment_by_its_first_write() -> None:
    # first record at 100, newest at 1900: 1100 ms after the first, 100 after the newest
    segs = [SegmentInfo(0, 10, 100, 1900, 100), SegmentInfo(10, 20, 100, 1950, 1950)]
    for bug, k in ((False, 0), (True, 1)):
        assert deletable_prefix(segs, now_ms=2000, high_watermark=20, log_start_offset=0,
                                retention_ms=1000, retention_bytes=-1,
                                by_first_write=bug) == k


# -- PartitionLog ------------------------------------------------------------------------------

def test_advance_start_deletes_whole_segments_below_and_persists(tmp_path: Path) -> None:
    log = filled(tmp_path)
    bases = [s.base_offset for s in log.segment_infos()]
    assert len(bases) >= 3
    assert log.advance_start(bases[2]) == 2
    assert log.log_start_offset == bases[2]
    with pytest.raises(OffsetOutOfRange):
        log.read(bases[2] - 1, 1000)
    with pytest.raises(OffsetOutOfRange):
        log.advance_start(log.log_end_offset + 1)
    assert log.advance_start(bases[1]) == 0 and log.log_start_offset == bases[2]  # never back
    log.close()
    again = PartitionLog.open(tmp_path, CFG, 0)
    assert again.log_start_offset == bases[2] and again.log_end_offset == 24
    again.close()


def test_reset_restarts_empty_at_an_offset_and_survives_reopen(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.reset(100)
    assert (log.log_start_offset, log.log_end_offset) == (100, 100)
    assert segment_files(tmp_path) == [f"{100:020d}.log"]
    assert log.append(batch(3), 5000).base_offset == 100
    with pytest.raises(OffsetOutOfRange):
        log.reset(50)  # below the start
    log.close()
    again = PartitionLog.open(tmp_path, CFG, 0)
    assert (again.log_start_offset, again.log_end_offset) == (100, 103)
    again.close()


def test_retention_point_is_the_first_kept_segment(tmp_path: Path) -> None:
    log = filled(tmp_path)
    bases = [s.base_offset for s in log.segment_infos()]
    assert log.retention_point(1500, 24) is None  # young
    assert log.retention_point(10_000, bases[1]) == bases[1]  # only below the watermark
    assert log.retention_point(10_000, 24) == bases[-1]  # never the active segment
    assert log.segment_infos()[0].first_timestamp == 1000
    log.close()


# -- RaftPartitionLog ---------------------------------------------------------------------------

def raft_log(d: Path, n: int = 12) -> RaftPartitionLog:
    rl = RaftPartitionLog(PartitionLog.open(d, CFG, 0), lambda: 1000)
    rl.append([Entry(index=i + 1, term=1 + i // 6, data=batch(2, tag=i)) for i in range(n)])
    return rl


def test_raft_log_compacts_to_a_retention_point_and_reopens_there(tmp_path: Path) -> None:
    rl = raft_log(tmp_path)
    point = rl.retention_point(10_000, commit_index=12)
    assert point is not None
    index, data = point
    offset = rl.end_offset(index)
    assert data == snapshot_data(offset) and offset == rl.plog.retention_point(10_000, 24)
    rl.compact(Snapshot(index=index, term=rl.term_at(index) or 0, data=data))
    assert rl.plog.log_start_offset == offset
    assert rl.term_at(index - 1) is None and rl.last_index() == 12
    assert [e.index for e in rl.entries(index + 1, 13)] == list(range(index + 1, 13))
    assert rl.epoch_end(2) == (2, 24) and rl.epoch_end(0) == (-1, -1)
    rl.set_hard_state(HardState(term=2, voted_for=1))
    rl.plog.close()
    again = RaftPartitionLog(PartitionLog.open(tmp_path, CFG, 0), lambda: 1000)
    assert again.snapshot() == Snapshot(index=index, term=rl.term_at(index) or 0, data=data)
    assert again.hard_state() == HardState(term=2, voted_for=1)
    assert (again.last_index(), again.end_offset(12)) == (12, 24)
    again.plog.close()


def test_raft_log_reset_keeps_offsets_of_the_leader(tmp_path: Path) -> None:
    rl = raft_log(tmp_path, n=3)
    snap = Snapshot(index=9, term=2, data=snapshot_data(18))
    rl.reset(snap)
    assert (rl.last_index(), rl.term_at(9), rl.end_offset(9)) == (9, 2, 18)
    rl.append([Entry(index=10, term=2, data=batch(2))])
    assert rl.end_offset(10) == 20 and rl.plog.log_start_offset == 18
    rl.plog.close()
    again = RaftPartitionLog(PartitionLog.open(tmp_path, CFG, 0), lambda: 1000)
    assert again.snapshot() == snap and again.last_index() == 10
    again.plog.close()


def test_raft_log_finishes_a_compaction_or_reset_cut_short_by_a_crash(tmp_path: Path) -> None:
    # Compaction: the point was stored, the partition log still starts at 0.
    rl = raft_log(tmp_path / "c")
    index = 7
    state = {"term": 1, "voted_for": None, "snapshot": [index, 2, rl.end_offset(index)]}
    (tmp_path / "c" / "raft-state.json").write_text(json.dumps(state))
    rl.plog.close()
    again = RaftPartitionLog(PartitionLog.open(tmp_path / "c", CFG, 0), lambda: 1000)
    assert again.plog.log_start_offset == 14 and again.last_index() == 12
    assert again.term_at(8) == 2
    again.plog.close()
    # Reset: the point (offset 15, inside an old batch) was stored, the log is old.
    rl = raft_log(tmp_path / "r")
    state = {"term": 3, "voted_for": None, "snapshot": [20, 3, 15]}
    (tmp_path / "r" / "raft-state.json").write_text(json.dumps(state))
    rl.plog.close()
    again = RaftPartitionLog(PartitionLog.open(tmp_path / "r", CFG, 0), lambda: 1000)
    assert (again.plog.log_start_offset, again.plog.log_end_offset) == (15, 15)
    assert again.last_index() == 20 and again.term_at(20) == 3
    again.plog.close()


def test_raft_log_refuses_to_compact_where_it_cannot(tmp_path: Path) -> None:
    rl = raft_log(tmp_path)
    with pytest.raises(ValueError, match="cannot compact"):
        rl.compact(Snapshot(index=3, term=1, data=snapshot_data(5)))  # mid-entry offset
    with pytest.raises(ValueError, match="8-byte"):
        rl.compact(Snapshot(index=3, term=1, data=b"x"))
    rl.plog.close()
