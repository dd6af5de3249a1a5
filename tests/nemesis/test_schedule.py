"""Schedules are pure generators: seeded, bounded, composable, validated."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.nemesis import (
    NEMESES,
    OPS,
    Kill,
    Partition,
    Pause,
    Step,
    explicit,
    interval,
    mix,
    parse_nemesis,
    with_final_heal,
)


def test_interval_alternates_start_and_stop_within_jitter() -> None:
    faults = [Partition(topology="majority"), Kill()]
    steps = list(interval(faults, random.Random(1), interval_s=10, duration_s=5,
                          jitter_s=2, until_s=100))
    assert [s.action for s in steps] == ["start", "stop"] * (len(steps) // 2)
    assert [s.fault for s in steps[::2]] == list(itertools.islice(itertools.cycle(faults),
                                                                 len(steps) // 2))
    last = 0.0
    for start, stop in zip(steps[::2], steps[1::2]):
        assert 8 <= start.at_s - last <= 12
        assert 3 <= stop.at_s - start.at_s <= 7
        assert start.fault == stop.fault
        last = stop.at_s
    assert steps[-1].at_s <= 100


def test_interval_replays_from_its_seed() -> None:
    a = list(interval([Kill(), Pause()], random.Random(9), jitter_s=3, until_s=200,
                      order="random"))
    b = list(interval([Kill(), Pause()], random.Random(9), jitter_s=3, until_s=200,
                      order="random"))
    assert a == b and len(a) > 4


def test_interval_is_infinite_without_until() -> None:
    assert len(list(itertools.islice(interval([Kill()], random.Random(0)), 1000))) == 1000


def test_interval_cut_at_until_still_stops_the_fault() -> None:
    steps = list(interval([Kill()], random.Random(0), interval_s=10, duration_s=30,
                          until_s=25))
    assert [(s.at_s, s.action) for s in steps] == [(10, "start"), (25, "stop")]


def test_mix_merges_by_time() -> None:
    a = interval([Partition()], random.Random(1), interval_s=7, until_s=60)
    b = interval([Kill()], random.Random(2), interval_s=5, until_s=60)
    merged = list(mix(a, b))
    times = [s.at_s for s in merged]
    assert times == sorted(times)
    assert {type(s.fault) for s in merged} == {Partition, Kill}


def test_explicit_validates_order_and_pairing() -> None:
    k = Kill(nodes=("n1",))
    ok = explicit([Step(at_s=1, action="start", fault=k), Step(at_s=2, action="stop", fault=k),
                   Step(at_s=3, action="heal")])
    assert len(ok) == 3
    with pytest.raises(UsageError, match="must be sorted"):
        explicit([Step(at_s=2, action="start", fault=k), Step(at_s=1, action="stop", fault=k)])
    with pytest.raises(UsageError, match="not running"):
        explicit([Step(at_s=1, action="stop", fault=k)])
    with pytest.raises(UsageError, match="unknown schedule action"):
        Step(at_s=1, action="explode", fault=k)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="before the run starts"):
        Step(at_s=-1, action="heal")


steps_strategy = st.lists(st.tuples(st.floats(0, 100), st.sampled_from(["kill", "pause"])),
                          max_size=20)


@given(steps_strategy)
def test_generated_schedules_round_trip_through_explicit(raw: list[tuple[float, str]]) -> None:
    # a hypothesis-style schedule: each fault starts and stops one second later
    steps = []
    for t, kind in sorted(raw):
        f = Kill(nodes=("n1",)) if kind == "kill" else Pause(nodes=("n2",))
        steps += [Step(at_s=t, action="start", fault=f)]
    steps.sort(key=lambda s: s.at_s)
    out = explicit(steps)
    assert out == steps
    healed = list(with_final_heal(out, 50.0))
    assert healed[-1].action == "heal" and all(s.at_s < 50 for s in healed[:-1])


def test_nemesis_names_and_ops() -> None:
    faults = parse_nemesis("partition,kill")
    assert {f.kind for f in faults} == {"partition", "kill"}
    assert parse_nemesis("none") == [] and parse_nemesis("") == []
    assert all(f.kind in OPS for fs in NEMESES.values() for f in fs)
    assert {"kill-leader", "kill-leader-last", "pause-leader", "kill-majority"} <= set(NEMESES)
    assert OPS["partition"] == ("start-partition", "stop-partition")
    assert OPS["kill"] == ("kill", "start") and OPS["pause"] == ("pause", "resume")


def test_default_schedule_mixes_kinds_and_heals_before_the_limit() -> None:
    from harness.nemesis import default_schedule
    steps = list(default_schedule(parse_nemesis("partition,kill"), random.Random(3), 120.0))
    assert steps[-1] == Step(at_s=110.0, action="heal")
    kinds = {s.fault.kind for s in steps if s.fault is not None}
    assert kinds == {"partition", "kill"}
    assert [s.at_s for s in steps] == sorted(s.at_s for s in steps)
    again = list(default_schedule(parse_nemesis("partition,kill"), random.Random(3), 120.0))
    assert again == steps


def test_fault_kinds_registry() -> None:
    from harness.nemesis import FAULT_KINDS, get_fault
    assert get_fault("kill") is Kill and set(FAULT_KINDS) == set(OPS)
    with pytest.raises(UsageError, match=r"unknown fault 'nuke' \(valid: bandwidth, clock,"):
        get_fault("nuke")


def test_a_cascade_staggers_its_starts_and_stops_first_in_first_out() -> None:
    from harness.nemesis import Cascade
    a, b = Kill(target="followers"), Kill(target="all")
    cas = Cascade(faults=(a, b), start_gap_s=0.5, stop_gap_s=4.0)
    steps = list(interval([cas], random.Random(0), interval_s=10, duration_s=5,
                          until_s=30))
    assert [(s.at_s, s.action, s.fault) for s in steps[:4]] == [
        (10, "start", a), (10.5, "start", b), (15, "stop", a), (19, "stop", b)]
    assert steps[4].at_s == 29  # the next quiet interval counts from the last stop
    assert explicit(steps) == steps
    cut = list(interval([cas], random.Random(0), interval_s=10, duration_s=5, until_s=17))
    assert [(s.at_s, s.action, s.fault) for s in cut] == [
        (10, "start", a), (10.5, "start", b), (15, "stop", a), (17, "stop", b)]
    assert cas.kind == "kill" and cas.describe()["kind"] == "cascade"
    with pytest.raises(UsageError, match="one or more faults"):
        Cascade(faults=())


def test_default_schedule_takes_a_names_templates_in_order() -> None:
    from harness.nemesis import LEADER_LAST, STALE_FIRST, default_schedule
    steps = list(default_schedule(parse_nemesis("kill"), random.Random(1), 60.0,
                                  interval_s=5.0, jitter_s=1.0))
    starts = [s.fault for s in steps if s.action == "start"]
    assert starts[:2] == list(LEADER_LAST.faults)  # the most revealing kill comes first
    assert starts[2:5] == [Kill(target="leader"), *STALE_FIRST.faults]
    assert explicit(steps) == steps


def test_process_fault_targets_are_validated() -> None:
    from harness.nemesis import TARGETS
    assert {"one", "leader", "followers", "majority", "all"} <= set(TARGETS)
    with pytest.raises(UsageError, match=r"unknown fault target 'boss' \(valid: one, leader"):
        Kill(target="boss")
    with pytest.raises(UsageError, match="unknown fault target"):
        Pause(target="primary")
    assert {f.target for f in parse_nemesis("kill") if isinstance(f, Kill)} >= {
        "leader", "majority", "one"}
