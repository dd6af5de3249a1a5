"""Hypothesis strategies for fault schedules (import this module only in tests).

`schedules(nodes)` draws an explicit schedule: for each fault kind, a sequence of
non-overlapping intervals, each a concrete fault (named nodes, an explicit grudge),
merged by time. Everything is a choice Hypothesis can shrink: fewer faults, shorter
intervals, smaller grudges. The result always passes `explicit`, so the nemesis can
run it as is; times are in seconds from the run's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from harness.nemesis._faults import Fault, Kill, Loss, Partition, Pause
from harness.nemesis._schedule import Step, explicit

KINDS = ("partition", "kill", "pause", "loss")


@st.composite
def grudges(draw: Any, nodes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """A non-empty grudge over ``nodes`` (possibly one-way)."""
    g: dict[str, tuple[str, ...]] = {}
    for dst in nodes:
        srcs = draw(st.lists(st.sampled_from([n for n in nodes if n != dst]), unique=True,
                             max_size=len(nodes) - 1))
        if srcs:
            g[dst] = tuple(sorted(srcs))
    if not g:
        a, b = nodes[0], nodes[1]
        g[a] = (b,)
    return g


@st.composite
def faults(draw: Any, kind: str, nodes: Sequence[str]) -> Fault:
    one_node = st.sampled_from(list(nodes)).map(lambda n: (n,))
    if kind == "partition":
        return Partition(topology="explicit", grudge=draw(grudges(nodes)))
    if kind == "kill":
        return Kill(nodes=draw(one_node))
    if kind == "pause":
        return Pause(nodes=draw(one_node))
    if kind == "loss":
        p = draw(st.sampled_from([0.1, 0.3, 0.5]))
        return Loss(probability=p, nodes=draw(one_node))
    raise ValueError(f"no strategy for fault kind {kind!r}")


@st.composite
def schedules(draw: Any, nodes: Sequence[str], kinds: Sequence[str] = KINDS, *,
              horizon_s: float = 10.0, max_faults_per_kind: int = 3) -> list[Step]:
    """An explicit schedule within ``horizon_s`` seconds over ``nodes`` (>= 2)."""
    steps: list[Step] = []
    # Kills and pauses share one timeline: a killed node cannot also be paused (the
    # nemesis would record that as an error), so their intervals never overlap.
    clock: dict[str, float] = {}
    for kind in kinds:
        timeline = "process" if kind in ("kill", "pause") else kind
        t = clock.get(timeline, 0.0)
        for _ in range(draw(st.integers(0, max_faults_per_kind))):
            gap = draw(st.floats(0.0, horizon_s / 4, allow_nan=False))
            hold = draw(st.floats(0.01, horizon_s / 4, allow_nan=False))
            if t + gap + hold > horizon_s:
                break
            f = draw(faults(kind, nodes))
            steps.append(Step(at_s=t + gap, action="start", fault=f))
            steps.append(Step(at_s=t + gap + hold, action="stop", fault=f))
            t += gap + hold
        clock[timeline] = t
    steps.sort(key=lambda s: (s.at_s, s.action != "stop"))
    return explicit(steps)
