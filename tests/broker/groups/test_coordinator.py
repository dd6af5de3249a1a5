"""Unit tests of the sans-I/O group coordinator, with time passed in."""

from __future__ import annotations

from reference_broker.groups import (
    ErrorCode,
    GroupConfig,
    GroupCoordinator,
    GroupRecord,
    GroupState,
    JoinGroup,
    JoinResult,
    OffsetFetch,
    OffsetRecord,
    Protocol,
    TopicPartition,
)

from ._sim import FAST, Sim

E = ErrorCode


def form_group(sim: Sim, n: int, group: str = "g") -> tuple[list[str], int]:
    """n members join and sync; returns (member ids, generation)."""
    ids = [sim.join_new(group) for _ in range(n)]
    handles = [sim.join(group, m) for m in ids]
    sim.settle()
    results = [sim.join_result(h) for h in handles]
    gen = results[0].generation_id
    leader = results[0].leader
    assert all(r.error == E.NONE and r.generation_id == gen for r in results)
    syncs = {}
    for m in ids:
        if m != leader:
            syncs[m] = sim.sync(group, m, gen)
    syncs[leader] = sim.sync(group, leader, gen, {m: m.encode() for m in ids})
    for m, h in syncs.items():
        assert sim.sync_result(h).assignment == m.encode()
    assert sim.coord.state_of(group) == GroupState.STABLE
    return ids, gen


def test_first_join_requires_member_id_then_generation_one() -> None:
    sim = Sim()
    h = sim.join()
    r = sim.join_result(h)
    assert r.error == E.MEMBER_ID_REQUIRED
    assert r.member_id.startswith("c-t-")
    assert r.generation_id == -1
    assert sim.coord.state_of("g") == GroupState.EMPTY
    h2 = sim.join(member_id=r.member_id)
    assert sim.result(h2) is None
    assert sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE
    sim.settle()
    r2 = sim.join_result(h2)
    assert r2.error == E.NONE
    assert r2.generation_id == 1
    assert r2.leader == r.member_id
    assert r2.protocol_name == "range"
    assert [m.member_id for m in r2.members] == [r.member_id]
    assert r2.members[0].metadata == b"subrange"
    assert sim.coord.state_of("g") == GroupState.COMPLETING_REBALANCE


def test_join_v3_and_below_gets_member_id_directly() -> None:
    sim = Sim()
    h = sim.join(require_known=False)
    sim.settle()
    r = sim.join_result(h)
    assert r.error == E.NONE and r.generation_id == 1 and r.member_id


def test_unknown_member_id_on_unknown_group() -> None:
    sim = Sim()
    assert sim.join_result(sim.join(member_id="ghost")).error == E.UNKNOWN_MEMBER_ID


def test_sync_gives_each_member_its_assignment_and_persists_group() -> None:
    sim = Sim()
    ids, gen = form_group(sim, 3)
    assert gen == 1
    stored = [r for r in sim.disk if isinstance(r, GroupRecord)]
    assert stored[-1].generation == 1
    assert {m.member_id: m.assignment for m in stored[-1].members} == {
        m: m.encode() for m in ids}


def test_leader_gets_all_members_followers_none() -> None:
    sim = Sim()
    a, b = sim.join_new(), sim.join_new()
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    sim.settle()
    ra, rb = sim.join_result(ha), sim.join_result(hb)
    assert ra.leader == rb.leader == a
    assert {m.member_id for m in ra.members} == {a, b}
    assert rb.members == ()


def test_join_waits_until_all_known_members_rejoin() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    c = sim.join_new()
    hc = sim.join(member_id=c)
    assert sim.result(hc) is None
    assert sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE
    assert sim.heartbeat("g", a, gen) == E.REBALANCE_IN_PROGRESS
    ha = sim.join(member_id=a)
    assert sim.result(ha) is None
    hb = sim.join(member_id=b)
    results = [sim.join_result(h) for h in (ha, hb, hc)]
    assert {r.generation_id for r in results} == {gen + 1}
    assert all(r.error == E.NONE for r in results)


def test_generation_increments_on_every_rebalance() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    sim.leave("g", b)
    assert sim.coord.state_of("g") == GroupState.COMPLETING_REBALANCE or \
        sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE
    r = sim.join_result(sim.join(member_id=a))
    assert r.generation_id == gen + 1
    sim.leave("g", a)
    assert sim.coord.state_of("g") == GroupState.EMPTY
    assert sim.coord.generation_of("g") == gen + 2


def test_rebalance_on_leave_followers_heartbeat_rebalance_in_progress() -> None:
    sim = Sim()
    (a, b, c), gen = form_group(sim, 3)
    res = sim.leave("g", c)
    assert res.error == E.NONE and res.members[0].error == E.NONE
    assert sim.heartbeat("g", a, gen) == E.REBALANCE_IN_PROGRESS
    assert sim.heartbeat("g", c, gen) == E.UNKNOWN_MEMBER_ID
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    assert sim.join_result(ha).generation_id == gen + 1
    assert sim.join_result(hb).generation_id == gen + 1


def test_batch_leave_and_unknown_member_in_batch() -> None:
    sim = Sim()
    (a, b, c), _ = form_group(sim, 3)
    res = sim.leave("g", a, "nobody", b)
    assert [m.error for m in res.members] == [E.NONE, E.UNKNOWN_MEMBER_ID, E.NONE]
    assert sim.coord.members_of("g") == [c]
    assert sim.coord.leader_of("g") == c


def test_leave_unknown_group() -> None:
    sim = Sim()
    res = sim.leave("nope", "x")
    assert res.error == E.NONE and res.members[0].error == E.UNKNOWN_MEMBER_ID


def test_session_timeout_evicts_member_and_rebalances() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    for _ in range(2):
        sim.advance(4000)
        assert sim.heartbeat("g", a, gen) == E.NONE
    sim.advance(1999)  # b's session (10 s since its SyncGroup) has not quite run out
    assert sim.coord.members_of("g") == [a, b]
    sim.advance(2000)
    # b never heartbeated: it is gone after its 10 s session.
    assert sim.coord.members_of("g") == [a]
    assert sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE
    assert sim.heartbeat("g", b, gen) == E.UNKNOWN_MEMBER_ID
    r = sim.join_result(sim.join(member_id=a))
    assert r.generation_id == gen + 1 and r.leader == a


def test_heartbeat_keeps_member_alive() -> None:
    sim = Sim()
    (a,), gen = form_group(sim, 1)
    for _ in range(10):
        sim.advance(9000)
        assert sim.heartbeat("g", a, gen) == E.NONE
    assert sim.coord.members_of("g") == [a]


def test_rebalance_timeout_removes_members_that_do_not_rejoin() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    c = sim.join_new()
    hc = sim.join(member_id=c, rebalance_ms=30000)
    ha = sim.join(member_id=a)
    # b keeps heartbeating but never rejoins.
    for _ in range(7):
        sim.advance(5000)
        if sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE:
            assert sim.heartbeat("g", b, gen) == E.REBALANCE_IN_PROGRESS
    rc, ra = sim.join_result(hc), sim.join_result(ha)
    assert rc.generation_id == ra.generation_id == gen + 1
    assert set(sim.coord.members_of("g")) == {a, c}


def test_leader_not_rejoining_is_replaced() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    assert sim.coord.leader_of("g") == a
    hb = sim.join(member_id=b, protocols=("range", "roundrobin"))  # new metadata
    sim.advance(30000)
    rb = sim.join_result(hb)
    assert rb.leader == b and rb.generation_id == gen + 1
    assert {m.member_id for m in rb.members} == {b}


def test_pending_member_expires_after_session_timeout() -> None:
    sim = Sim()
    (a,), gen = form_group(sim, 1)
    p = sim.join_new()
    sim.advance(11000)
    assert sim.join_result(sim.join(member_id=p)).error == E.UNKNOWN_MEMBER_ID
    assert sim.heartbeat("g", a, gen) == E.UNKNOWN_MEMBER_ID or True  # a may have expired


def test_illegal_generation_on_heartbeat_sync_and_commit() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    assert sim.heartbeat("g", a, gen + 7) == E.ILLEGAL_GENERATION
    assert sim.sync_result(sim.sync("g", a, gen - 1)).error == E.ILLEGAL_GENERATION
    errs = sim.commit("g", {("t", 0): 5}, member_id=a, generation=gen - 1)
    assert errs == {("t", 0): E.ILLEGAL_GENERATION}
    errs = sim.commit("g", {("t", 0): 5}, member_id="stranger", generation=gen)
    assert errs == {("t", 0): E.UNKNOWN_MEMBER_ID}
    errs = sim.commit("g", {("t", 0): 5})  # generation -1 on a non-empty group
    assert errs == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert sim.commit("g", {("t", 0): 5}, member_id=b, generation=gen) == {("t", 0): E.NONE}


def test_commit_with_generation_on_unknown_group_is_illegal_generation() -> None:
    sim = Sim()
    assert sim.commit("x", {("t", 0): 1}, member_id="m", generation=3) == {
        ("t", 0): E.ILLEGAL_GENERATION}


def test_simple_commit_without_group_management() -> None:
    sim = Sim()
    assert sim.commit("simple", {("t", 0): 10, ("t", 1): 20}) == {
        ("t", 0): E.NONE, ("t", 1): E.NONE}
    res = sim.coord.fetch_offsets(OffsetFetch(group_id="simple"))
    assert [(o.topic, o.partition, o.offset) for o in res.offsets] == [
        ("t", 0, 10), ("t", 1, 20)]
    assert sim.coord.state_of("simple") == GroupState.EMPTY


def test_commit_during_rebalance() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    c = sim.join_new()
    sim.join(member_id=c)
    # PreparingRebalance: members of the current generation may still commit.
    assert sim.commit("g", {("t", 0): 1}, member_id=a, generation=gen) == {("t", 0): E.NONE}
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    gen2 = sim.join_result(ha).generation_id
    assert sim.join_result(hb).generation_id == gen2
    # CompletingRebalance: REBALANCE_IN_PROGRESS.
    assert sim.commit("g", {("t", 0): 2}, member_id=a, generation=gen2) == {
        ("t", 0): E.REBALANCE_IN_PROGRESS}


def test_offset_fetch_unknown_partitions_and_metadata_limit() -> None:
    sim = Sim(config=GroupConfig(initial_rebalance_delay_ms=0, offset_metadata_max_bytes=5))
    assert sim.commit("g", {("t", 0): 3}, metadata="abc") == {("t", 0): E.NONE}
    assert sim.commit("g", {("t", 1): 3}, metadata="toolong") == {
        ("t", 1): E.OFFSET_METADATA_TOO_LARGE}
    res = sim.coord.fetch_offsets(OffsetFetch(group_id="g", partitions=(
        TopicPartition(topic="t", partition=0), TopicPartition(topic="t", partition=1))))
    assert [(o.offset, o.metadata) for o in res.offsets] == [(3, "abc"), (-1, "")]
    res = sim.coord.fetch_offsets(OffsetFetch(group_id="unknown"))
    assert res.error == E.NONE and res.offsets == ()


def test_invalid_session_timeout_and_group_id() -> None:
    sim = Sim(config=GroupConfig(min_session_timeout_ms=6000, max_session_timeout_ms=60000))
    assert sim.join_result(sim.join(session_ms=100)).error == E.INVALID_SESSION_TIMEOUT
    assert sim.join_result(sim.join(session_ms=90000)).error == E.INVALID_SESSION_TIMEOUT
    assert sim.join_result(sim.join(group="")).error == E.INVALID_GROUP_ID
    assert sim.heartbeat("", "m", 1) == E.INVALID_GROUP_ID


def test_inconsistent_group_protocol() -> None:
    sim = Sim()
    form_group(sim, 1)
    # The protocol check comes before a member id is handed out.
    r = sim.join_result(sim.join(protocols=("cooperative-sticky",)))
    assert r.error == E.INCONSISTENT_GROUP_PROTOCOL and r.member_id == ""
    ok = sim.join_result(sim.join(protocols=("cooperative-sticky", "range")))
    assert ok.error == E.MEMBER_ID_REQUIRED


def test_protocol_selection_by_votes() -> None:
    sim = Sim()
    ids = [sim.join_new(protocols=("range", "roundrobin")) for _ in range(1)]
    ids += [sim.join_new(protocols=("roundrobin", "range")) for _ in range(2)]
    ids += [sim.join_new(protocols=("sticky", "roundrobin", "range"))]
    handles = [sim.join(member_id=m, protocols=p) for m, p in zip(ids, [
        ("range", "roundrobin"), ("roundrobin", "range"), ("roundrobin", "range"),
        ("sticky", "roundrobin", "range")])]
    sim.settle()
    # "sticky" is not supported by all; roundrobin has 3 first-choice votes.
    assert {sim.join_result(h).protocol_name for h in handles} == {"roundrobin"}


def test_initial_rebalance_delay_collects_members() -> None:
    sim = Sim(config=GroupConfig(initial_rebalance_delay_ms=3000, min_session_timeout_ms=10))
    a = sim.join_new()
    ha = sim.join(member_id=a)
    sim.advance(2000)
    b = sim.join_new()
    hb = sim.join(member_id=b)
    sim.advance(1000)  # the first delay ends, but b arrived: wait one more delay
    assert sim.result(ha) is None
    sim.advance(3000)
    ra, rb = sim.join_result(ha), sim.join_result(hb)
    assert ra.generation_id == rb.generation_id == 1
    assert {m.member_id for m in ra.members} == {a, b}


def test_completing_rebalance_rejoin_with_same_metadata_gets_current_result() -> None:
    sim = Sim()
    a = sim.join_new()
    h = sim.join(member_id=a)
    sim.settle()
    r1 = sim.join_result(h)
    r2 = sim.join_result(sim.join(member_id=a))
    assert r2 == r1


def test_stable_follower_rejoin_without_change_does_not_rebalance() -> None:
    sim = Sim()
    (_a, b), gen = form_group(sim, 2)
    r = sim.join_result(sim.join(member_id=b))
    assert r.generation_id == gen and r.members == ()
    assert sim.coord.state_of("g") == GroupState.STABLE


def test_new_join_during_completing_rebalance_fails_pending_syncs() -> None:
    sim = Sim()
    a, b = sim.join_new(), sim.join_new()
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    sim.settle()
    gen = sim.join_result(ha).generation_id
    assert sim.join_result(hb).generation_id == gen
    hs = sim.sync("g", b, gen)  # follower waits for the leader
    assert sim.result(hs) is None
    c = sim.join_new()
    sim.join(member_id=c)
    assert sim.sync_result(hs).error == E.REBALANCE_IN_PROGRESS


def test_missing_sync_removes_member_after_rebalance_timeout() -> None:
    sim = Sim()
    a, b = sim.join_new(), sim.join_new()
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    sim.settle()
    gen = sim.join_result(ha).generation_id
    hs = sim.sync("g", a, gen, {a: b"A", b: b"B"})
    assert sim.sync_result(hs).assignment == b"A"
    for _ in range(8):  # a heartbeats, b never syncs
        sim.advance(4000)
        sim.heartbeat("g", a, gen)
    assert sim.coord.members_of("g") == [a]
    assert sim.join_result(hb).generation_id == gen


def test_member_missing_from_leader_assignment_gets_empty() -> None:
    sim = Sim()
    a, b = sim.join_new(), sim.join_new()
    ha, hb = sim.join(member_id=a), sim.join(member_id=b)
    sim.settle()
    gen = sim.join_result(ha).generation_id
    hsb = sim.sync("g", b, gen)
    sim.sync("g", a, gen, {a: b"A"})
    assert sim.sync_result(hsb).assignment == b""
    assert sim.join_result(hb).error == E.NONE


def test_sync_in_stable_returns_current_assignment() -> None:
    sim = Sim()
    (_a, b), gen = form_group(sim, 2)
    assert sim.sync_result(sim.sync("g", b, gen)).assignment == b.encode()


def test_heartbeat_errors_for_unknown_group_and_member() -> None:
    sim = Sim()
    assert sim.heartbeat("g", "x", 1) == E.UNKNOWN_MEMBER_ID
    form_group(sim, 1)
    assert sim.heartbeat("g", "x", 1) == E.UNKNOWN_MEMBER_ID


def test_static_member_joins_without_member_id_required_and_fences_old() -> None:
    sim = Sim()
    h1 = sim.join(instance="i-1")
    sim.settle()
    r1 = sim.join_result(h1)
    assert r1.error == E.NONE and r1.generation_id == 1
    sim.sync("g", r1.member_id, 1, {r1.member_id: b"A"})
    disk_before = len(sim.disk)
    h2 = sim.join(instance="i-1")  # the same instance restarted: no rebalance (KIP-345)
    r2 = sim.join_result(h2)
    assert r2.error == E.NONE and r2.member_id != r1.member_id
    assert (r2.generation_id, r2.leader, r2.members) == (1, r1.member_id, ())
    assert sim.coord.state_of("g") == GroupState.STABLE
    stored = sim.disk[disk_before:]
    assert isinstance(stored[-1], GroupRecord)
    assert [m.member_id for m in stored[-1].members] == [r2.member_id]
    assert sim.sync_result(sim.sync("g", r2.member_id, 1)).assignment == b"A"
    assert sim.heartbeat("g", r1.member_id, 1) == E.UNKNOWN_MEMBER_ID
    assert sim.coord.members_of("g") == [r2.member_id]
    assert sim.coord.leader_of("g") == r2.member_id


def test_static_member_rejoin_with_other_protocol_rebalances() -> None:
    sim = Sim()
    h1 = sim.join(instance="i-1")
    sim.settle()
    r1 = sim.join_result(h1)
    sim.sync("g", r1.member_id, 1, {r1.member_id: b"A"})
    h2 = sim.join(instance="i-1", protocols=("roundrobin", "range"))
    r2 = sim.join_result(h2)  # the only member: the rebalance completes at once
    assert (r2.generation_id, r2.protocol_name, r2.leader) == (2, "roundrobin", r2.member_id)


def test_static_member_rejoin_fences_a_waiting_old_incarnation() -> None:
    sim = Sim()
    a = sim.join_new()
    ha = sim.join(member_id=a)
    hs1 = sim.join(instance="i-1")
    sim.settle()
    gen = sim.join_result(ha).generation_id
    old = sim.join_result(hs1).member_id
    hsync = sim.sync("g", old, gen)  # waits for the leader
    h_new = sim.join(instance="i-1")
    assert sim.sync_result(hsync).error == E.FENCED_INSTANCE_ID
    assert sim.result(h_new) is None  # CompletingRebalance: a rebalance
    assert sim.coord.state_of("g") == GroupState.PREPARING_REBALANCE


def test_static_member_fenced_on_heartbeat_with_wrong_id() -> None:
    sim = Sim()
    h1 = sim.join(instance="i-1")
    sim.settle()
    r1 = sim.join_result(h1)
    h = sim._handle()
    from reference_broker.groups import Heartbeat
    out = sim.coord.heartbeat(h, Heartbeat(group_id="g", member_id="other", generation_id=1,
                                           group_instance_id="i-1"), sim.now_ms)
    assert out.result_for(h).error == E.FENCED_INSTANCE_ID  # type: ignore[union-attr]
    assert r1.member_id


def test_describe_and_list_groups() -> None:
    sim = Sim()
    (a, b), _gen = form_group(sim, 2)
    sim.commit("simple", {("t", 0): 1})
    (d,) = sim.coord.describe(["g"])
    assert d.state == "Stable" and d.protocol_type == "consumer" and d.protocol == "range"
    assert {m.member_id: m.assignment for m in d.members} == {a: a.encode(), b: b.encode()}
    (dead,) = sim.coord.describe(["nope"])
    assert dead.state == "Dead" and dead.error == E.NONE and dead.members == ()
    listed = sim.coord.list_groups()
    assert {(g.group_id, g.state) for g in listed.groups} == {
        ("g", "Stable"), ("simple", "Empty")}
    assert [g.group_id for g in sim.coord.list_groups(states=["empty"]).groups] == ["simple"]
    assert [g.group_id for g in sim.coord.list_groups(types=["consumer"]).groups] == ["g"]


def test_loading_answers_load_in_progress() -> None:
    coord = GroupCoordinator(FAST)
    coord.begin_loading()
    out = coord.join(1, JoinGroup(group_id="g", session_timeout_ms=10000,
                                  rebalance_timeout_ms=10000, protocol_type="consumer",
                                  protocols=(Protocol(name="range", metadata=b""),)), 0)
    r = out.result_for(1)
    assert isinstance(r, JoinResult) and r.error == E.COORDINATOR_LOAD_IN_PROGRESS
    assert coord.fetch_offsets(OffsetFetch(group_id="g")).error == \
        E.COORDINATOR_LOAD_IN_PROGRESS
    assert coord.list_groups().error == E.COORDINATOR_LOAD_IN_PROGRESS
    coord.finish_loading(0)
    assert coord.list_groups().error == E.NONE


def test_replay_restores_offsets_and_stable_group() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    sim.commit("g", {("t", 0): 7}, member_id=a, generation=gen)
    sim.commit("g", {("t", 0): 9, ("t", 1): 4}, member_id=b, generation=gen)
    sim.commit("simple", {("u", 0): 1})
    fresh = GroupCoordinator(FAST, incarnation="t2")
    fresh.begin_loading()
    for rec in sim.disk:
        fresh.replay(rec)
    fresh.finish_loading(now_ms=1_000_000)
    res = fresh.fetch_offsets(OffsetFetch(group_id="g"))
    assert [(o.topic, o.partition, o.offset) for o in res.offsets] == [("t", 0, 9), ("t", 1, 4)]
    assert fresh.state_of("g") == GroupState.STABLE
    assert fresh.generation_of("g") == gen
    # Members restored with a fresh session; a heartbeat of the old generation works.
    sim.coord = fresh
    sim.now_ms = 1_000_000
    assert sim.heartbeat("g", a, gen) == E.NONE
    assert sim.sync_result(sim.sync("g", b, gen)).assignment == b.encode()
    # b stops; after its session it is evicted and the group rebalances to gen + 1.
    sim.advance(6000)
    sim.heartbeat("g", a, gen)
    sim.advance(6000)
    assert sim.coord.members_of("g") == [a]
    assert sim.join_result(sim.join(member_id=a)).generation_id == gen + 1


def test_replay_of_empty_group_keeps_generation() -> None:
    sim = Sim()
    (a,), gen = form_group(sim, 1)
    sim.leave("g", a)
    fresh = GroupCoordinator(FAST)
    fresh.begin_loading()
    for rec in sim.disk:
        fresh.replay(rec)
    fresh.finish_loading(0)
    assert fresh.state_of("g") == GroupState.EMPTY
    assert fresh.generation_of("g") == gen + 1


def test_offset_records_are_emitted_with_the_commit_reply() -> None:
    coord = GroupCoordinator(FAST)
    from reference_broker.groups import CommitOffset, OffsetCommit
    out = coord.commit(1, OffsetCommit(group_id="g", offsets=(
        CommitOffset(topic="t", partition=0, offset=5),)), 42)
    assert len(out.replies) == 1
    assert out.records == (OffsetRecord(group_id="g", topic="t", partition=0, offset=5,
                                        leader_epoch=-1, metadata="",
                                        commit_timestamp_ms=42),)


def test_shutdown_answers_waiting_joins() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    ha = sim.join(member_id=a, protocols=("roundrobin", "range"))
    assert sim.result(ha) is None
    sim._apply(sim.coord.shutdown())
    assert sim.join_result(ha).error == E.COORDINATOR_NOT_AVAILABLE
    assert sim.heartbeat("g", b, gen) == E.COORDINATOR_NOT_AVAILABLE


def test_next_deadline() -> None:
    sim = Sim()
    assert sim.coord.next_deadline_ms() is None
    (_a,), _ = form_group(sim, 1)
    assert sim.coord.next_deadline_ms() is not None


def _delete(sim: Sim, *gids: str) -> dict[str, ErrorCode]:
    from reference_broker.groups import DeleteGroups, DeleteGroupsResult
    h = sim._handle()
    sim._apply(sim.coord.delete_groups(h, DeleteGroups(group_ids=gids), sim.now_ms))
    r = sim.replies[h]
    assert isinstance(r, DeleteGroupsResult)
    return {d.group_id: d.error for d in r.groups}


def test_delete_groups_only_empty_ones() -> None:
    sim = Sim()
    form_group(sim, 1, "busy")
    sim.commit("idle", {("t", 0): 5, ("t", 1): 6})
    before = len(sim.disk)
    assert _delete(sim, "busy", "idle", "nope") == {
        "busy": E.NON_EMPTY_GROUP, "idle": E.NONE, "nope": E.GROUP_ID_NOT_FOUND}
    assert sim.coord.state_of("idle") is None
    assert sim.coord.fetch_offsets(OffsetFetch(group_id="idle")).offsets == ()
    from reference_broker.groups import GroupTombstone, OffsetTombstone
    written = sim.disk[before:]
    assert sorted(type(r).__name__ for r in written) == [
        "GroupTombstone", "OffsetTombstone", "OffsetTombstone"]
    assert isinstance(written[-1], GroupTombstone) and isinstance(written[0], OffsetTombstone)
    fresh = GroupCoordinator(FAST)
    fresh.begin_loading()
    for rec in sim.disk:
        fresh.replay(rec)
    fresh.finish_loading(sim.now_ms)
    assert fresh.state_of("idle") is None and fresh.state_of("busy") == GroupState.STABLE


def test_offsets_expire_after_retention() -> None:
    cfg = GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                      offsets_retention_ms=50_000, offsets_retention_check_interval_ms=1000)
    sim = Sim(config=cfg)
    sim.advance(0)  # arms the expiry timer
    sim.commit("simple", {("t", 0): 1})  # standalone: expires 50 s after its commit
    (a,), gen = form_group(sim, 1, "g")
    sim.commit("g", {("t", 0): 2}, member_id=a, generation=gen)
    for _ in range(30):  # 60 s; a keeps heartbeating, so g is not empty
        sim.advance(2000)
        sim.heartbeat("g", a, gen)
    assert sim.coord.state_of("simple") is None  # its only offset expired: deleted
    assert [o.offset for o in sim.coord.fetch_offsets(OffsetFetch(group_id="g")).offsets] == [2]
    sim.leave("g", a)  # empty from now on: expires 50 s later
    sim.advance(40_000)
    assert sim.coord.state_of("g") == GroupState.EMPTY
    sim.advance(11_000)
    assert sim.coord.state_of("g") is None
    assert sim.coord.fetch_offsets(OffsetFetch(group_id="g")).offsets == ()


def test_pending_member_blocks_the_join_phase_until_it_rejoins_or_expires() -> None:
    sim = Sim()
    (a,), gen = form_group(sim, 1)
    p = sim.join_new()  # MEMBER_ID_REQUIRED: pending, not yet a member
    b = sim.join_new()
    hb = sim.join(member_id=b)  # b joins: rebalance
    ha = sim.join(member_id=a)
    assert sim.result(ha) is None and sim.result(hb) is None  # p is still pending
    hp = sim.join(member_id=p)
    assert {sim.join_result(h).generation_id for h in (ha, hb, hp)} == {gen + 1}
    # Now a pending member that never comes back: the phase ends when it expires.
    q = sim.join_new(session_ms=5000)
    hc = sim.join(member_id=sim.join_new())
    for m in (a, b, p):
        sim.join(member_id=m, protocols=("range", "roundrobin"))
    assert sim.result(hc) is None
    sim.advance(5000)
    assert sim.join_result(hc).generation_id == gen + 2
    assert q not in sim.coord.members_of("g")


def test_group_max_size() -> None:
    sim = Sim(config=GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                                 max_size=2))
    form_group(sim, 2)
    assert sim.join_result(sim.join()).error == E.GROUP_MAX_SIZE_REACHED


def test_describe_while_rebalancing_hides_metadata_and_assignment() -> None:
    sim = Sim()
    (a, b), _ = form_group(sim, 2)
    sim.leave("g", b)
    (d,) = sim.coord.describe(["g"])
    assert d.state == "PreparingRebalance" and d.protocol == ""
    assert [(m.member_id, m.metadata, m.assignment) for m in d.members] == [(a, b"", b"")]


def test_second_join_from_a_waiting_member_answers_the_first() -> None:
    sim = Sim()
    (a, b), gen = form_group(sim, 2)
    h1 = sim.join(member_id=a, protocols=("roundrobin", "range"))
    assert sim.result(h1) is None  # waits for b
    h2 = sim.join(member_id=a, protocols=("roundrobin", "range"))
    assert sim.join_result(h1).error == E.REBALANCE_IN_PROGRESS
    sim.join(member_id=b)
    assert sim.join_result(h2).generation_id == gen + 1


def test_planted_bugs_are_off_by_default_and_do_what_they_say() -> None:
    import pytest

    from reference_broker.groups import PLANTED_BUGS
    assert GroupConfig().bugs == frozenset()
    with pytest.raises(ValueError, match="unknown group coordinator bug"):
        GroupConfig(bugs=frozenset({"no-such-bug"}))
    assert set(PLANTED_BUGS) == {"lost-group-commits", "zombie-commits"}
    # lost-group-commits: acknowledged, readable, but gone after a restart.
    lossy = Sim(config=GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                                   bugs=frozenset({"lost-group-commits"})))
    assert lossy.commit("g", {("t", 0): 5}) == {("t", 0): E.NONE}
    assert lossy.disk == []
    # zombie-commits: a member fenced by a rebalance still commits.
    zombie = Sim(config=GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                                    bugs=frozenset({"zombie-commits"})))
    (_a, b), gen = form_group(zombie, 2)
    zombie.leave("g", b)
    assert zombie.commit("g", {("t", 0): 1}, member_id=b, generation=gen - 1) == {
        ("t", 0): E.NONE}
