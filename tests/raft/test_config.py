"""Messages and configuration validate themselves and say how to fix bad values."""

from __future__ import annotations

import pytest

from reference_broker.raft import PLANTED_BUGS, Entry, MemoryLog, RaftConfig, RaftNode


@pytest.mark.parametrize(("index", "term"), [(0, 1), (1, 0), (-1, 3)])
def test_entry_rejects_index_or_term_below_one(index: int, term: int) -> None:
    with pytest.raises(ValueError, match="index >= 1 and term >= 1"):
        Entry(index=index, term=term, data=b"x")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"node_id": 4, "voters": (1, 2, 3)}, "including node_id"),
    ({"node_id": 1, "voters": (1, 1, 2)}, "distinct"),
    ({"node_id": 1, "voters": (1,), "heartbeat_interval_ms": 200}, "heartbeat_interval_ms"),
    ({"node_id": 1, "voters": (1,), "election_timeout_ms_min": 400,
      "election_timeout_ms_max": 300}, "election_timeout_ms_max"),
    ({"node_id": 1, "voters": (1,), "max_inflight": 0}, "max_inflight"),
    ({"node_id": 1, "voters": (1,), "bugs": frozenset({"nope"})}, "unknown raft bug"),
])
def test_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RaftConfig(**kwargs)


def test_every_planted_bug_is_accepted_and_described() -> None:
    assert PLANTED_BUGS
    for name, why in PLANTED_BUGS.items():
        assert RaftConfig(node_id=1, voters=(1,), bugs=frozenset({name})).bugs == {name}
        assert len(why) > 20


def test_quorum_sizes() -> None:
    assert [RaftConfig(node_id=1, voters=tuple(range(1, n + 1))).quorum
            for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_message_for_another_node_is_refused() -> None:
    from reference_broker.raft import TimeoutNow
    node = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), MemoryLog(), lambda a, b: a, 0)
    with pytest.raises(ValueError, match="for node 2 stepped into node 1"):
        node.step(TimeoutNow(term=1, src=3, dst=2), 0)


def test_messages_from_non_voters_are_ignored() -> None:
    from reference_broker.raft import RequestVote
    node = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), MemoryLog(), lambda a, b: a, 0)
    ready = node.step(RequestVote(term=5, src=9, dst=1, last_log_index=0, last_log_term=0), 0)
    assert ready.messages == () and node.term == 0


@pytest.mark.parametrize(("prev", "entries", "term"), [
    (0, [(2, 1)], 1),  # a gap after prev_index
    (1, [(2, 3), (3, 2)], 3),  # terms going back
    (1, [(2, 4)], 3),  # an entry newer than the leader's term
])
def test_malformed_append_entries_are_refused(prev: int, entries: list[tuple[int, int]],
                                              term: int) -> None:
    from reference_broker.raft import AppendEntries
    with pytest.raises(ValueError, match="malformed AppendEntries from node 2"):
        AppendEntries(term=term, src=2, dst=1, prev_index=prev, prev_term=1,
                      entries=tuple(Entry(index=i, term=t, data=b"") for i, t in entries),
                      leader_commit=0)
