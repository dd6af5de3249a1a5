"""Hypothesis strategies for simulation schedules.

A schedule is plain data, so hypothesis shrinks a failing one to a short list of
commands (fewer faults, fewer ticks) and prints it; `schedule_to_json` of it is
what ``python -m harness.sim --schedule`` replays.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ._schedule import (
    Command,
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


def commands(nodes: int, max_ticks: int = 80) -> st.SearchStrategy[Command]:
    node = st.integers(1, nodes)
    rate = st.sampled_from((0.0, 0.05, 0.2, 0.5))
    return st.one_of(
        st.builds(Run, ticks=st.integers(1, max_ticks)),
        st.builds(Propose, count=st.integers(1, 10)),
        partitions(nodes),
        st.just(IsolateLeader()),
        st.just(Heal()),
        st.builds(Crash, node=node),
        st.just(CrashLeader()),
        st.builds(Restart, node=node),
        st.builds(Network, loss=rate, duplicate=rate),
        st.builds(Transfer, to=st.none() | node),
    )


def schedules(nodes: int, max_length: int = 30, max_ticks: int = 80, min_length: int = 4
              ) -> st.SearchStrategy[Schedule]:
    """Schedules for a cluster of ``nodes`` (ids 1..nodes): ``min_length`` to
    ``max_length`` commands, each followed by a `Run` so that faults have time to
    matter (shrinking drives the ticks down to what the failure needs)."""
    step = st.tuples(commands(nodes, max_ticks), st.integers(0, max_ticks))
    return st.lists(step, min_size=min_length, max_size=max_length).map(
        lambda steps: tuple(c for cmd, ticks in steps
                            for c in ((cmd, Run(ticks=ticks)) if ticks else (cmd,))))
