"""Faults as data: frozen descriptions, realised and applied only by `Nemesis`.

A fault names what to break and, optionally, whom. Left open (``nodes=None``,
``grudge=None``), the nemesis picks the victims when the fault starts (kills and
pauses by ``target``, see `TARGETS`; random picks with its seeded ``random.Random``,
``leader`` from the brokers' Metadata) and records whom it picked; given explicitly
(as hypothesis-generated schedules do), it is applied as is. A `Cascade` is a
schedule template made of faults started one after another.

Each fault kind has one pair of history ops (`OPS`): the nemesis records the first
when the fault starts and the second when it ends. `Reset` is instantaneous.
`NEMESES` maps the names accepted by ``logtrial run --nemesis a,b`` to fault
templates; `parse_nemesis` turns such a list into faults or raises `UsageError`
listing the valid names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from harness.errors import UsageError
from harness.nemesis._grudge import TOPOLOGIES


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """Base of every fault; ``kind`` names the component that applies it."""

    kind: ClassVar[str] = ""

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if v is not None:
                d[name] = sorted(v) if isinstance(v, (tuple, frozenset)) else v
        return d


@dataclass(frozen=True, kw_only=True, slots=True)
class Partition(Fault):
    kind: ClassVar[str] = "partition"
    topology: str = "majority"
    #: explicit grudge (dst -> srcs it drops); overrides ``topology`` when given
    grudge: Mapping[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if self.grudge is None and self.topology not in TOPOLOGIES:
            raise UsageError(f"unknown partition topology {self.topology!r} "
                             f"(valid: {', '.join(TOPOLOGIES)})")

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "topology": self.topology}
        if self.grudge is not None:
            d["grudge"] = {k: sorted(v) for k, v in sorted(self.grudge.items())}
        return d


#: whom a process fault hits when no nodes are named (Jepsen's nemesis targets), among
#: the nodes not already killed or paused: ``one`` = ``count`` random nodes;
#: ``leader`` = the node leading the most partitions (the nemesis's ``leader_of``);
#: ``followers`` = every node but that one; ``majority`` / ``minority`` = that many
#: random nodes of the cluster; ``all`` = every node.
TARGETS: Final[tuple[str, ...]] = ("one", "leader", "followers", "majority", "minority",
                                   "all")


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise UsageError(f"unknown fault target {target!r} (valid: {', '.join(TARGETS)})")


@dataclass(frozen=True, kw_only=True, slots=True)
class Kill(Fault):
    """SIGKILL the nodes; the stop op restarts them."""

    kind: ClassVar[str] = "kill"
    nodes: tuple[str, ...] | None = None
    count: int = 1
    target: str = "one"

    def __post_init__(self) -> None:
        _check_target(self.target)


@dataclass(frozen=True, kw_only=True, slots=True)
class Pause(Fault):
    """SIGSTOP the nodes; the stop op sends SIGCONT."""

    kind: ClassVar[str] = "pause"
    nodes: tuple[str, ...] | None = None
    count: int = 1
    target: str = "one"

    def __post_init__(self) -> None:
        _check_target(self.target)


@dataclass(frozen=True, kw_only=True, slots=True)
class Cascade:
    """Faults that start one after another, ``start_gap_s`` apart, and stop in the same
    order (first in, first out), ``stop_gap_s`` apart: one template of a schedule.

    `LEADER_LAST` is the crash that separates acknowledging on commit from
    acknowledging on append: the followers die, the leader outlives them alone for
    ``start_gap_s`` (a correct leader can commit nothing then), then it dies too; the
    followers come back first and, ``stop_gap_s`` later, so does the old leader, which
    by then must follow a leader elected without it."""

    faults: tuple[Fault, ...]
    start_gap_s: float = 0.5
    stop_gap_s: float = 4.0

    def __post_init__(self) -> None:
        if not self.faults or any(isinstance(f, Cascade) for f in self.faults):
            raise UsageError("a cascade needs one or more faults (not cascades)")
        if self.start_gap_s < 0 or self.stop_gap_s < 0:
            raise UsageError("a cascade's gaps must be >= 0 seconds")

    @property
    def kind(self) -> str:
        return self.faults[0].kind

    def describe(self) -> dict[str, Any]:
        return {"kind": "cascade", "faults": [f.describe() for f in self.faults],
                "start_gap_s": self.start_gap_s, "stop_gap_s": self.stop_gap_s}


@dataclass(frozen=True, kw_only=True, slots=True)
class Loss(Fault):
    """Drop this share of the packets into the nodes (all nodes if None)."""

    kind: ClassVar[str] = "loss"
    probability: float = 0.2
    nodes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.probability <= 1.0:
            raise UsageError(f"loss probability must be in (0, 1], got {self.probability}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Slow(Fault):
    """Add latency with jitter to every link (proxy backend)."""

    kind: ClassVar[str] = "slow"
    latency_ms: float = 50.0
    jitter_ms: float = 10.0

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise UsageError("latency_ms and jitter_ms must be >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class Bandwidth(Fault):
    """Throttle the traffic out of the nodes (all nodes if None)."""

    kind: ClassVar[str] = "bandwidth"
    kbit_s: int = 1000
    nodes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kbit_s <= 0:
            raise UsageError(f"bandwidth must be > 0 kbit/s, got {self.kbit_s}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Clock(Fault):
    """Skew the nodes' wall clocks by ``offset_s`` (random sign and size up to it when
    ``random_offset``); with ``strobe_period_ms`` the clock flips between +offset and
    0 at that period until the fault stops. Needs libfaketime (target ``clock``)."""

    kind: ClassVar[str] = "clock"
    offset_s: float = 60.0
    nodes: tuple[str, ...] | None = None
    count: int = 1
    random_offset: bool = True
    strobe_period_ms: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Reset(Fault):
    """Abort every connection of the nodes (proxy backend); instantaneous."""

    kind: ClassVar[str] = "reset"
    nodes: tuple[str, ...] | None = None
    count: int = 1


#: fault kind -> (op recorded at start, op recorded at stop)
OPS: Final[dict[str, tuple[str, str]]] = {
    "partition": ("start-partition", "stop-partition"),
    "kill": ("kill", "start"),
    "pause": ("pause", "resume"),
    "loss": ("start-loss", "stop-loss"),
    "slow": ("start-slow", "stop-slow"),
    "bandwidth": ("start-bandwidth", "stop-bandwidth"),
    "clock": ("bump-clock", "reset-clock"),
    "reset": ("reset", "reset"),
}

#: which layer must support a fault: the target (process faults) or the backend.
BACKEND_FAULTS: Final[frozenset[str]] = frozenset(
    {"partition", "loss", "slow", "bandwidth", "reset"})

#: fault kind -> class, e.g. for a hypothesis strategy or a JSON schedule.
FAULT_KINDS: Final[dict[str, type[Fault]]] = {
    c.kind: c for c in (Partition, Kill, Pause, Loss, Slow, Bandwidth, Clock, Reset)}


def get_fault(kind: str) -> type[Fault]:
    """The fault class of ``kind``, or `UsageError` listing the valid kinds."""
    try:
        return FAULT_KINDS[kind]
    except KeyError:
        raise UsageError(f"unknown fault {kind!r} (valid: {', '.join(sorted(FAULT_KINDS))})"
                         ) from None


#: the followers die, then the leader; the followers restart first (see `Cascade`).
LEADER_LAST: Final = Cascade(faults=(Kill(target="followers"), Kill(target="all")))

#: one node dies, the others commit without it for 2 s and then die too; the stale node
#: restarts first, the others 4 s later: a correct cluster never lets it lead (its log
#: lacks committed entries); an unclean election does, and it overwrites them.
STALE_FIRST: Final = Cascade(faults=(Kill(target="one"), Kill(target="all")),
                             start_gap_s=2.0, stop_gap_s=4.0)

#: Templates are taken in the listed order (`default_schedule`), so a short run still
#: gets the first ones: each name lists its most revealing fault first.
NEMESES: Final[dict[str, tuple[Fault | Cascade, ...]]] = {
    "partition": (Partition(topology="one"), Partition(topology="majority"),
                  Partition(topology="majorities-ring"), Partition(topology="bridge")),
    "partition-one": (Partition(topology="one"),),
    "partition-majority": (Partition(topology="majority"),),
    "partition-majorities-ring": (Partition(topology="majorities-ring"),),
    "partition-bridge": (Partition(topology="bridge"),),
    "partition-leader": (Partition(topology="leader"),),
    "partition-one-way": (Partition(topology="one-way"),),
    # Mixed targets, as ``partition`` mixes topologies.
    "kill": (LEADER_LAST, Kill(target="leader"), STALE_FIRST, Kill(target="majority"),
             Kill(target="one")),
    "kill-leader-last": (LEADER_LAST,),
    "kill-stale-first": (STALE_FIRST,),
    "kill-one": (Kill(target="one"),),
    "kill-leader": (Kill(target="leader"),),
    "kill-majority": (Kill(target="majority"),),
    "kill-all": (Kill(target="all"),),
    "pause": (Pause(target="leader"), Pause(target="majority"), Pause(target="one")),
    "pause-one": (Pause(target="one"),),
    "pause-leader": (Pause(target="leader"),),
    "pause-majority": (Pause(target="majority"),),
    "pause-all": (Pause(target="all"),),
    "loss": (Loss(),),
    "slow": (Slow(),),
    "bandwidth": (Bandwidth(),),
    "clock": (Clock(),),
    "clock-strobe": (Clock(offset_s=5.0, random_offset=False, strobe_period_ms=100.0),),
    "reset": (Reset(),),
}


def parse_nemesis(spec: str | None) -> list[Fault | Cascade]:
    """``"partition,kill"`` -> fault templates; ``""``/``"none"`` -> no faults."""
    if spec is None or spec.strip() in ("", "none"):
        return []
    out: list[Fault | Cascade] = []
    for name in spec.split(","):
        name = name.strip()
        try:
            out.extend(NEMESES[name])
        except KeyError:
            raise UsageError(f"unknown nemesis {name!r} (valid: none, "
                             f"{', '.join(sorted(NEMESES))})") from None
    return out
