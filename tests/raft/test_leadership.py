"""Check-quorum and leadership transfer."""

from __future__ import annotations

import pytest

from reference_broker.raft import NotLeader, RequestVote, Role, TimeoutNow

from ._cluster import Cluster


def test_leader_cut_off_from_a_majority_steps_down() -> None:
    c = Cluster(3)
    lead = c.elect()
    term = c.nodes[lead].term
    c.isolate(lead)
    c.advance(2 * 150 + 20)  # two check-quorum periods (election_timeout_ms_min)
    assert c.nodes[lead].role is Role.FOLLOWER
    assert c.nodes[lead].term == term  # stepping down does not need a new term
    assert isinstance(c.nodes[lead].propose(b"x"), NotLeader)


def test_without_check_quorum_a_cut_off_leader_stays() -> None:
    c = Cluster(3, check_quorum=False)
    lead = c.elect()
    c.isolate(lead)
    c.advance(1000)
    assert c.nodes[lead].role is Role.LEADER


def test_leader_with_a_majority_stays() -> None:
    c = Cluster(5)
    lead = c.elect()
    for i in [i for i in c.ids if i != lead][:2]:
        c.isolate(i)
    c.advance(2000)
    assert c.leader() == lead


def test_transfer_hands_over_at_once() -> None:
    c = Cluster(3)
    lead = c.elect()
    target = next(i for i in c.ids if i != lead)
    c.nodes[lead].propose(b"before")
    c.ready(lead)
    assert c.nodes[lead].transfer_leadership(target, c.now_ms) is None
    assert c.nodes[lead].propose(b"during") == NotLeader(lead, "transferring leadership")
    ready = c.ready(lead)
    c.deliver()
    sent = [m for r in c.readies[lead] for m in r.messages]
    assert any(isinstance(m, TimeoutNow) and m.dst == target for m in sent)
    assert c.leader() == target  # without any election timeout passing
    votes = [m for r in c.readies[target] for m in r.messages if isinstance(m, RequestVote)]
    assert votes and all(v.transfer for v in votes)
    assert ready is not None


def test_transfer_to_none_picks_the_most_up_to_date_peer() -> None:
    c = Cluster(3)
    lead = c.elect()
    behind, ahead = [i for i in c.ids if i != lead]
    c.isolate(behind)
    for k in range(3):
        c.nodes[lead].propose(b"%d" % k)
    c.ready(lead)
    c.deliver()
    c.heal()
    c.nodes[lead].transfer_leadership(None, c.now_ms)
    c.ready(lead)
    c.deliver()
    assert c.leader() == ahead


def test_transfer_that_cannot_finish_is_abandoned() -> None:
    c = Cluster(3)
    lead = c.elect()
    target = next(i for i in c.ids if i != lead)
    c.isolate(target)
    c.nodes[lead].propose(b"x")
    c.ready(lead)
    c.deliver()
    c.nodes[lead].transfer_leadership(target, c.now_ms)
    assert isinstance(c.nodes[lead].propose(b"y"), NotLeader)
    c.advance(320)  # election_timeout_ms_max and a bit
    assert c.leader() == lead
    assert isinstance(c.nodes[lead].propose(b"z"), int)


def test_transfer_is_refused_by_a_follower_and_checks_the_target() -> None:
    c = Cluster(3)
    lead = c.elect()
    other = next(i for i in c.ids if i != lead)
    assert c.nodes[other].transfer_leadership(lead, c.now_ms) == NotLeader(lead)
    with pytest.raises(ValueError, match="not a voter"):
        c.nodes[lead].transfer_leadership(9, c.now_ms)
    assert c.nodes[lead].transfer_leadership(lead, c.now_ms) is None


def test_status_reports_role_progress_and_caught_up_followers() -> None:
    c = Cluster(3)
    lead = c.elect()
    behind, ahead = [i for i in c.ids if i != lead]
    c.isolate(behind)
    c.nodes[lead].propose(b"x")
    c.ready(lead)
    c.deliver()
    st = c.nodes[lead].status()
    assert (st.role, st.leader_id, st.id) == (Role.LEADER, lead, lead)
    assert st.caught_up == (ahead,) and st.match[ahead] == st.last_index == st.commit_index
    assert st.match[behind] < st.last_index and st.transferring_to is None
    fs = c.nodes[ahead].status()
    assert fs.role is Role.FOLLOWER and fs.leader_id == lead and fs.match == {}
