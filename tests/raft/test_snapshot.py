"""Compaction (retention): snapshot points, InstallSnapshot, restart after compaction."""

from __future__ import annotations

import pytest

from reference_broker.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    HardState,
    InstallSnapshot,
    MalformedMessage,
    MemoryLog,
    RaftConfig,
    RaftNode,
    Snapshot,
)

from ._cluster import Cluster, fixed


def commit_values(c: Cluster, lead: int, n: int) -> None:
    for k in range(n):
        assert isinstance(c.nodes[lead].propose(b"v%d" % k), int)
        c.ready(lead)
        c.deliver()


def cut_off_follower(values: int) -> tuple[Cluster, int, int]:
    """A cluster whose leader committed ``values`` entries while one follower was cut
    off (still is); returns (cluster, leader, that follower)."""
    c = Cluster(3)
    lead = c.elect()
    follower = next(i for i in c.ids if i != lead)
    c.isolate(follower)
    commit_values(c, lead, values)
    return c, lead, follower


def compact_to_commit(c: Cluster, i: int, data: bytes = b"point") -> int:
    node = c.nodes[i]
    index = node.commit_index
    node.compact(index, data)
    ready = c.ready(i)
    assert ready.snapshot is not None and not ready.reset and ready.sync
    assert ready.snapshot.index == index
    return index


# -- storage -----------------------------------------------------------------------------

def test_memory_log_compact_keeps_the_suffix_and_reset_drops_everything() -> None:
    log = MemoryLog([Entry(index=i, term=1 + i // 3, data=b"x") for i in range(1, 7)])
    log.compact(Snapshot(index=3, term=2, data=b"d"))
    assert log.snapshot() == Snapshot(index=3, term=2, data=b"d")
    assert (log.term_at(2), log.term_at(3), log.term_at(4), log.last_index()) == (None, 2, 2, 6)
    assert [e.index for e in log.entries(4, 7)] == [4, 5, 6]
    log.truncate(5)
    assert log.last_index() == 4
    with pytest.raises(ValueError, match="holds term"):
        log.compact(Snapshot(index=4, term=9))
    log.reset(Snapshot(index=10, term=4))
    assert (log.last_index(), log.term_at(10), log.term_at(4)) == (10, 4, None)
    log.append([Entry(index=11, term=4, data=b"y")])
    assert log.last_index() == 11


def test_snapshot_and_install_snapshot_validate_themselves() -> None:
    with pytest.raises(ValueError, match="both 0 or both >= 1"):
        Snapshot(index=3, term=0)
    with pytest.raises(MalformedMessage, match="node 2"):
        InstallSnapshot(term=3, src=2, dst=1, index=5, snapshot_term=4, data=b"",
                        leader_commit=5)  # a snapshot term above the leader's
    with pytest.raises(MalformedMessage, match="leader_commit"):
        InstallSnapshot(term=3, src=2, dst=1, index=5, snapshot_term=3, data=b"",
                        leader_commit=4)


# -- the core ------------------------------------------------------------------------------

def test_compaction_only_below_what_was_handed_out_as_committed() -> None:
    c = Cluster(3)
    lead = c.elect()
    commit_values(c, lead, 3)
    node = c.nodes[lead]
    with pytest.raises(ValueError, match="cannot compact up to"):
        node.compact(node.commit_index + 1)
    index = compact_to_commit(c, lead)
    assert node.status().snapshot_index == index
    node.compact(index - 1)  # at or below the point: nothing to do
    assert c.ready(lead).snapshot is None


def test_lagging_follower_gets_the_snapshot_and_resets_its_log() -> None:
    c, lead, lag = cut_off_follower(5)
    for i in c.ids:
        if i != lag:
            compact_to_commit(c, i, b"offset-42")
    point = c.nodes[lead].log.snapshot
    c.heal()
    c.readies[lag].clear()
    c.advance(200)
    installs = [r for r in c.readies[lag] if r.snapshot is not None]
    assert len(installs) == 1 and installs[0].reset
    assert installs[0].snapshot == point  # the leader's data travels with it
    follower = c.storage[lag]
    assert follower.snapshot() == point
    assert follower.last_index() == c.storage[lead].last_index()
    assert c.log_terms(lag) == c.log_terms(lead)
    assert c.nodes[lag].commit_index == c.nodes[lead].commit_index
    # After the snapshot the follower applies only what came after it, in order.
    applied = [e.index for r in c.readies[lag] for e in r.committed]
    assert applied == list(range(point.index + 1, point.index + 1 + len(applied)))
    commit_values(c, lead, 2)  # and it keeps replicating normally
    assert c.storage[lag].last_index() == c.storage[lead].last_index()


def test_follower_that_holds_the_point_keeps_its_log() -> None:
    log = MemoryLog([Entry(index=i, term=2, data=b"x") for i in range(1, 5)], HardState(term=2))
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), log, fixed(150), 0)
    ready = n.step(InstallSnapshot(term=2, src=2, dst=1, index=3, snapshot_term=2, data=b"",
                                   leader_commit=4), 0)
    assert ready.snapshot is None and ready.truncate_from is None
    (resp,) = ready.messages
    assert isinstance(resp, AppendEntriesResponse) and resp.success
    assert (resp.match_index, resp.last_index) == (3, 4)
    assert n.commit_index == 3 and [e.index for e in ready.committed] == [1, 2, 3]


def test_divergent_follower_is_reset_by_the_snapshot() -> None:
    # index 3 holds an uncommitted entry of a deposed leader (term 1): it must go.
    log = MemoryLog([Entry(index=i, term=1, data=b"old") for i in range(1, 5)],
                    HardState(term=2))
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), log, fixed(150), 0)
    ready = n.step(InstallSnapshot(term=2, src=2, dst=1, index=3, snapshot_term=2,
                                   data=b"start", leader_commit=3), 0)
    assert ready.reset and ready.snapshot == Snapshot(index=3, term=2, data=b"start")
    assert ready.committed == ()  # the state machine jumps to the snapshot instead
    (resp,) = ready.messages
    assert isinstance(resp, AppendEntriesResponse) and resp.match_index == 3
    assert (n.commit_index, n.log.last_index, n.log.last_term) == (3, 3, 2)


def test_follower_compaction_accepts_appends_from_below_its_point() -> None:
    log = MemoryLog([Entry(index=i, term=2, data=b"x") for i in range(1, 5)], HardState(term=2))
    log.compact(Snapshot(index=3, term=2))
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), log, fixed(150), 0)
    assert n.commit_index == 3  # a snapshot holds committed entries only
    entries = tuple(Entry(index=i, term=2, data=b"x") for i in range(2, 7))
    ready = n.step(AppendEntries(term=2, src=2, dst=1, prev_index=1, prev_term=2,
                                 entries=entries, leader_commit=6), 0)
    (resp,) = ready.messages
    assert isinstance(resp, AppendEntriesResponse) and resp.success and resp.match_index == 6
    assert [e.index for e in ready.entries] == [5, 6]
    assert [e.index for e in ready.committed] == [4, 5, 6]
    # A heartbeat whose prev is compacted here is answered with the point.
    (resp,) = n.step(AppendEntries(term=2, src=2, dst=1, prev_index=1, prev_term=2,
                                   entries=(), leader_commit=6), 0).messages
    assert isinstance(resp, AppendEntriesResponse) and resp.success and resp.match_index == 3


def test_restart_after_compaction_starts_from_the_point() -> None:
    c = Cluster(3)
    lead = c.elect()
    commit_values(c, lead, 4)
    c.advance(c.nodes[lead].config.heartbeat_interval_ms)  # followers hear the last commit
    for i in c.ids:
        compact_to_commit(c, i)
    point = c.storage[lead].snapshot()
    for i in c.ids:
        node = c.restart(i)
        assert node.commit_index == point.index and node.log.snapshot == point
    lead = c.elect()
    commit_values(c, lead, 2)
    assert len({c.storage[i].last_index() for i in c.ids}) == 1
    assert all(c.log_terms(i) == c.log_terms(lead) for i in c.ids)


def test_a_silent_follower_gets_heartbeats_not_the_same_entries_again() -> None:
    c, lead, silent = cut_off_follower(3)
    c.advance(300)  # the pipelined sends stall: back to probing
    before = len(c.readies[lead])
    c.advance(500)
    sent = [m for r in c.readies[lead][before:] for m in r.messages
            if isinstance(m, AppendEntries) and m.dst == silent]
    assert len(sent) >= 5 and all(not m.entries for m in sent)
    c.heal()
    c.advance(200)  # a heartbeat's answer re-opens probing: it catches up
    assert c.storage[silent].last_index() == c.storage[lead].last_index()
