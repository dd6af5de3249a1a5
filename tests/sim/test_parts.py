"""The simulator's parts: disk crash model, network faults, schedules, replay, CLI."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.sim import (
    Crash,
    CrashLeader,
    Heal,
    IsolateLeader,
    Network,
    Partition,
    Propose,
    Restart,
    Run,
    SimDisk,
    SimFailure,
    SimNetwork,
    SimOptions,
    Simulation,
    Transfer,
    replay_command,
    run_simulation,
    schedule_from_json,
    schedule_to_json,
)
from harness.sim.strategies import schedules
from reference_broker.raft import Entry, HardState, TimeoutNow

ROOT = Path(__file__).resolve().parents[2]


def entries(lo: int, n: int, term: int = 1) -> list[Entry]:
    return [Entry(index=lo + k, term=term, data=b"%d" % (lo + k)) for k in range(n)]


# -- disk ---------------------------------------------------------------------------

def test_disk_keeps_what_was_synced() -> None:
    d = SimDisk()
    d.append(entries(1, 3))
    d.set_hard_state(HardState(term=1, voted_for=2))
    d.sync()
    d.truncate(2)
    d.append(entries(2, 2, term=2))
    assert [e.term for e in d.log] == [1, 2, 2]
    d.crash(random.Random(0))
    assert d.last_index() >= 1 and d.hard_state() == HardState(term=1, voted_for=2)
    assert [e.term for e in d.log] in ([1, 1, 1], [1], [1, 2], [1, 2, 2])


@given(seed=st.integers(0, 1000), ops=st.lists(st.integers(1, 4), max_size=12),
       synced=st.integers(0, 12))
def test_crash_leaves_a_state_the_disk_had(seed: int, ops: list[int], synced: int) -> None:
    """After a crash the disk holds the synced state or a later one it really had
    (a prefix of the unsynced writes), never a mixture with a hole."""
    d = SimDisk()
    states: list[list[Entry]] = [[]]  # every state after each write
    for k, n in enumerate(ops):
        if k % 3 == 2 and d.last_index() > 1:
            d.truncate(d.last_index())
        else:
            d.append(entries(d.last_index() + 1, n, term=k + 1))
        states.append(list(d.log))
        if k + 1 == synced:
            d.sync()
    before_crash = states.index(list(d.log)) if list(d.log) in states else None
    assert before_crash is not None
    d.crash(random.Random(seed))
    after = list(d.log)
    assert after in states[synced if 1 <= synced <= len(ops) else 0:]


def test_sync_upto_makes_only_a_prefix_durable() -> None:
    d = SimDisk()
    d.append(entries(1, 1))
    mark = d.written
    d.append(entries(2, 1))
    d.sync_upto(mark)
    d.crash(random.Random(1))  # randint(0, 1) with this seed keeps nothing unsynced
    assert d.last_index() in (1, 2)
    d2 = SimDisk()
    d2.append(entries(1, 2))
    d2.sync_upto(d2.written)
    assert d2.crash(random.Random(0)) == 0 and d2.last_index() == 2


# -- network ------------------------------------------------------------------------

def msg(src: int, dst: int) -> TimeoutNow:
    return TimeoutNow(term=1, src=src, dst=dst)


def test_network_delays_within_bounds_and_partitions_both_ways() -> None:
    net = SimNetwork(random.Random(1), delay_ms_min=5, delay_ms_max=9)
    net.send(msg(1, 2), 0)
    assert net.due(4) == [] and net.due(9) == [msg(1, 2)]
    net.partition([(1,), (2, 3)], (1, 2, 3))
    net.send(msg(1, 2), 10)
    net.send(msg(2, 1), 10)
    net.send(msg(2, 3), 10)
    assert net.due(100) == [msg(2, 3)]
    assert net.stats.cut == 2


def test_partition_starting_mid_flight_drops_the_message() -> None:
    net = SimNetwork(random.Random(1))
    net.send(msg(1, 2), 0)
    net.partition([(1,), (2,)], (1, 2))
    assert net.due(100) == []
    net.heal()
    net.send(msg(1, 2), 100)
    assert net.due(200) == [msg(1, 2)]


def test_nodes_in_no_group_are_isolated() -> None:
    net = SimNetwork(random.Random(1))
    net.partition([(1, 2)], (1, 2, 3))
    assert net.connected(1, 2) and not net.connected(1, 3) and not net.connected(3, 2)


def test_loss_and_duplication_rates() -> None:
    net = SimNetwork(random.Random(7), loss=0.3, duplicate=0.2)
    for _ in range(2000):
        net.send(msg(1, 2), 0)
    got = len(net.due(1000))
    assert 500 < net.stats.lost < 700
    assert 200 < net.stats.duplicated < 380
    assert got == 2000 - net.stats.lost + net.stats.duplicated


def test_reordering_happens() -> None:
    net = SimNetwork(random.Random(3), delay_ms_min=1, delay_ms_max=50)
    sent = [TimeoutNow(term=t, src=1, dst=2) for t in range(1, 50)]
    for k, m in enumerate(sent):
        net.send(m, k)
    got = net.due(1000)
    assert sorted(got, key=lambda m: m.term) == sent and got != sent


def test_fifo_links_keep_order_per_link() -> None:
    net = SimNetwork(random.Random(3), delay_ms_min=1, delay_ms_max=50, fifo=True)
    sent = [TimeoutNow(term=t, src=1 + t % 2, dst=3) for t in range(1, 60)]
    for k, m in enumerate(sent):
        net.send(m, k)
    got = net.due(1000)
    for src in (1, 2):
        assert [m for m in got if m.src == src] == [m for m in sent if m.src == src]
    assert got != sent  # the two links still interleave freely


# -- schedules, determinism, replay -------------------------------------------------

@given(schedule=schedules(5))
def test_schedule_json_round_trip(schedule: tuple) -> None:
    assert schedule_from_json(schedule_to_json(schedule)) == schedule


def test_every_command_kind_round_trips() -> None:
    s = (Run(ticks=3), Propose(count=2), Partition(groups=((1, 2), (3,))), IsolateLeader(),
         Heal(), Crash(node=1), CrashLeader(), Restart(node=1),
         Network(loss=0.1, duplicate=0.0), Transfer(to=None), Transfer(to=2))
    assert schedule_from_json(schedule_to_json(s)) == s


@pytest.mark.parametrize("text", ["[[1", '[["Nope",{}]]', '[["Run",{"tick":1}]]', "{}"])
def test_bad_schedule_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="bad schedule"):
        schedule_from_json(text)


def test_same_seed_same_run_and_different_seeds_differ() -> None:
    a = run_simulation(SimOptions(seed=11), length=50)
    b = run_simulation(SimOptions(seed=11), length=50)
    c = run_simulation(SimOptions(seed=12), length=50)
    assert a == b
    assert a != c


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown bug"):
        SimOptions(seed=1, bugs=frozenset({"nope"}))
    with pytest.raises(ValueError, match="nodes"):
        SimOptions(seed=1, nodes=0)


def test_replay_command_names_every_non_default_option() -> None:
    opts = SimOptions(seed=5, nodes=5, max_inflight=2, fifo_links=True,
                      bugs=frozenset({"no-truncate-on-election"}))
    cmd = replay_command(opts, (Run(ticks=3),))
    assert "--seed 5" in cmd and "--nodes 5" in cmd and "--max-inflight 2" in cmd
    assert "--fifo-links" in cmd
    assert "--bug no-truncate-on-election" in cmd and "--schedule" in cmd
    assert "--length 7" in replay_command(opts, None, 7)


def test_leader_change_by_transfer_in_the_simulation() -> None:
    sim = Simulation(SimOptions(seed=3))
    sim.execute(Run(ticks=60))
    (lead,) = [s.id for s in sim._leaders()]
    sim.execute(Propose(count=3))
    sim.execute(Run(ticks=5))
    sim.execute(Transfer(to=None))
    sim.execute(Run(ticks=10))  # well under an election timeout
    leaders = [s.id for s in sim._leaders()]
    assert leaders and leaders != [lead]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.sim", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_failure_prints_a_replay_that_reproduces_it() -> None:
    bug = frozenset({"no-truncate-on-election"})
    failure = None
    for seed in range(60):
        try:
            run_simulation(SimOptions(seed=seed, bugs=bug))
        except SimFailure as e:
            failure = e
            break
    assert failure is not None
    argv = failure.replay.split()[3:]  # after "python -m harness.sim"
    out = _cli(*argv)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sim: seed=" in out.stdout  # options first
    assert failure.reason in out.stdout and failure.replay in out.stdout


def test_cli_passes_good_seeds_and_rejects_bad_input() -> None:
    out = _cli("--seed", "1", "--seeds", "2")
    assert out.returncode == 0 and out.stdout.count("ok:") == 2, out.stdout + out.stderr
    out = _cli("--schedule", "[[1")
    assert out.returncode == 2 and "bad schedule" in out.stderr and "Traceback" not in out.stderr
    out = _cli("--nodes", "0")
    assert out.returncode == 2 and "nodes must be" in out.stderr
    out = _cli("--bug", "nope")
    assert out.returncode == 2 and "invalid choice" in out.stderr
