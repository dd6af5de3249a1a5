"""Schedules: what happens to a simulated cluster, as pure data.

A schedule is a tuple of commands run in order; `Run` lets simulated time pass,
every other command takes no time. Schedules come from a seed (`random_schedule`)
or from hypothesis (``harness.sim.strategies``), and print as JSON
(`schedule_to_json`), which ``python -m harness.sim --schedule`` reads back, so
any failing run replays exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

from harness.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """Let ``ticks`` ticks of simulated time pass (messages, timers, fsyncs)."""

    ticks: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Propose:
    """Clients propose ``count`` new values to whichever nodes think they lead."""

    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """Cut the network into ``groups``; nodes in no group are isolated."""

    groups: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IsolateLeader:
    """Cut the current leader (the one of the highest term) off from every node."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Heal:
    """Remove every partition."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    """Kill ``node``: unsynced writes may be lost (a random prefix survives)."""

    node: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CrashLeader:
    """Kill the current leader (the one of the highest term), if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    """Start ``node`` again from its disk (nothing if it is up)."""

    node: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """Set the chance that a message is lost, and that it is delivered twice."""

    loss: float
    duplicate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Compact:
    """Retention: every live node forgets its log up to ``keep`` entries below its
    commit index (a lagging follower then needs the leader's snapshot)."""

    keep: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """The current leader hands over leadership to ``to`` (None: its choice)."""

    to: int | None


Command = (Run | Propose | Partition | IsolateLeader | Heal | Crash | CrashLeader | Restart
           | Network | Transfer | Compact)
Schedule = tuple[Command, ...]

_KINDS: dict[str, type] = {c.__name__: c for c in
                           (Run, Propose, Partition, IsolateLeader, Heal, Crash, CrashLeader,
                            Restart, Network, Transfer, Compact)}


def schedule_to_json(schedule: Schedule) -> str:
    """One line of JSON: a list of ``[name, {fields}]``."""
    return json.dumps([[type(c).__name__, asdict(c)] for c in schedule],
                      separators=(",", ":"))


def schedule_from_json(text: str) -> Schedule:
    """Parse `schedule_to_json`'s output; a bad schedule raises `UsageError`."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, list):
            raise TypeError(f"a JSON list, not {type(raw).__name__}")
        out: list[Command] = []
        for name, fields in raw:
            cls = _KINDS[name]
            if cls is Partition:
                fields = {"groups": tuple(tuple(g) for g in fields["groups"])}
            out.append(cls(**fields))
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"bad schedule {text[:80]!r}: {e} (expected the JSON list that a "
                         f"failing simulation prints, e.g. [[\"Run\",{{\"ticks\":10}}]])") from e
    return tuple(out)


def random_schedule(rng: random.Random, nodes: int, length: int) -> Schedule:
    """``length`` commands mixing traffic and faults (the seed-driven mode)."""
    ids = list(range(1, nodes + 1))
    out: list[Command] = []
    for _ in range(length):
        r = rng.random()
        if r < 0.35:
            out.append(Run(ticks=rng.randint(1, 60)))
        elif r < 0.6:
            out.append(Propose(count=rng.randint(1, 8)))
        elif r < 0.66 and nodes > 1:
            shuffled = rng.sample(ids, len(ids))
            cut = rng.randint(1, nodes - 1)
            out.append(Partition(groups=(tuple(sorted(shuffled[:cut])),
                                         tuple(sorted(shuffled[cut:])))))
        elif r < 0.7:
            out.append(IsolateLeader())
        elif r < 0.77 or r < 0.7:
            out.append(Heal())
        elif r < 0.81:
            out.append(Crash(node=rng.choice(ids)))
        elif r < 0.84:
            out.append(CrashLeader())
        elif r < 0.93:
            out.append(Restart(node=rng.choice(ids)))
        elif r < 0.96:
            out.append(Network(loss=rng.choice((0.0, 0.05, 0.2)),
                               duplicate=rng.choice((0.0, 0.05, 0.2))))
        elif r < 0.98:
            out.append(Transfer(to=rng.choice([None, *ids])))
        else:
            out.append(Compact(keep=rng.choice((0, 0, 3))))
    return tuple(out)
