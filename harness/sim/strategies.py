"""Hypothesis strategies for simulation schedules.

A schedule is plain data, so hypothesis shrinks a failing one to a short list of
commands (fewer faults, fewer ticks) and prints it; `schedule_to_json` of it is
what ``python -m harness.sim --schedule`` replays.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ._schedule import (
    Command,
    Compact,
    Crash,
    CrashLeader,
    Heal,
    IsolateLeader,
    Network,
    Partition,
    Propose,
    Restart,
    Run,
    Schedule,
    Transfer,
)


@st.composite
def partitions(draw: st.DrawFn, nodes: int) -> Partition:
    """Two sides (either may hold one node), or one node cut off from the rest."""
    ids = draw(st.permutations(range(1, nodes + 1)))
    cut = draw(st.integers(1, nodes - 1)) if nodes > 1 else 1
    return Partition(groups=(tuple(sorted(ids[:cut])), tuple(sorted(ids[cut:]))))


#: Command kinds with their weights (a kind listed twice is drawn twice as often):
#: traffic and time dominate, so faults land on a cluster that is doing something.
#: Shrinking moves towards the front of the list.
_KINDS = ("run", "propose", "propose", "propose", "partition", "isolate-leader",
          "isolate-leader", "heal", "crash", "crash-leader", "restart", "restart",
          "network", "transfer", "compact")


@st.composite
def commands(draw: st.DrawFn, nodes: int, max_ticks: int = 80) -> Command:
    kind = draw(st.sampled_from(_KINDS))
    node = st.integers(1, nodes)
    rate = st.sampled_from((0.0, 0.05, 0.2, 0.5))
    if kind == "run":
        return Run(ticks=draw(st.integers(1, max_ticks)))
    if kind == "propose":
        return Propose(count=draw(st.integers(1, 10)))
    if kind == "partition":
        return draw(partitions(nodes))
    if kind == "isolate-leader":
        return IsolateLeader()
    if kind == "heal":
        return Heal()
    if kind == "crash":
        return Crash(node=draw(node))
    if kind == "crash-leader":
        return CrashLeader()
    if kind == "restart":
        return Restart(node=draw(node))
    if kind == "network":
        return Network(loss=draw(rate), duplicate=draw(rate))
    if kind == "compact":
        return Compact(keep=draw(st.sampled_from((0, 3))))
    return Transfer(to=draw(st.none() | node))


def schedules(nodes: int, max_length: int = 30, max_ticks: int = 80, min_length: int = 6,
              warmup_ticks: int = 40) -> st.SearchStrategy[Schedule]:
    """Schedules for a cluster of ``nodes`` (ids 1..nodes): ``warmup_ticks`` to
    elect a first leader, then ``min_length`` to ``max_length`` commands, each
    followed by a `Run` so that faults have time to matter (shrinking drives the
    ticks down to what a failure needs)."""
    step = st.tuples(commands(nodes, max_ticks), st.integers(0, max_ticks))
    warmup: tuple[Run, ...] = (Run(ticks=warmup_ticks),) if warmup_ticks else ()
    return st.lists(step, min_size=min_length, max_size=max_length).map(
        lambda steps: warmup + tuple(c for cmd, ticks in steps
                                     for c in ((cmd, Run(ticks=ticks)) if ticks else (cmd,))))
