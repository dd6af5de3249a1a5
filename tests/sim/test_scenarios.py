"""Hand-written schedules with known verdicts (the ``-ok`` / ``-bad`` pairs of the
style guide): the same schedule passes on the correct core and fails with the
planted bug switched on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sim import (
    Crash,
    Heal,
    IsolateLeader,
    Propose,
    Restart,
    Run,
    Schedule,
    SimFailure,
    SimOptions,
    Simulation,
    run_simulation,
)
from harness.sim.strategies import schedules

BUG = frozenset({"no-truncate-on-election"})

#: The old leader takes writes it cannot commit while cut off; a new leader writes
#: fewer entries over them; the old leader rejoins and must drop its suffix.
DIVERGENT_SUFFIX: Schedule = (Run(ticks=30), IsolateLeader(), Propose(count=5), Run(ticks=60),
                    Propose(count=1), Run(ticks=10), Heal(), Run(ticks=60))


@pytest.mark.parametrize("seed", range(5))
def test_divergent_suffix_ok(seed: int) -> None:
    run_simulation(SimOptions(seed=seed), DIVERGENT_SUFFIX)


@pytest.mark.parametrize("seed", range(5))
def test_divergent_suffix_bad_with_planted_bug(seed: int) -> None:
    with pytest.raises(SimFailure) as info:
        run_simulation(SimOptions(seed=seed, bugs=BUG), DIVERGENT_SUFFIX)
    assert info.value.kind == "correctness" and "log-matching" in info.value.reason


def test_uncommitted_writes_of_a_cut_off_leader_are_never_applied() -> None:
    sim = Simulation(SimOptions(seed=4))
    for cmd in DIVERGENT_SUFFIX[:3]:  # the old leader alone takes v1..v5
        sim.execute(cmd)
    for cmd in DIVERGENT_SUFFIX[3:]:
        sim.execute(cmd)
    sim.heal_all()
    assert sim.await_convergence(600) is not None
    applied = {e.data for e in sim.checker.committed.values()}
    assert not applied & {b"v1", b"v2", b"v3", b"v4", b"v5"}
    assert b"v6" in applied


def test_whole_cluster_restart_keeps_every_committed_entry() -> None:
    sim = Simulation(SimOptions(seed=9))
    sim.execute(Run(ticks=40))
    sim.execute(Propose(count=20))
    sim.execute(Run(ticks=20))
    committed = dict(sim.checker.committed)
    assert len(committed) >= 21
    for i in sim.ids:
        sim.execute(Crash(node=i))
    for i in sim.ids:
        sim.execute(Restart(node=i))
    sim.heal_all()
    assert sim.await_convergence(600) is not None
    for index, entry in committed.items():
        assert all(slot.disk.log[index - 1] == entry for slot in sim.slots.values())


@given(seed=st.integers(0, 2**32 - 1), schedule=schedules(3, max_length=15))
def test_liveness_with_residual_message_loss(seed: int, schedule: tuple) -> None:
    """Even with 20% of messages still lost after healing, a leader commits on every
    node within the liveness bound (retransmission by heartbeat and probing)."""
    try:
        run_simulation(SimOptions(seed=seed, liveness_loss_pct=20, liveness_ticks=1200),
                       schedule)
    except SimFailure as e:
        raise AssertionError(str(e)) from e


def test_a_schedule_failure_replays_from_its_printed_command() -> None:
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with pytest.raises(SimFailure) as info:
        run_simulation(SimOptions(seed=0, bugs=BUG), DIVERGENT_SUFFIX)
    argv = shlex.split(info.value.replay)
    assert argv[:3] == ["python", "-m", "harness.sim"] and "--schedule" in argv
    out = subprocess.run([sys.executable, *argv[1:]], cwd=root, capture_output=True,
                         text=True, timeout=120,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1, out.stdout + out.stderr
    assert info.value.reason in out.stdout


def test_single_node_may_reuse_a_term_whose_writes_a_crash_lost() -> None:
    """A lone node elects itself without telling anyone; if a crash loses that term's
    hard state and entries, leading the same term again with other entries is
    legal (nobody saw the first). The checker judges durable writes only."""
    schedule: Schedule = (Run(ticks=20), Propose(count=3), Run(ticks=5), Crash(node=1),
                          Restart(node=1), Run(ticks=40), Propose(count=3), Crash(node=1),
                          Restart(node=1), Run(ticks=40), Propose(count=3), Run(ticks=5))
    lost = 0
    for seed in range(30):
        lost += run_simulation(SimOptions(seed=seed, nodes=1), schedule).lost_writes
    assert lost > 0
