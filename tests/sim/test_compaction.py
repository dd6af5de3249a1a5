"""Compaction (retention) under the simulator: snapshot points on the disk, lagging
followers that must install the leader's snapshot, and the safety properties with
snapshots (log matching above the point, committed entries lost only to retention,
snapshot points always committed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sim import (
    Compact,
    Heal,
    Partition,
    Propose,
    Run,
    SafetyChecker,
    SafetyViolation,
    Schedule,
    SimDisk,
    SimOptions,
    Simulation,
    run_simulation,
    schedule_from_json,
    schedule_to_json,
)
from harness.sim.strategies import schedules
from reference_broker.raft import Entry, Snapshot


def entries(first: int, n: int, term: int = 1) -> list[Entry]:
    return [Entry(index=first + k, term=term, data=b"e%d" % (first + k)) for k in range(n)]


#: Node 3 is cut off while the others commit and compact everything: when the
#: network heals, the entries it lacks exist nowhere but in the snapshot.
LAGGARD: Schedule = (Run(ticks=40), Partition(groups=((1, 2), (3,))), Run(ticks=40),
                     Propose(count=6), Run(ticks=30), Propose(count=4), Run(ticks=30),
                     Compact(keep=0), Run(ticks=5), Heal(), Run(ticks=80), Propose(count=2),
                     Run(ticks=40))


@pytest.mark.parametrize("seed", range(6))
def test_cut_off_follower_catches_up_through_the_snapshot(seed: int) -> None:
    sim = Simulation(SimOptions(seed=seed))
    for cmd in LAGGARD:
        sim.execute(cmd)
    assert sim.result.installs >= 1, "node 3 should have needed the leader's snapshot"
    laggard = sim.slots[3]
    snap = laggard.disk.snapshot()
    assert snap.index > 0 and sim.checker.committed[snap.index].term == snap.term
    sim.heal_all()
    assert sim.await_convergence(600) is not None
    # Every node's log above its own point agrees with the committed entries.
    for slot in sim.slots.values():
        first = slot.disk.snapshot().index
        for e in slot.disk.log:
            c = sim.checker.committed.get(e.index)
            assert c is None or c == e, (slot.id, e, c)
        assert first <= slot.applied


def test_compact_is_replayable_from_json() -> None:
    assert schedule_from_json(schedule_to_json(LAGGARD)) == LAGGARD


@given(seed=st.integers(0, 2**32 - 1), schedule=schedules(3, max_length=20))
def test_schedules_with_compaction_stay_safe_and_recover(seed: int, schedule: Schedule
                                                         ) -> None:
    # Compact often: after every third command.
    dense = tuple(c for k, cmd in enumerate(schedule)
                  for c in ((cmd, Compact(keep=k % 4)) if k % 3 == 2 else (cmd,)))
    run_simulation(SimOptions(seed=seed), dense)


def test_seeded_runs_exercise_snapshot_installs() -> None:
    installs = sum(run_simulation(SimOptions(seed=s), length=60).installs for s in range(25))
    assert installs >= 3


# -- the parts ------------------------------------------------------------------------------

@given(seed=st.integers(0, 1000), ops=st.lists(st.integers(0, 5), max_size=14),
       synced=st.integers(0, 14))
def test_crash_after_compaction_leaves_a_state_the_disk_had(seed: int, ops: list[int],
                                                             synced: int) -> None:
    d = SimDisk()
    states = [(d.snapshot(), list(d.log))]
    for k, op in enumerate(ops):
        last = d.last_index()
        first = d.snapshot().index
        if op == 0 and last > first:
            d.compact(Snapshot(index=last, term=d.term_at(last) or 1))
        elif op == 1:
            d.reset(Snapshot(index=last + 2, term=k + 1))
        elif op == 2 and last > first + 1:
            d.truncate(last)
        else:
            d.append(entries(last + 1, op, term=k + 1))
        states.append((d.snapshot(), list(d.log)))
        if k + 1 == synced:
            d.sync()
    d.crash(random.Random(seed))
    assert (d.snapshot(), list(d.log)) in states[synced if 1 <= synced <= len(ops) else 0:]
    assert d.last_index() == d.snapshot().index + len(d.log)


def test_checker_rejects_a_snapshot_of_an_uncommitted_entry() -> None:
    c = SafetyChecker()
    c.on_applied(1, 0, entries(1, 3, term=2))
    c.on_snapshot(1, Snapshot(index=3, term=2))
    with pytest.raises(SafetyViolation, match="snapshot-safety"):
        c.on_snapshot(2, Snapshot(index=4, term=2))  # nobody applied index 4
    with pytest.raises(SafetyViolation, match="snapshot-safety"):
        c.on_snapshot(2, Snapshot(index=3, term=1))  # not the committed entry's term


def test_checker_counts_a_leaders_snapshot_as_holding_what_it_compacted() -> None:
    c = SafetyChecker()
    c.on_applied(1, 0, entries(1, 4, term=2))
    c.on_leader(2, 3, Snapshot(index=3, term=2), entries(4, 1, term=2))
    with pytest.raises(SafetyViolation, match="leader-completeness"):
        c.on_leader(3, 4, Snapshot(index=3, term=2), [])  # lacks committed entry 4
