"""Fault schedules: pure generators of timed steps, tested without any cluster.

A schedule is an iterable of `Step`: at ``at_s`` seconds after the run began, start
or stop a fault, or heal everything. Schedules never sleep and never read a clock:
the interpreter (`Nemesis.run`) does the waiting. Randomness comes only from the
``random.Random`` passed in, so a seed replays a schedule exactly.

- `interval`: Jepsen's usual rhythm: quiet for ``interval_s`` (+- ``jitter_s``), start
  a fault (templates taken in turn or at random), hold it ``duration_s``
  (+- jitter), stop it; repeat until ``until_s``. At most one of its faults is on.
- `mix`: several schedules merged by time (e.g. partitions and kills overlapping).
- `explicit`: a given list of steps, validated (times non-negative and sorted, every
  stop preceded by a start of an equal fault), e.g. from a hypothesis strategy.
- `with_final_heal`: cut a schedule at ``at_s`` and end it with one heal.
- `default_schedule`: what ``--nemesis a,b`` means: one interval schedule per kind,
  mixed, healed one interval before the time limit.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from harness.errors import UsageError
from harness.nemesis._faults import Cascade, Fault

Action = Literal["start", "stop", "heal"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    at_s: float
    action: Action
    fault: Fault | None = None

    def __post_init__(self) -> None:
        if self.action not in ("start", "stop", "heal"):
            raise UsageError(f"unknown schedule action {self.action!r} "
                             "(expected start, stop or heal)")
        if self.action != "heal" and self.fault is None:
            raise UsageError(f"a {self.action} step needs a fault")
        if self.at_s < 0:
            raise UsageError(f"a step cannot happen before the run starts (at_s={self.at_s})")


def _jittered(rng: random.Random, base: float, jitter: float) -> float:
    return max(0.0, base + (rng.uniform(-jitter, jitter) if jitter else 0.0))


def _slot(template: Fault | Cascade, t: float, hold: float) -> list[Step]:
    """One fault on at ``t`` and off after ``hold``; a cascade's members staggered."""
    if not isinstance(template, Cascade):
        return [Step(at_s=t, action="start", fault=template),
                Step(at_s=t + hold, action="stop", fault=template)]
    n = len(template.faults)
    hold = max(hold, (n - 1) * template.start_gap_s)
    return ([Step(at_s=t + i * template.start_gap_s, action="start", fault=f)
             for i, f in enumerate(template.faults)]
            + [Step(at_s=t + hold + i * template.stop_gap_s, action="stop", fault=f)
               for i, f in enumerate(template.faults)])


def interval(faults: Sequence[Fault | Cascade], rng: random.Random, *,
             interval_s: float = 10.0, duration_s: float | None = None,
             jitter_s: float = 0.0, until_s: float | None = None,
             order: Literal["cycle", "random"] = "cycle",
             start_s: float = 0.0) -> Iterator[Step]:
    """Quiet, fault on, fault off, ...; infinite when ``until_s`` is None. A cut at
    ``until_s`` still stops every fault it started (at ``until_s``)."""
    if not faults:
        return
    if interval_s <= 0:
        raise UsageError(f"interval_s must be > 0, got {interval_s}")
    hold = interval_s if duration_s is None else duration_s
    t = start_s
    i = 0
    while True:
        t += _jittered(rng, interval_s, jitter_s)
        if until_s is not None and t >= until_s:
            return
        fault = faults[i % len(faults)] if order == "cycle" else rng.choice(list(faults))
        i += 1
        steps = _slot(fault, t, _jittered(rng, hold, jitter_s))
        started: list[Fault] = []
        for step in steps:
            if until_s is not None and step.at_s >= until_s:
                for f in started:
                    yield Step(at_s=until_s, action="stop", fault=f)
                return
            if step.action == "start":
                started.append(step.fault)  # type: ignore[arg-type]
            else:
                started.remove(step.fault)  # type: ignore[arg-type]
            yield step
        t = steps[-1].at_s


def mix(*schedules: Iterable[Step]) -> Iterator[Step]:
    """Merge schedules by time (ties keep the argument order)."""
    return heapq.merge(*schedules, key=lambda s: s.at_s)


def explicit(steps: Iterable[Step]) -> list[Step]:
    """Validate a hand-made or generated list of steps and return it."""
    out = list(steps)
    active: list[Fault] = []
    last = 0.0
    for i, s in enumerate(out):
        if s.at_s < last:
            raise UsageError(f"schedule step {i} at {s.at_s}s comes before the previous "
                             f"step at {last}s (steps must be sorted by time)")
        last = s.at_s
        if s.action == "start":
            active.append(s.fault)  # type: ignore[arg-type]
        elif s.action == "stop":
            if s.fault not in active:
                raise UsageError(f"schedule step {i} stops {s.fault} which is not running")
            active.remove(s.fault)
        else:
            active.clear()
    return out


def with_final_heal(steps: Iterable[Step], at_s: float) -> Iterator[Step]:
    """Steps before ``at_s``, then one heal at ``at_s``."""
    for s in steps:
        if s.at_s >= at_s:
            break
        yield s
    yield Step(at_s=at_s, action="heal")


def default_schedule(faults: Sequence[Fault | Cascade], rng: random.Random,
                     time_limit_s: float, *, interval_s: float = 10.0,
                     jitter_s: float = 2.0) -> Iterator[Step]:
    """Jepsen's default for ``--nemesis a,b``: one interval schedule per fault kind,
    mixed, healed ``interval_s`` before the end so the run can check liveness. Each
    kind takes its templates in turn, in the order given, so that a short run still
    gets the first (`NEMESES` lists the most revealing first); times are jittered."""
    by_kind: dict[str, list[Fault | Cascade]] = {}
    for f in faults:
        by_kind.setdefault(f.kind, []).append(f)
    heal_at = max(0.0, time_limit_s - interval_s)
    parts = [interval(fs, random.Random(rng.getrandbits(64)), interval_s=interval_s,
                      jitter_s=jitter_s, until_s=heal_at, order="cycle")
             for _, fs in sorted(by_kind.items())]
    return with_final_heal(mix(*parts), heal_at)
