"""Leader election: pre-vote, votes, the leader lease, terms and what is persisted."""

from __future__ import annotations

from reference_broker.raft import (
    MemoryLog,
    PreVote,
    PreVoteResponse,
    RaftConfig,
    RaftNode,
    RequestVote,
    RequestVoteResponse,
    Role,
)

from ._cluster import Cluster, fixed


def node(i: int = 1, n: int = 3, storage: MemoryLog | None = None, **cfg: object) -> RaftNode:
    config = RaftConfig(node_id=i, voters=tuple(range(1, n + 1)), **cfg)  # type: ignore[arg-type]
    return RaftNode(config, storage or MemoryLog(), fixed(150), 0)


def test_single_node_elects_itself_and_commits() -> None:
    n = node(1, 1)
    ready = n.tick(150)
    assert n.role is Role.LEADER and n.term == 1
    assert ready.sync and ready.hard_state is not None and ready.hard_state.voted_for == 1
    assert [e.data for e in ready.committed] == [b""]  # the no-op
    assert n.propose(b"a") == 2
    assert [e.data for e in n.ready().committed] == [b"a"]


def test_pre_vote_comes_first_and_changes_no_term() -> None:
    n = node()
    assert n.tick(149).messages == ()
    ready = n.tick(150)
    assert n.role is Role.PRE_CANDIDATE and n.term == 0
    assert {type(m) for m in ready.messages} == {PreVote}
    assert {m.term for m in ready.messages} == {1}
    assert ready.hard_state is None and not ready.sync
    ready = n.step(PreVoteResponse(term=1, src=2, dst=1, granted=True), 160)
    assert n.role is Role.CANDIDATE and n.term == 1 and n.voted_for == 1
    assert {type(m) for m in ready.messages} == {RequestVote}
    assert ready.sync and ready.hard_state is not None and ready.hard_state.term == 1
    n.step(RequestVoteResponse(term=1, src=3, dst=1, granted=True), 170)
    assert n.role is Role.LEADER


def test_without_pre_vote_a_timeout_starts_an_election() -> None:
    n = node(pre_vote=False)
    ready = n.tick(150)
    assert n.role is Role.CANDIDATE and n.term == 1
    assert {type(m) for m in ready.messages} == {RequestVote}


def test_a_majority_of_refused_pre_votes_sends_the_node_back_to_following() -> None:
    n = node()
    n.tick(150)
    n.step(PreVoteResponse(term=0, src=2, dst=1, granted=False), 155)
    assert n.role is Role.PRE_CANDIDATE
    n.step(PreVoteResponse(term=0, src=3, dst=1, granted=False), 156)
    assert n.role is Role.FOLLOWER and n.term == 0


def test_one_vote_per_term_and_it_is_persisted_before_the_answer() -> None:
    n = node()
    ready = n.step(RequestVote(term=3, src=2, dst=1, last_log_index=0, last_log_term=0), 10)
    (answer,) = ready.messages
    assert isinstance(answer, RequestVoteResponse) and answer.granted
    assert ready.sync and ready.hard_state is not None
    assert (ready.hard_state.term, ready.hard_state.voted_for) == (3, 2)
    ready = n.step(RequestVote(term=3, src=3, dst=1, last_log_index=9, last_log_term=3), 11)
    assert not ready.messages[0].granted  # type: ignore[union-attr]
    ready = n.step(RequestVote(term=3, src=2, dst=1, last_log_index=0, last_log_term=0), 12)
    assert ready.messages[0].granted  # type: ignore[union-attr]  # a retried request


def test_vote_only_for_an_up_to_date_log() -> None:
    leader_log = Cluster(3)
    lead = leader_log.elect()
    leader_log.nodes[lead].propose(b"x")
    leader_log.ready(lead)
    leader_log.deliver()
    voter = leader_log.nodes[lead]
    last = voter.log.last_index
    for li, lt, granted in [(last - 1, voter.term, False), (last + 5, voter.term - 1, False),
                            (last, voter.term, True)]:
        c = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3)),
                     leader_log.storage[lead], fixed(150), 0)
        ready = c.step(RequestVote(term=voter.term + 1, src=2, dst=1, last_log_index=li,
                                   last_log_term=lt), 0)
        assert ready.messages[0].granted is granted, (li, lt)  # type: ignore[union-attr]


def test_lease_ignores_elections_but_not_transfers() -> None:
    c = Cluster(3)
    lead = c.elect()
    follower = next(i for i in c.ids if i != lead)
    term = c.nodes[follower].term
    other = next(i for i in c.ids if i not in (lead, follower))
    rv = RequestVote(term=term + 1, src=other, dst=follower, last_log_index=99,
                     last_log_term=term)
    assert c.nodes[follower].step(rv, c.now_ms).messages == ()
    assert c.nodes[follower].term == term  # ignored, not even the term moved
    pv = PreVote(term=term + 1, src=other, dst=follower, last_log_index=99, last_log_term=term)
    (answer,) = c.nodes[follower].step(pv, c.now_ms).messages
    assert isinstance(answer, PreVoteResponse) and not answer.granted
    forced = RequestVote(term=term + 1, src=other, dst=follower, last_log_index=99,
                         last_log_term=term, transfer=True)
    (answer,) = c.nodes[follower].step(forced, c.now_ms).messages
    assert isinstance(answer, RequestVoteResponse) and answer.granted
    assert c.nodes[follower].term == term + 1


def test_isolated_node_does_not_inflate_terms_or_depose_the_leader() -> None:
    """Pre-vote: a node cut off for many election timeouts comes back at the same term."""
    c = Cluster(3)
    lead = c.elect()
    term = c.nodes[lead].term
    lonely = next(i for i in c.ids if i != lead)
    c.isolate(lonely)
    c.advance(3000)
    assert c.nodes[lonely].term == term
    assert c.nodes[lonely].role is Role.PRE_CANDIDATE
    c.heal()
    c.advance(500)
    assert c.leader() == lead and c.nodes[lead].term == term
    assert c.nodes[lonely].role is Role.FOLLOWER


def test_restart_keeps_term_and_vote() -> None:
    storage = MemoryLog()
    n = node(1, storage=storage)
    ready = n.step(RequestVote(term=4, src=2, dst=1, last_log_index=0, last_log_term=0), 0)
    from reference_broker.raft import persist
    persist(storage, ready.truncate_from, ready.entries, ready.hard_state, ready.sync)
    again = node(1, storage=storage)
    assert (again.term, again.voted_for) == (4, 2)
    ready = again.step(RequestVote(term=4, src=3, dst=1, last_log_index=0, last_log_term=0), 0)
    assert not ready.messages[0].granted  # type: ignore[union-attr]


def test_candidate_steps_down_on_a_higher_term() -> None:
    n = node(pre_vote=False)
    n.tick(150)
    from reference_broker.raft import AppendEntries
    n.step(AppendEntries(term=5, src=3, dst=1, prev_index=0, prev_term=0, entries=(),
                         leader_commit=0), 160)
    assert n.role is Role.FOLLOWER and n.term == 5 and n.leader_id == 3 and n.voted_for is None


def test_a_rival_leader_of_the_same_term_is_an_invariant_error() -> None:
    import pytest

    from reference_broker.raft import AppendEntries, RaftInvariantError
    c = Cluster(3)
    lead = c.elect()
    other = next(i for i in c.ids if i != lead)
    rival = AppendEntries(term=c.nodes[lead].term, src=other, dst=lead, prev_index=0,
                          prev_term=0, entries=(), leader_commit=0)
    with pytest.raises(RaftInvariantError, match="same term"):
        c.nodes[lead].step(rival, c.now_ms)


def test_planted_unclean_election_votes_for_a_stale_log() -> None:
    from reference_broker.raft import Entry, HardState
    log = MemoryLog([Entry(index=1, term=2, data=b"x")], HardState(term=2))
    for bugs, granted in ((frozenset(), False), (frozenset({"unclean-election"}), True)):
        n = RaftNode(RaftConfig(node_id=1, voters=(1, 2, 3), bugs=bugs), log, fixed(150), 0)
        ready = n.step(RequestVote(term=3, src=2, dst=1, last_log_index=0, last_log_term=0), 0)
        assert ready.messages[0].granted is granted  # type: ignore[union-attr]


def test_planted_unsynced_hard_state_answers_before_the_vote_is_durable() -> None:
    for bugs, sync in ((frozenset(), True), (frozenset({"unsynced-hard-state"}), False)):
        n = node(bugs=bugs)
        ready = n.step(RequestVote(term=3, src=2, dst=1, last_log_index=0, last_log_term=0), 0)
        assert ready.hard_state is not None and ready.sync is sync
