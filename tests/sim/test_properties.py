"""Raft's safety properties and liveness under generated fault schedules.

Each example runs a whole simulation: a schedule of traffic, partitions, message
loss and duplication, crashes (losing unsynced writes), restarts and leadership
transfers, checked on every step for election safety, log matching, leader
completeness, state-machine safety and a commit index that never moves back; then
the network heals and a leader must commit on every node within
``liveness_ticks``. A failure's message ends with the ``python -m harness.sim``
command that replays it; hypothesis prints the shrunk example as well.

Examples per test follow the hypothesis profile (``ci`` by default, ``nightly``
for many more: ``pytest --hypothesis-profile=nightly tests/sim``).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from harness.sim import Schedule, SimFailure, SimOptions, run_simulation, schedule_to_json
from harness.sim.strategies import schedules
from reference_broker.raft import PLANTED_BUGS

seeds = st.integers(0, 2**32 - 1)


def _run(options: SimOptions, schedule: Schedule | None, length: int = 40) -> None:
    try:
        r = run_simulation(options, schedule, length=length)
    except SimFailure as e:
        # the schedule is in the replay command; also print it on its own line
        print(f"schedule: {schedule_to_json(schedule) if schedule else 'random'}")
        raise AssertionError(str(e)) from e
    # what the examples exercised (``--hypothesis-show-statistics`` shows the shares)
    event("leader changes", "0" if r.leaders <= 1 else "2+" if r.leaders > 2 else "1")
    if r.truncations:
        event("a follower dropped a divergent suffix")
    if r.lost_writes:
        event("a crash lost unsynced writes")
    if r.network.lost or r.network.duplicated:
        event("messages lost or duplicated")


@given(seed=seeds, schedule=schedules(3))
def test_three_nodes_stay_safe_and_recover(seed: int, schedule: Schedule) -> None:
    _run(SimOptions(seed=seed, nodes=3), schedule)


@given(seed=seeds, schedule=schedules(5, max_length=25))
def test_five_nodes_stay_safe_and_recover(seed: int, schedule: Schedule) -> None:
    _run(SimOptions(seed=seed, nodes=5), schedule)


@given(seed=seeds, inflight=st.sampled_from([1, 2, 8]), batch=st.sampled_from([1, 3, 64]),
       fifo=st.booleans(), schedule=schedules(3, max_length=20))
def test_pipelining_and_batching_limits_stay_safe(seed: int, inflight: int, batch: int,
                                                  fifo: bool, schedule: Schedule) -> None:
    _run(SimOptions(seed=seed, nodes=3, max_inflight=inflight, max_batch_entries=batch,
                    fifo_links=fifo), schedule)


@given(seed=seeds, nodes=st.sampled_from([1, 2, 3, 4, 5]))
def test_seeded_random_schedules_stay_safe_and_recover(seed: int, nodes: int) -> None:
    """The VOPR mode: the seed alone picks the schedule (``--seed`` replays it)."""
    _run(SimOptions(seed=seed, nodes=nodes), None, length=60)


# -- quality: the property tests must catch every planted bug ------------------------

#: What each planted bug breaks first (the checker that must notice).
EXPECTED = {
    "no-truncate-on-election": ("log-matching",),
    "unclean-election": ("leader-completeness", "state-machine-safety", "committed"),
    "unsynced-hard-state": ("election-safety", "malformed", "leader-completeness",
                            "log-matching", "state-machine-safety", "committed"),
}


def test_every_planted_bug_has_a_quality_test() -> None:
    assert set(EXPECTED) == set(PLANTED_BUGS)


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_generated_schedules_catch_the_planted_bug(bug: str) -> None:
    """With the bug switched on, hypothesis finds a schedule that breaks a safety
    property and shrinks it; the failure carries its replay command."""
    found: list[SimFailure] = []

    @settings(max_examples=1000, database=None, derandomize=True, deadline=None,
              phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(seed=seeds, schedule=schedules(3, max_length=12))
    def prop(seed: int, schedule: Schedule) -> None:
        try:
            run_simulation(SimOptions(seed=seed, nodes=3, bugs=frozenset({bug})), schedule)
        except SimFailure as e:
            found.append(e)
            raise

    with pytest.raises(SimFailure) as info:
        prop()
    failure = info.value
    assert failure.kind == "correctness"
    assert any(p in failure.reason for p in EXPECTED[bug]), failure.reason
    assert f"--bug {bug}" in failure.replay and "--schedule" in failure.replay
    print(f"{bug}: {len(found)} failing runs while shrinking; shrunk: {failure.replay}")
    assert len(found) >= 2  # found, then shrunk


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_seeded_runs_catch_the_planted_bug_and_pass_without_it(bug: str) -> None:
    caught = []
    for seed in range(100):
        try:
            run_simulation(SimOptions(seed=seed, bugs=frozenset({bug})))
        except SimFailure as e:
            assert e.kind == "correctness", e
            caught.append(seed)
        if len(caught) >= 3:
            break
    assert caught, f"no seed in 0..99 caught {bug}"
    for seed in caught:  # the same seeds pass without the bug
        run_simulation(SimOptions(seed=seed))
