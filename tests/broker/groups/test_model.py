"""A hypothesis state machine: random members join, sync, heartbeat, commit, leave,
time out, and the coordinator restarts from its records.

Invariants checked after every step:
- every request handle gets at most one reply (the Sim asserts it);
- the generation of a group never goes back while the coordinator lives, and after a
  restart it is at least the last generation whose assignment was delivered;
- in one generation no partition has two owners, and a member never receives an
  assignment made for another generation;
- the group's leader is one of its members;
- committed offsets (acknowledged ones) read back exactly, also after a restart;
- a restart's state, compacted to a snapshot and replayed, is the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from reference_broker.groups import (
    ErrorCode,
    GroupCoordinator,
    HeartbeatResult,
    JoinResult,
    LeaveResult,
    OffsetFetch,
    SyncResult,
)

from ._sim import Sim

E = ErrorCode
CLIENTS = 4
PARTITIONS = 6
GROUP = "g"
SIMPLE = "simple"


@dataclass
class Client:
    instance: str | None = None  # group.instance.id of a static member
    member_id: str = ""
    generation: int = -1
    leader: bool = False
    members: list[str] = field(default_factory=list)
    join_handle: int | None = None
    sync_handle: int | None = None
    sync_generation: int = -1


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Sim()
        self.clients = [Client() for _ in range(CLIENTS - 1)] + [Client(instance="static-1")]
        self.last_generation = 0
        self.delivered_generation = 0  # highest generation with an assignment delivered
        self.owners: dict[int, dict[int, str]] = {}
        self.committed: dict[tuple[str, str, int], int] = {}

    # ----- reply bookkeeping ----------------------------------------------------------

    def _collect(self) -> None:
        for c in self.clients:
            if c.join_handle is not None and c.join_handle in self.sim.replies:
                r = self.sim.replies[c.join_handle]
                assert isinstance(r, JoinResult)
                c.join_handle = None
                if r.error == E.NONE:
                    c.member_id, c.generation = r.member_id, r.generation_id
                    c.leader = r.leader == r.member_id
                    c.members = [m.member_id for m in r.members]
                    assert not c.leader or c.member_id in c.members
                elif r.error == E.MEMBER_ID_REQUIRED:
                    c.member_id = r.member_id
                elif r.error == E.UNKNOWN_MEMBER_ID:
                    c.member_id, c.generation = "", -1
            if c.sync_handle is not None and c.sync_handle in self.sim.replies:
                s = self.sim.replies[c.sync_handle]
                assert isinstance(s, SyncResult)
                c.sync_handle = None
                if s.error == E.NONE:
                    self._check_assignment(c, s.assignment)
                elif s.error == E.UNKNOWN_MEMBER_ID:
                    c.member_id, c.generation = "", -1

    def _check_assignment(self, c: Client, assignment: bytes) -> None:
        gen = c.sync_generation
        self.delivered_generation = max(self.delivered_generation, gen)
        if not assignment:
            return
        made_for, _, parts = assignment.decode().partition(":")
        assert int(made_for) == gen, f"assignment of generation {made_for} given in {gen}"
        owners = self.owners.setdefault(gen, {})
        owner = c.instance or c.member_id  # a static member's incarnations are one owner
        for p in (int(x) for x in parts.split(",") if x):
            assert owners.setdefault(p, owner) == owner, (
                f"partition {p} has two owners in generation {gen}")

    # ----- rules ----------------------------------------------------------------------

    ACTIONS = (["progress"] * 14 + ["join", "sync", "heartbeat", "leave", "forget", "forget"]
               + ["commit"] * 3 + ["simple_commit", "wait", "wait", "long_wait", "restart"])

    @rule(i=st.integers(0, CLIENTS - 1), action=st.sampled_from(ACTIONS),
          extra=st.booleans(), p=st.integers(0, PARTITIONS - 1),
          offset=st.integers(0, 1000), ms=st.sampled_from([0, 50, 100, 1000]),
          long_ms=st.sampled_from([4000, 11000, 31000]))
    def act(self, i: int, action: str, extra: bool, p: int, offset: int, ms: int,
            long_ms: int) -> None:
        """One step; mostly a client's well-behaved next move, so runs reach deep
        states, sometimes an arbitrary request, a commit, time passing or a restart."""
        if action == "progress":
            self.progress(i)
        elif action == "join":
            self.join(i, extra)
        elif action == "commit":
            self.commit(i, p, offset)
        elif action == "simple_commit":
            self.simple_commit(p, offset)
        elif action == "wait":
            self.advance(ms)
        elif action == "long_wait":
            self.advance(long_ms)
        elif action == "restart":
            if self.sim.disk:
                self.restart()
        else:
            getattr(self, action)(i)

    def progress(self, i: int) -> None:
        """What a well-behaved client does next, 200 ms later."""
        self.advance(200)
        c = self.clients[i]
        if c.join_handle is not None or c.sync_handle is not None:
            pass
        elif (c.generation < 0 or c.generation != self.sim.coord.generation_of(GROUP)
              or self.sim.coord.state_of(GROUP) == "PreparingRebalance"):
            self.join(i, False)
        elif self.sim.coord.state_of(GROUP) == "CompletingRebalance":
            self.sync(i)
        else:
            self.heartbeat(i)
            if c.sync_generation != c.generation:
                self.sync(i)

    def join(self, i: int, extra: bool) -> None:
        c = self.clients[i]
        if c.join_handle is not None:
            return
        protocols = ("range", "roundrobin") if extra else ("range",)
        c.join_handle = self.sim.join(GROUP, c.member_id, protocols=protocols,
                                      client_id=f"c{i}", instance=c.instance)
        self._collect()

    def forget(self, i: int) -> None:
        """The client process restarts without leaving: a new incarnation, no member id
        (a static member keeps its instance id and fences its old incarnation)."""
        self.clients[i] = Client(instance=self.clients[i].instance)

    def sync(self, i: int) -> None:
        c = self.clients[i]
        if c.sync_handle is not None or not c.member_id or c.generation < 0:
            return
        assignments = None
        if c.leader and c.members:
            per: dict[str, list[str]] = {m: [] for m in c.members}
            for p in range(PARTITIONS):
                per[c.members[p % len(c.members)]].append(str(p))
            assignments = {m: f"{c.generation}:{','.join(ps)}".encode()
                           for m, ps in per.items()}
        c.sync_generation = c.generation
        c.sync_handle = self.sim.sync(GROUP, c.member_id, c.generation, assignments)
        self._collect()

    def heartbeat(self, i: int) -> None:
        c = self.clients[i]
        if not c.member_id:
            return
        err = self.sim.heartbeat(GROUP, c.member_id, c.generation)
        if err == E.UNKNOWN_MEMBER_ID and c.join_handle is None and c.sync_handle is None:
            c.member_id, c.generation = "", -1

    def leave(self, i: int) -> None:
        c = self.clients[i]
        if not c.member_id:
            return
        res = self.sim.leave(GROUP, c.member_id)
        assert isinstance(res, LeaveResult)
        self._collect()
        if c.join_handle is None and c.sync_handle is None:
            c.member_id, c.generation = "", -1

    def commit(self, i: int, p: int, offset: int) -> None:
        c = self.clients[i]
        errs = self.sim.commit(GROUP, {("t", p): offset}, member_id=c.member_id,
                               generation=c.generation)
        if errs[("t", p)] == E.NONE:
            self.committed[(GROUP, "t", p)] = offset

    def simple_commit(self, p: int, offset: int) -> None:
        errs = self.sim.commit(SIMPLE, {("t", p): offset})
        assert errs[("t", p)] == E.NONE
        self.committed[(SIMPLE, "t", p)] = offset

    def advance(self, ms: int) -> None:
        self.sim.advance(ms)
        self._collect()

    def restart(self) -> None:
        fresh = GroupCoordinator(self.sim.config, incarnation=f"r{len(self.sim.disk)}")
        fresh.begin_loading()
        for rec in self.sim.disk:
            fresh.replay(rec)
        fresh.finish_loading(self.sim.now_ms)
        # Compaction: the snapshot of the restored state replays to the same state.
        snapshot = fresh.snapshot()
        compacted = GroupCoordinator(self.sim.config)
        compacted.begin_loading()
        for rec in snapshot:
            compacted.replay(rec)
        compacted.finish_loading(self.sim.now_ms)
        for gid in (GROUP, SIMPLE):
            for view in ("state_of", "generation_of", "members_of", "leader_of"):
                assert getattr(compacted, view)(gid) == getattr(fresh, view)(gid), view
            assert compacted.fetch_offsets(OffsetFetch(group_id=gid)) == \
                fresh.fetch_offsets(OffsetFetch(group_id=gid))
        self.sim.disk = list(snapshot)
        self.sim.coord = fresh
        restored = fresh.generation_of(GROUP) or 0
        assert restored >= self.delivered_generation
        self.last_generation = restored
        for c in self.clients:  # requests in flight died with the old coordinator
            c.join_handle = c.sync_handle = None

    # ----- invariants -----------------------------------------------------------------

    @invariant()
    def generation_never_goes_back(self) -> None:
        gen = self.sim.coord.generation_of(GROUP)
        if gen is None:  # an empty group without offsets was deleted (expiry): a new
            self.last_generation = 0  # group of that name starts from generation 0
            self.delivered_generation = 0
            self.owners.clear()
            return
        assert gen >= self.last_generation
        self.last_generation = gen

    @invariant()
    def leader_is_a_member(self) -> None:
        members = self.sim.coord.members_of(GROUP)
        leader = self.sim.coord.leader_of(GROUP)
        assert (leader in members) if members else leader is None

    @invariant()
    def offsets_read_back(self) -> None:
        for gid in (GROUP, SIMPLE):
            res = self.sim.coord.fetch_offsets(OffsetFetch(group_id=gid))
            got = {(gid, o.topic, o.partition): o.offset for o in res.offsets}
            want = {k: v for k, v in self.committed.items() if k[0] == gid}
            assert got == want

    @invariant()
    def heartbeat_results_are_typed(self) -> None:
        for r in self.sim.replies.values():
            assert isinstance(r, JoinResult | SyncResult | HeartbeatResult | LeaveResult) or \
                r.__class__.__name__ == "OffsetCommitResult"


GroupMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestGroupMachine = GroupMachine.TestCase


def test_the_machine_finds_the_planted_lost_commits_bug() -> None:
    """Quality check: with `lost-group-commits` planted, some run must fail."""
    import pytest
    from hypothesis import Phase
    from hypothesis.stateful import run_state_machine_as_test

    from reference_broker.groups import GroupConfig

    buggy = GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                        max_session_timeout_ms=600000,
                        bugs=frozenset({"lost-group-commits"}))

    class Buggy(GroupMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sim = Sim(config=buggy)

    with pytest.raises(AssertionError):
        run_state_machine_as_test(Buggy, settings=settings(
            max_examples=200, stateful_step_count=80, deadline=None, database=None,
            phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
