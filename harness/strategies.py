"""Hypothesis strategies for workloads, fault schedules and run options, so that suites
can ``@given`` them; shrinking then finds the smallest workload or schedule that still
fails, and hypothesis prints the example that replays it.

Schedules are generated as pure data (`harness.nemesis.Step` lists) that
`harness.nemesis.explicit` accepts: sorted, every stop after a start of the same fault,
at most one instance of a fault on at a time, ending with a heal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from harness.nemesis import Fault, Step, explicit
from harness.workload import KafkaWorkload


def kafka_workloads(max_keys: int = 8, max_rate: float = 500.0) -> st.SearchStrategy[KafkaWorkload]:
    """Key counts, rates, send/poll mixes, assign or subscribe, key skew."""
    return st.builds(
        KafkaWorkload,
        keys=st.integers(1, max_keys).map(lambda n: tuple(str(i) for i in range(n))),
        rate=st.floats(10.0, max_rate, allow_nan=False),
        send_share=st.floats(0.1, 0.9, allow_nan=False),
        reattach_share=st.floats(0.0, 0.1, allow_nan=False),
        sub_via=st.sampled_from(["assign", "subscribe"]),
        key_skew=st.floats(0.0, 2.0, allow_nan=False),
    )


@st.composite
def fault_schedules(draw: st.DrawFn, faults: Sequence[Fault], time_limit_s: float,
                    max_faults: int = 4, min_gap_s: float = 0.5) -> list[Step]:
    """Start/stop windows of ``faults`` inside ``[0, time_limit_s)``, then a heal."""
    if not faults:
        return [Step(at_s=time_limit_s, action="heal")]
    n = draw(st.integers(0, max_faults))
    heal_at = time_limit_s
    steps: list[Step] = []
    busy_until: dict[int, float] = {}
    for _ in range(n):
        i = draw(st.integers(0, len(faults) - 1))
        start = draw(st.floats(busy_until.get(i, 0.0), max(busy_until.get(i, 0.0),
                                                        heal_at - min_gap_s),
                               allow_nan=False))
        if start + min_gap_s > heal_at:
            continue
        stop = draw(st.floats(start + min_gap_s / 2, heal_at, allow_nan=False))
        busy_until[i] = stop + min_gap_s / 2
        steps.append(Step(at_s=start, action="start", fault=faults[i]))
        steps.append(Step(at_s=stop, action="stop", fault=faults[i]))
    steps.sort(key=lambda s: (s.at_s, s.action != "stop"))
    steps.append(Step(at_s=heal_at, action="heal"))
    return explicit(_dedupe_overlaps(steps))


def _dedupe_overlaps(steps: list[Step]) -> list[Step]:
    """Drop a start of a fault that is already on (and its stop), keeping validity."""
    out: list[Step] = []
    on: list[Any] = []
    skip: list[Any] = []
    for s in steps:
        if s.action == "start":
            if s.fault in on:
                skip.append(s.fault)
                continue
            on.append(s.fault)
        elif s.action == "stop":
            if s.fault in skip:
                skip.remove(s.fault)
                continue
            on.remove(s.fault)
        out.append(s)
    return out


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)
