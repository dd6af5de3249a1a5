"""The nemesis: the one component that turns fault data into actions on a cluster.

`Nemesis.start(fault)` realises a fault (resolves a kill's or pause's target: random
victims from its seeded rng, the leader or its followers from ``leader_of``;
computes the grudge), applies it through the cluster (process faults) or the backend
(network faults) and records one op; `stop(fault)` undoes the most recent equal
active fault and records the matching op (`OPS`); `heal` stops everything still
active (oldest first, so the first node killed is the first restarted; a kill's
nodes restart in parallel), heals the network, resumes paused nodes, restarts dead
ones, resets clocks and records ``heal``. `run` interprets a schedule with an
injected clock and a stop event, and always ends with `heal`.

An explicit grudge may name ``client`` (the clients' side) as well as nodes.
Active partitions compose: the applied grudge is the union of every active one, so
stopping one partition leaves the others in force.

Recording: the nemesis never builds history ops itself; it calls
``recorder.record(f, value)`` after a fault took effect, and the run interpreter
turns that into an ``info`` op of process ``"nemesis"``. A kill's or pause's value
names its ``target`` and the resolved ``nodes`` (a ``followers`` target also the
``leader`` it spared). A fault that cannot be
applied is recorded with ``"error"`` in its value and kept out of the active set;
the nemesis does not raise mid-run (except `UsageError` from `check`, before).
It must not sleep while holding the cluster (only `run` waits) and must not pick
victims outside the cluster's nodes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.cluster import CLIENT, Cluster
from harness.errors import LogtrialError, UsageError
from harness.nemesis import _grudge
from harness.nemesis._faults import (
    BACKEND_FAULTS,
    OPS,
    Bandwidth,
    Cascade,
    Clock,
    Fault,
    Kill,
    Loss,
    Partition,
    Pause,
    Reset,
    Slow,
)
from harness.nemesis._schedule import Step


class Recorder(Protocol):
    """Where the nemesis reports what it did; the run interpreter owns the history."""

    def record(self, f: str, value: Any) -> None: ...


@dataclass
class ListRecorder:
    """A recorder that keeps ``(time_ns, f, value)``; ``now_ns`` is injected."""

    now_ns: Callable[[], int]
    events: list[tuple[int, str, Any]] = field(default_factory=list)

    def record(self, f: str, value: Any) -> None:
        self.events.append((self.now_ns(), f, value))

    def fs(self) -> list[str]:
        return [f for _, f, _ in self.events]

    def to_ops(self, start_index: int = 0) -> list[Any]:
        from harness.history import Op
        return [Op(index=start_index + i, time=t, process="nemesis", type="info", f=f,
                   value=v) for i, (t, f, v) in enumerate(self.events)]


@dataclass
class _Active:
    fault: Fault
    value: dict[str, Any]
    grudge: _grudge.Grudge | None = None
    strobe: threading.Event | None = None
    strobe_thread: threading.Thread | None = None


class Nemesis:
    """Applies faults to one cluster and records each start and end."""

    def __init__(self, cluster: Cluster, recorder: Recorder, rng: random.Random, *,
                 leader_of: Callable[[], str | None] | None = None) -> None:
        self.cluster = cluster
        self.recorder = recorder
        self.rng = rng
        self.leader_of = leader_of
        self.active: list[_Active] = []
        self.errors: list[str] = []
        self._lock = threading.RLock()

    # validation ------------------------------------------------------------------

    def check(self, faults: Iterable[Fault | Cascade]) -> None:
        """Raise `UsageError` for a fault this target/backend cannot inject."""
        target = self.cluster.target
        for f in (m for c in faults for m in (c.faults if isinstance(c, Cascade) else (c,))):
            if f.kind not in target.faults:
                have = ", ".join(sorted(target.faults)) or "none"
                raise UsageError(f"the {target.name} target does not support the {f.kind!r} "
                                 f"fault (it supports {have})")
            if f.kind in BACKEND_FAULTS:
                b = self.cluster.backend
                if f.kind not in b.supports:
                    raise UsageError(f"the {b.name} backend does not support the {f.kind!r} "
                                     f"fault (it supports {', '.join(sorted(b.supports))})")
            if f.kind == "clock" and not self.cluster.clock:
                raise UsageError("clock faults need the cluster started with clock=True")
            if isinstance(f, Partition) and f.grudge is not None:
                _grudge.check_grudge(f.grudge, (*self.cluster.nodes, CLIENT))
            if isinstance(f, Partition) and f.topology == "leader" and self.leader_of is None:
                raise UsageError("a leader partition needs a leader_of function")
            if (isinstance(f, (Kill, Pause)) and f.nodes is None
                    and f.target in ("leader", "followers") and self.leader_of is None):
                raise UsageError(f"a {f.kind} of the {f.target} needs a leader_of function")
            for n in getattr(f, "nodes", None) or ():
                if n not in self.cluster.nodes:
                    raise UsageError(f"fault {f.kind} names unknown node {n!r}; the cluster "
                                     f"has {', '.join(self.cluster.nodes)}")

    # start / stop ------------------------------------------------------------------

    def start(self, fault: Fault) -> dict[str, Any]:
        """Apply ``fault`` now; returns (and records) what was done."""
        with self._lock:
            f_start = OPS[fault.kind][0]
            try:
                act = self._start(fault)
            except LogtrialError as e:
                value = {**fault.describe(), "error": str(e)}
                self.errors.append(f"{f_start}: {e}")
                self.recorder.record(f_start, value)
                return value
            if not isinstance(fault, Reset):
                self.active.append(act)
            self.recorder.record(f_start, act.value)
            return act.value

    def stop(self, fault: Fault) -> dict[str, Any] | None:
        """Undo the most recent active fault equal to ``fault``; None if none is."""
        with self._lock:
            for i in range(len(self.active) - 1, -1, -1):
                if self.active[i].fault == fault:
                    act = self.active.pop(i)
                    return self._stop(act)
            return None

    def _pick(self, nodes: tuple[str, ...] | None, count: int,
              pool: Iterable[str] | None = None) -> list[str]:
        if nodes is not None:
            return sorted(nodes)
        candidates = sorted(pool if pool is not None else self.cluster.nodes)
        if not candidates:
            raise UsageError("no node is available for this fault")
        return sorted(self.rng.sample(candidates, min(count, len(candidates))))

    def _leader(self) -> str:
        if len(self.cluster.nodes) == 1:  # leads whatever there is, Metadata or not
            return self.cluster.nodes[0]
        leader = self.leader_of() if self.leader_of is not None else None
        if leader is None:
            raise UsageError("no leader is known (no node answered Metadata)")
        return leader

    def _victims(self, fault: Kill | Pause) -> dict[str, Any]:
        """The op value of a process fault: its target and the nodes it resolves to
        among those not already killed or paused."""
        value: dict[str, Any] = {"kind": fault.kind}
        if fault.nodes is not None:
            value["nodes"] = sorted(fault.nodes)
            return value
        value["target"] = fault.target
        pool = [n for n in self.cluster.nodes if n not in self._busy()]
        if fault.target in ("leader", "followers"):
            leader = self._leader()
            if fault.target == "followers":
                value["leader"] = leader
                value["nodes"] = [n for n in pool if n != leader]
                if not value["nodes"]:
                    raise UsageError(f"no follower of {leader} is up")
                return value
            if leader not in pool:
                raise UsageError(f"the leader {leader} is already killed or paused")
            value["nodes"] = [leader]
            return value
        size = len(self.cluster.nodes)
        count = {"one": fault.count, "majority": size // 2 + 1,
                 "minority": max(1, (size - 1) // 2), "all": size}[fault.target]
        value["nodes"] = self._pick(None, count, pool)
        return value

    def _busy(self) -> set[str]:
        out: set[str] = set()
        for a in self.active:
            if isinstance(a.fault, (Kill, Pause)):
                out.update(a.value["nodes"])
        return out

    def _apply_grudges(self) -> None:
        union: dict[str, set[str]] = {}
        for a in self.active:
            if a.grudge is not None:
                for dst, srcs in a.grudge.items():
                    union.setdefault(dst, set()).update(srcs)
        self.cluster.backend.apply_grudge(union)

    def _start(self, fault: Fault) -> _Active:
        c = self.cluster
        nodes = c.nodes
        if isinstance(fault, Partition):
            if fault.grudge is not None:
                g = _grudge.check_grudge(fault.grudge, (*nodes, CLIENT))
            else:
                leader = self._leader() if fault.topology == "leader" else None
                g = _grudge.grudge_for(fault.topology, nodes, self.rng, leader)
            act = _Active(fault, {"kind": "partition", "topology": fault.topology,
                                  "grudge": _grudge.to_data(g)}, grudge=g)
            self.active.append(act)
            try:
                self._apply_grudges()
            finally:
                self.active.remove(act)
            return act
        if isinstance(fault, (Kill, Pause)):
            value = self._victims(fault)
            for n in value["nodes"]:
                if isinstance(fault, Kill):
                    c.kill_node(n)
                else:
                    c.pause_node(n)
            return _Active(fault, value)
        if isinstance(fault, Loss):
            victims = sorted(fault.nodes) if fault.nodes else list(nodes)
            c.backend.set_loss(victims, fault.probability)
            return _Active(fault, {"kind": "loss", "nodes": victims,
                                   "probability": fault.probability})
        if isinstance(fault, Slow):
            c.backend.set_latency(fault.latency_ms, fault.jitter_ms)
            return _Active(fault, {"kind": "slow", "latency_ms": fault.latency_ms,
                                   "jitter_ms": fault.jitter_ms})
        if isinstance(fault, Bandwidth):
            victims = sorted(fault.nodes) if fault.nodes else list(nodes)
            c.backend.set_bandwidth(victims, fault.kbit_s)
            return _Active(fault, {"kind": "bandwidth", "nodes": victims,
                                   "kbit_s": fault.kbit_s})
        if isinstance(fault, Clock):
            victims = self._pick(fault.nodes, fault.count)
            offsets = {}
            for n in victims:
                off = fault.offset_s
                if fault.random_offset:
                    off = round(self.rng.uniform(-fault.offset_s, fault.offset_s), 3)
                offsets[n] = off
                c.set_clock_offset(n, off)
            act = _Active(fault, {"kind": "clock", "offsets_s": offsets})
            if fault.strobe_period_ms:
                act.value["strobe_period_ms"] = fault.strobe_period_ms
                act.strobe = threading.Event()
                act.strobe_thread = threading.Thread(
                    target=self._strobe, args=(offsets, fault.strobe_period_ms / 1000.0,
                                               act.strobe),
                    name="logtrial-clock-strobe", daemon=True)
                act.strobe_thread.start()
            return act
        if isinstance(fault, Reset):
            victims = self._pick(fault.nodes, fault.count)
            c.backend.reset(victims)
            return _Active(fault, {"kind": "reset", "nodes": victims})
        raise UsageError(f"no component applies faults of kind {fault.kind!r}")

    def _strobe(self, offsets: dict[str, float], period_s: float, stop: threading.Event) -> None:
        on = False
        while not stop.wait(period_s):
            on = not on
            for n, off in offsets.items():
                try:
                    self.cluster.set_clock_offset(n, off if on else 0.0)
                except (OSError, LogtrialError):
                    return

    def _stop(self, act: _Active) -> dict[str, Any]:
        c = self.cluster
        fault = act.fault
        f_stop = OPS[fault.kind][1]
        value = dict(act.value)
        try:
            if isinstance(fault, Partition):
                self._apply_grudges()
            elif isinstance(fault, Kill):  # in parallel, as a power cut ends
                for n in act.value["nodes"]:
                    c.start_node(n, wait=False)
                for n in act.value["nodes"]:
                    c.wait_ready(n)
            elif isinstance(fault, Pause):
                for n in act.value["nodes"]:
                    c.resume_node(n)
            elif isinstance(fault, Loss):
                c.backend.set_loss(act.value["nodes"], 0.0)
            elif isinstance(fault, Slow):
                c.backend.set_latency(0.0, 0.0)
            elif isinstance(fault, Bandwidth):
                c.backend.set_bandwidth(act.value["nodes"], None)
            elif isinstance(fault, Clock):
                if act.strobe is not None and act.strobe_thread is not None:
                    act.strobe.set()
                    act.strobe_thread.join(5.0)
                for n in act.value["offsets_s"]:
                    c.set_clock_offset(n, 0.0)
        except LogtrialError as e:
            value["error"] = str(e)
            self.errors.append(f"{f_stop}: {e}")
        self.recorder.record(f_stop, value)
        return value

    def heal(self) -> dict[str, Any]:
        """Stop every active fault (the oldest first: the first node down is the first
        up again), then restore network, processes and clocks."""
        with self._lock:
            while self.active:
                self._stop(self.active.pop(0))
            c = self.cluster
            value: dict[str, Any] = {"kind": "heal"}
            problems = []
            try:
                if c.target.managed:
                    c.backend.heal()
                    restarted = []
                    for n in c.nodes:
                        c.resume_node(n)
                        if not c.alive(n):
                            c.start_node(n)
                            restarted.append(n)
                    value["restarted"] = restarted
                    if c.clock:
                        for n in c.nodes:
                            c.set_clock_offset(n, 0.0)
            except LogtrialError as e:
                problems.append(str(e))
            if problems:
                value["error"] = "; ".join(problems)
                self.errors.extend(problems)
            self.recorder.record("heal", value)
            return value

    # interpreter -------------------------------------------------------------------

    def run(self, schedule: Iterable[Step], *, now_s: Callable[[], float],
            stop: threading.Event | None = None) -> None:
        """Apply ``schedule``'s steps at their times (``now_s`` counts from the run's
        start); returns early when ``stop`` is set; always ends with `heal`."""
        stop = stop or threading.Event()
        healed = False
        try:
            for step in schedule:
                delay = step.at_s - now_s()
                if delay > 0 and stop.wait(delay):
                    return
                if stop.is_set():
                    return
                healed = step.action == "heal"
                if step.action == "start" and step.fault is not None:
                    self.start(step.fault)
                elif step.action == "stop" and step.fault is not None:
                    self.stop(step.fault)
                elif step.action == "heal":
                    self.heal()
        finally:
            if not healed or self.active:
                self.heal()
