"""Log replication: batching, pipelining, rejections, truncation, commit rules."""

from __future__ import annotations

import pytest

from reference_broker.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    HardState,
    MemoryLog,
    NotLeader,
    RaftConfig,
    RaftInvariantError,
    RaftNode,
    Role,
)

from ._cluster import Cluster, fixed


def follower(log_terms: list[int], commit: int = 0) -> RaftNode:
    log = MemoryLog([Entry(index=i + 1, term=t, data=b"old") for i, t in enumerate(log_terms)],
                    HardState(term=5))
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)), log, fixed(150), 0)
    if commit:
        n.commit_index = commit
    return n


def ae(prev_index: int, prev_term: int, terms: list[int], term: int = 5, commit: int = 0
       ) -> AppendEntries:
    return AppendEntries(term=term, src=2, dst=1, prev_index=prev_index, prev_term=prev_term,
                         entries=tuple(Entry(index=prev_index + 1 + k, term=t, data=b"new")
                                       for k, t in enumerate(terms)),
                         leader_commit=commit)


def test_follower_appends_and_answers_with_its_match() -> None:
    n = follower([1, 1])
    ready = n.step(ae(2, 1, [5, 5], commit=3), 0)
    assert ready.truncate_from is None and [e.index for e in ready.entries] == [3, 4]
    assert ready.sync
    (resp,) = ready.messages
    assert isinstance(resp, AppendEntriesResponse) and resp.success and resp.match_index == 4
    assert n.commit_index == 3 and [e.index for e in ready.committed] == [1, 2, 3]


def test_follower_commit_is_capped_by_what_the_message_proved() -> None:
    n = follower([1, 1, 1, 1])
    n.step(ae(1, 1, [], commit=4), 0)  # entries 2..4 here may differ from the leader's
    assert n.commit_index == 1


def test_follower_rejects_a_gap_with_its_last_index_as_hint() -> None:
    n = follower([1])
    (resp,) = n.step(ae(5, 5, [5]), 0).messages
    assert isinstance(resp, AppendEntriesResponse)
    assert (resp.success, resp.hint_index, resp.last_index) == (False, 1, 1)


def test_follower_rejects_a_term_mismatch_skipping_the_conflicting_term() -> None:
    n = follower([1, 2, 2, 2])
    (resp,) = n.step(ae(4, 3, [5]), 0).messages
    assert isinstance(resp, AppendEntriesResponse)
    assert (resp.success, resp.hint_index) == (False, 1)


def test_conflicting_suffix_is_truncated_before_appending() -> None:
    n = follower([1, 2, 2, 2])
    ready = n.step(ae(1, 1, [3, 3]), 0)
    assert ready.truncate_from == 2
    assert [(e.index, e.term) for e in ready.entries] == [(2, 3), (3, 3)]
    assert n.log.last_index == 3


def test_matching_entries_are_not_rewritten_and_a_stale_message_truncates_nothing() -> None:
    n = follower([1, 3, 3, 3])
    ready = n.step(ae(1, 1, [3]), 0)  # an old, shorter copy of the same leader's append
    assert ready.truncate_from is None and ready.entries == () and not ready.sync
    assert n.log.last_index == 4


def test_overwriting_a_committed_entry_is_refused() -> None:
    n = follower([1, 2, 2], commit=2)
    with pytest.raises(RaftInvariantError, match="committed"):
        n.step(ae(1, 1, [3, 3]), 0)


def test_planted_bug_keeps_the_stale_suffix() -> None:
    log = MemoryLog([Entry(index=i + 1, term=t, data=b"old") for i, t in enumerate([1, 2, 2, 2])])
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3),
                            bugs=frozenset({"no-truncate-on-election"})), log, fixed(150), 0)
    ready = n.step(ae(1, 1, [3]), 0)
    assert ready.truncate_from == 2
    assert [(e.index, e.term) for e in ready.entries] == [(2, 3), (3, 2), (4, 2)]


def test_proposals_batch_and_pipeline_up_to_the_limits() -> None:
    c = Cluster(3, max_batch_entries=4, max_inflight=3)
    lead = c.elect()
    node = c.nodes[lead]
    first = node.log.last_index + 1
    for k in range(40):
        assert node.propose(b"%d" % k) == first + k
    ready = c.ready(lead)
    per_peer: dict[int, list[AppendEntries]] = {}
    for m in ready.messages:
        assert isinstance(m, AppendEntries)
        per_peer.setdefault(m.dst, []).append(m)
    assert set(per_peer) == set(c.ids) - {lead}
    for msgs in per_peer.values():
        assert len(msgs) == 3  # the pipeline window
        assert all(len(m.entries) == 4 for m in msgs)  # the batch size
        assert [m.prev_index for m in msgs] == [first - 1, first + 3, first + 7]
    c.deliver()
    assert len(c.applied[lead]) == node.log.last_index
    # Followers learn the last commit index from the next AppendEntries: a heartbeat.
    assert all(len(c.applied[i]) < node.log.last_index for i in c.ids if i != lead)
    c.advance(node.config.heartbeat_interval_ms)
    assert all(len(c.applied[i]) == node.log.last_index for i in c.ids)


def test_batches_also_respect_max_batch_bytes() -> None:
    c = Cluster(3, max_batch_bytes=10)
    lead = c.elect()
    for _ in range(5):
        c.nodes[lead].propose(b"123456")
    ready = c.ready(lead)
    assert all(len(m.entries) == 1 for m in ready.messages if isinstance(m, AppendEntries))


def test_only_entries_of_the_current_term_commit_by_counting() -> None:
    """Raft paper, figure 8: a new leader does not commit an old-term entry by counting
    replicas; it commits it through its own no-op."""
    log = MemoryLog([Entry(index=1, term=1, data=b"a"), Entry(index=2, term=2, data=b"b")],
                    HardState(term=2))
    n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3), pre_vote=False), log, fixed(150), 0)
    from reference_broker.raft import RequestVoteResponse, persist
    r = n.tick(150)
    persist(log, r.truncate_from, r.entries, r.hard_state, r.sync)
    r = n.step(RequestVoteResponse(term=3, src=2, dst=1, granted=True), 151)
    persist(log, r.truncate_from, r.entries, r.hard_state, r.sync)
    assert n.role is Role.LEADER and n.log.last_index == 3
    ok = AppendEntriesResponse(term=3, src=2, dst=1, success=True, prev_index=2,
                               match_index=2, hint_index=0, last_index=2)
    assert n.step(ok, 152).commit_index == 0  # index 2 is on a majority, but of term 2
    ok3 = AppendEntriesResponse(term=3, src=2, dst=1, success=True, prev_index=2,
                                match_index=3, hint_index=0, last_index=3)
    ready = n.step(ok3, 153)
    assert ready.commit_index == 3 and [e.index for e in ready.committed] == [1, 2, 3]


def test_divergent_uncommitted_suffix_is_replaced_after_a_new_election() -> None:
    c = Cluster(3)
    old = c.elect()
    c.isolate(old)
    for k in range(5):
        c.nodes[old].propose(b"lost%d" % k)
    c.ready(old)  # written on the old leader only
    c.advance(1000)
    new = c.leader()
    assert new is not None and new != old
    c.nodes[new].propose(b"kept")
    c.ready(new)
    c.heal()
    c.advance(500)
    assert c.leader() == new
    assert c.log_terms(old) == c.log_terms(new)
    data = [e.data for e in c.applied[old]]
    assert b"kept" in data and not any(d.startswith(b"lost") for d in data)


def test_lost_pipelined_messages_are_resent() -> None:
    c = Cluster(3, max_inflight=2, max_batch_entries=1)
    lead = c.elect()
    for k in range(6):
        c.nodes[lead].propose(b"%d" % k)
    c.ready(lead)
    c.queue.clear()  # every AppendEntries in flight is lost
    c.advance(300)
    last = c.nodes[lead].log.last_index
    assert all(c.nodes[i].commit_index == last for i in c.ids)


def test_follower_redirects_proposals_to_the_leader() -> None:
    c = Cluster(3)
    lead = c.elect()
    other = next(i for i in c.ids if i != lead)
    assert c.nodes[other].propose(b"x") == NotLeader(lead)


def test_follower_catches_up_after_restart() -> None:
    c = Cluster(3)
    lead = c.elect()
    lagging = next(i for i in c.ids if i != lead)
    c.isolate(lagging)
    for k in range(100):
        c.nodes[lead].propose(b"%d" % k)
        c.ready(lead)
        c.deliver()
    c.restart(lagging)
    c.heal()
    c.advance(300)
    assert c.log_terms(lagging) == c.log_terms(lead)
    assert [e.data for e in c.applied[lagging]] == [e.data for e in c.applied[lead]][
        :len(c.applied[lagging])]
    assert len(c.applied[lagging]) == c.nodes[lead].log.last_index


def test_committed_entries_off_hands_out_the_commit_index_only() -> None:
    c = Cluster(3, committed_entries=False)
    lead = c.elect()
    node = c.nodes[lead]
    index = node.propose(b"x")
    assert isinstance(index, int)
    c.ready(lead)
    c.deliver()
    assert node.commit_index == index
    assert all(not r.committed for i in c.ids for r in c.readies[i])
    assert c.readies[lead][-1].commit_index == index
    node.compact(index)  # handed out, though not read back: compaction may go there
    assert c.ready(lead).snapshot is not None
