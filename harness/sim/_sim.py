"""`Simulation`: N Raft nodes in one process on a simulated clock, network and disk.

One seed drives everything; the network, each node's election timeouts, the disk
(fsync latency, what a crash keeps), the clocks, the scheduler (the order in which
nodes' timers fire within a tick) and the random schedule each draw from their
own random source, derived from the seed by name, so changing one subsystem does
not reshuffle the others. The options are printed (`SimOptions.describe`) before
a run, and a failure ends with the command that replays it (`SimFailure.replay`).

A run has two phases (TigerBeetle's VOPR does the same):

1. Safety: the schedule runs (traffic, partitions, loss, duplication, crashes,
   restarts, leadership transfers, compaction) while `SafetyChecker` checks
   every Ready.
   Each node reads its own clock: a random offset and a rate within
   ``clock_drift_pct`` of the simulated clock's.
2. Liveness: the network heals, every node restarts, duplication stops and loss
   drops to ``liveness_loss_pct``;
   within ``liveness_ticks`` a leader must be elected and an entry it proposes
   must be applied by every node.

The driver obeys the contract in ``reference_broker.raft._node``: each Ready's
writes go to the node's disk at once; its messages and committed entries are
released in order, after the fsync it asked for completes (0 to ``fsync_ms_max``
ms later); a crash in between loses them with the unsynced writes.
"""

from __future__ import annotations

import random
import shlex
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from harness.errors import LogtrialError
from harness.workload import derive_seed
from reference_broker.raft import (
    PLANTED_BUGS,
    MalformedMessage,
    RaftConfig,
    RaftInvariantError,
    RaftNode,
    Ready,
    Role,
    persist,
)

from ._checks import SafetyChecker, SafetyViolation
from ._disk import SimDisk
from ._network import NetworkStats, SimNetwork
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
    random_schedule,
    schedule_to_json,
)

FailureKind = Literal["correctness", "liveness", "crash"]

#: Exit codes of ``python -m harness.sim``: 0 passed; 1 a safety property broke (as
#: `logtrial check` says invalid); 2 bad usage; 4 liveness failure; 5 the code crashed.
EXIT_CODES: dict[FailureKind, int] = {"correctness": 1, "liveness": 4, "crash": 5}


@dataclass(frozen=True, slots=True, kw_only=True)
class SimOptions:
    """Everything a run depends on besides the schedule."""

    seed: int
    nodes: int = 3
    tick_ms: int = 10
    delay_ms_min: int = 1
    delay_ms_max: int = 20
    fifo_links: bool = False  # True: no reordering within a link (TCP-like)
    fsync_ms_max: int = 10
    clock_drift_pct: int = 5  # each node's clock runs at 1 ± up to this much
    liveness_ticks: int = 600
    liveness_loss_pct: int = 0  # message loss that remains in the liveness phase
    max_inflight: int = 8
    max_batch_entries: int = 64
    bugs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.liveness_loss_pct < 100:
            raise ValueError(f"liveness_loss_pct must be 0..99, got {self.liveness_loss_pct}")
        if not 0 <= self.clock_drift_pct < 50:
            raise ValueError(f"clock_drift_pct must be 0..49, got {self.clock_drift_pct}")
        if not 1 <= self.nodes <= 9:
            raise ValueError(f"nodes must be 1..9, got {self.nodes}")
        unknown = self.bugs - PLANTED_BUGS.keys()
        if unknown:
            raise ValueError(f"unknown bug(s) {sorted(unknown)}; known: {sorted(PLANTED_BUGS)}")

    def describe(self) -> str:
        return (f"seed={self.seed} nodes={self.nodes} tick_ms={self.tick_ms} "
                f"delay_ms={self.delay_ms_min}..{self.delay_ms_max} "
                f"fifo_links={self.fifo_links} "
                f"fsync_ms_max={self.fsync_ms_max} clock_drift_pct={self.clock_drift_pct} "
                f"liveness_ticks={self.liveness_ticks} "
                f"liveness_loss_pct={self.liveness_loss_pct} "
                f"max_inflight={self.max_inflight} max_batch_entries={self.max_batch_entries} "
                f"bugs={sorted(self.bugs)}")


def replay_command(options: SimOptions, schedule: Schedule | None, length: int = 0) -> str:
    """The shell command that reruns exactly this simulation."""
    cmd = ["python", "-m", "harness.sim", "--seed", str(options.seed),
           "--nodes", str(options.nodes)]
    defaults = SimOptions(seed=0)
    for name in ("tick_ms", "delay_ms_min", "delay_ms_max", "fsync_ms_max",
                 "clock_drift_pct", "liveness_ticks", "liveness_loss_pct", "max_inflight",
                 "max_batch_entries"):
        value = getattr(options, name)
        if value != getattr(defaults, name):
            cmd += ["--" + name.replace("_", "-"), str(value)]
    if options.fifo_links:
        cmd += ["--fifo-links"]
    for bug in sorted(options.bugs):
        cmd += ["--bug", bug]
    if schedule is None:
        cmd += ["--length", str(length)]
    else:
        cmd += ["--schedule", schedule_to_json(schedule)]
    return shlex.join(cmd)


class SimFailure(LogtrialError):
    """A simulation found a problem; `replay` is the command that reproduces it."""

    def __init__(self, kind: FailureKind, reason: str, replay: str, tick: int) -> None:
        self.kind = kind
        self.reason = reason
        self.replay = replay
        self.tick = tick
        super().__init__(f"{kind} failure at tick {tick}: {reason}\nreplay: {replay}")


@dataclass(slots=True)
class SimResult:
    ticks: int = 0
    liveness_ticks: int = 0  # ticks the liveness phase needed
    committed: int = 0  # entries applied by someone (the longest committed prefix)
    leaders: int = 0  # terms that had a leader
    crashes: int = 0
    truncations: int = 0  # divergent suffixes dropped by followers
    snapshots: int = 0  # compactions and snapshot installs
    installs: int = 0  # snapshots followers installed (whole log dropped)
    lost_writes: int = 0
    syncs: int = 0
    network: NetworkStats = field(default_factory=NetworkStats)


@dataclass(slots=True)
class _Slot:
    """A node's place in the simulation: its disk outlives its incarnations."""

    id: int
    disk: SimDisk
    rng: random.Random  # election timeouts
    clock_rate: float = 1.0  # the node's clock: offset + rate * simulated time
    clock_offset_ms: int = 0
    raft: RaftNode | None = None
    applied: int = 0
    # Readies not yet released: fsync done at (None: no fsync), journal position,
    # the Ready, and the term before each of its entries when written
    pending: deque[tuple[int | None, int, Ready, tuple[int, ...]]] = field(
        default_factory=deque)


class Simulation:
    """Drives `RaftNode`s deterministically; see the module docstring."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        seed = options.seed
        self.now_ms = 0
        self.tick_count = 0
        self.ids = tuple(range(1, options.nodes + 1))
        self.net = SimNetwork(random.Random(derive_seed(seed, "network")),
                              delay_ms_min=options.delay_ms_min,
                              delay_ms_max=options.delay_ms_max, fifo=options.fifo_links)
        self._disk_rng = random.Random(derive_seed(seed, "disk"))
        self._scheduler = random.Random(derive_seed(seed, "scheduler"))
        self.checker = SafetyChecker()
        self.result = SimResult(network=self.net.stats)
        self._next_value = 0
        clock = random.Random(derive_seed(seed, "clock"))
        drift = options.clock_drift_pct / 100
        self.slots = {i: _Slot(id=i, disk=SimDisk(),
                               rng=random.Random(derive_seed(seed, f"node-{i}")),
                               clock_rate=1 + clock.uniform(-drift, drift),
                               clock_offset_ms=clock.randint(0, 10_000))
                      for i in self.ids}
        for slot in self.slots.values():
            self._start(slot)

    # -- commands ------------------------------------------------------------------

    def execute(self, cmd: Command) -> None:
        if isinstance(cmd, Run):
            for _ in range(cmd.ticks):
                self.tick()
        elif isinstance(cmd, Propose):
            for slot in self._leaders():
                self._propose(slot, count=cmd.count)
        elif isinstance(cmd, Partition):
            self.net.partition(cmd.groups, self.ids)
        elif isinstance(cmd, IsolateLeader):
            top = self._top_leader()
            if top is not None:
                self.net.partition([(top.id,), tuple(i for i in self.ids if i != top.id)],
                                   self.ids)
        elif isinstance(cmd, Heal):
            self.net.heal()
        elif isinstance(cmd, Crash):
            self.crash(cmd.node)
        elif isinstance(cmd, CrashLeader):
            top = self._top_leader()
            if top is not None:
                self.crash(top.id)
        elif isinstance(cmd, Restart):
            down = self.slots.get(cmd.node)
            if down is not None and down.raft is None:
                self._start(down)
        elif isinstance(cmd, Network):
            self.net.loss = cmd.loss
            self.net.duplicate = cmd.duplicate
        elif isinstance(cmd, Compact):
            for slot in self.slots.values():
                if slot.raft is not None:
                    index = slot.applied - cmd.keep  # only what it has applied
                    slot.raft.compact(index, b"%d" % index)
                    self._handle(slot, slot.raft.ready())
        elif isinstance(cmd, Transfer):
            top = self._top_leader()
            if top is not None and top.raft is not None:
                to = cmd.to if cmd.to in self.ids and cmd.to != top.id else None
                top.raft.transfer_leadership(to, self._clock(top))
                self._handle(top, top.raft.ready())

    def tick(self) -> None:
        """One step of simulated time: deliver, complete fsyncs, fire timers."""
        self.now_ms += self.options.tick_ms
        self.tick_count += 1
        now = self.now_ms
        slots = self.slots
        for msg in self.net.due(now):
            slot = slots[msg.dst]
            if slot.raft is not None:
                self._handle(slot, slot.raft.step(msg, self._clock(slot)))
        order = list(slots.values())
        self._scheduler.shuffle(order)  # which node's timers fire first this tick
        for slot in order:
            if slot.raft is not None:
                if slot.pending:
                    self._release(slot)
                self._handle(slot, slot.raft.tick(self._clock(slot)))

    def crash(self, node: int) -> None:
        slot = self.slots.get(node)
        if slot is None or slot.raft is None:
            return
        slot.raft = None
        slot.pending.clear()
        self.result.crashes += 1
        self.result.lost_writes += slot.disk.crash(self._disk_rng)
        log = slot.disk.log  # what survived is durable now: check it all
        prevs = [slot.disk.snapshot().term, *(e.term for e in log[:-1])] if log else []
        self.checker.on_written(slot.id, log, prevs, log)

    def heal_all(self) -> None:
        """The start of the liveness phase: no faults from here on (but the residual
        ``liveness_loss_pct``)."""
        self.net.heal()
        self.net.loss = self.options.liveness_loss_pct / 100
        self.net.duplicate = 0.0
        for slot in self.slots.values():
            if slot.raft is None:
                self._start(slot)

    def await_convergence(self, max_ticks: int) -> int | None:
        """Tick until a leader has an entry of its term applied by every node;
        returns the ticks it took, or None."""
        markers: dict[int, int] = {}  # leader term -> index of its marker entry
        for ticks in range(max_ticks + 1):
            for slot in self._leaders():
                assert slot.raft is not None
                if slot.raft.term not in markers:
                    index = self._propose(slot, b"marker")
                    if index is not None:
                        markers[slot.raft.term] = index
            for term, index in markers.items():
                e = self.checker.committed.get(index)
                if e is not None and e.term == term and \
                        all(s.applied >= index for s in self.slots.values()):
                    return ticks
            self.tick()
        return None

    # -- driving one node ----------------------------------------------------------

    def _start(self, slot: _Slot) -> None:
        cfg = RaftConfig(node_id=slot.id, voters=self.ids,
                         max_inflight=self.options.max_inflight,
                         max_batch_entries=self.options.max_batch_entries,
                         bugs=self.options.bugs)
        slot.raft = RaftNode(cfg, slot.disk, slot.rng.randint, self._clock(slot))
        slot.applied = slot.disk.snapshot().index  # the state machine restarts from it
        self.checker.restarted(slot.id)

    def _clock(self, slot: _Slot) -> int:
        """What ``slot``'s own clock reads now (monotonic, skewed, drifting)."""
        return slot.clock_offset_ms + int(self.now_ms * slot.clock_rate)

    def _leaders(self) -> list[_Slot]:
        """Every live node that thinks it leads (stale leaders included)."""
        return [s for s in self.slots.values()
                if s.raft is not None and s.raft.role is Role.LEADER]

    def _top_leader(self) -> _Slot | None:
        """The leader of the highest term, if any."""
        leaders = self._leaders()
        return max(leaders, key=lambda s: s.raft.term if s.raft else 0) if leaders else None

    def _propose(self, slot: _Slot, prefix: bytes = b"v", count: int = 1) -> int | None:
        """Propose ``count`` unique values at once (they batch); the first's index."""
        assert slot.raft is not None
        first: int | None = None
        for _ in range(count):
            self._next_value += 1
            index = slot.raft.propose(prefix + str(self._next_value).encode())
            if first is None and isinstance(index, int):
                first = index
        self._handle(slot, slot.raft.ready())
        return first

    def _handle(self, slot: _Slot, ready: Ready) -> None:
        checker = self.checker
        disk = slot.disk
        checker.on_commit_index(slot.id, ready.commit_index)
        if ready.sync:
            if ready.truncate_from is not None:
                self.result.truncations += 1
                checker.on_truncate(slot.id, ready.truncate_from, ready.role is Role.LEADER)
            if ready.snapshot is not None:
                self.result.snapshots += 1
                self.result.installs += ready.reset
                checker.on_snapshot(slot.id, ready.snapshot)
            persist(disk, ready.truncate_from, ready.entries, ready.hard_state, sync=False,
                    snapshot=ready.snapshot, reset=ready.reset)
            prevs = tuple(disk.term_at(e.index - 1) or 0 for e in ready.entries)
            done = self.now_ms + self._disk_rng.randint(0, self.options.fsync_ms_max)
            slot.pending.append((done, disk.written, ready, prevs))
        elif ready.messages or ready.committed:
            slot.pending.append((None, 0, ready, ()))
        if ready.role_changed and ready.role is Role.LEADER:
            checker.on_leader(slot.id, ready.term, disk.snapshot(), disk.log)
        if slot.pending:
            self._release(slot)

    def _release(self, slot: _Slot) -> None:
        """Send and apply, in order, every Ready whose fsync has completed."""
        pending = slot.pending
        now = self.now_ms
        while pending:
            done, position, ready, prevs = pending[0]
            if done is not None:
                if done > now:
                    return
                slot.disk.sync_upto(position)
                if ready.entries:
                    self.checker.on_written(slot.id, ready.entries, prevs, slot.disk.log)
            pending.popleft()
            for msg in ready.messages:
                self.net.send(msg, now)
            if ready.reset and ready.snapshot is not None:  # the state machine jumps
                slot.applied = max(slot.applied, ready.snapshot.index)
            if ready.committed:
                slot.applied = self.checker.on_applied(slot.id, slot.applied, ready.committed)


def run_simulation(options: SimOptions, schedule: Schedule | None = None, *,
                   length: int = 40) -> SimResult:
    """Run ``schedule`` (default: `random_schedule` of ``length`` from the seed), then
    the liveness phase. Raises `SimFailure` (with the replay command) on a failure."""
    replay = replay_command(options, schedule, length)
    if schedule is None:
        rng = random.Random(derive_seed(options.seed, "schedule"))
        schedule = random_schedule(rng, options.nodes, length)
    sim: Simulation | None = None
    try:
        sim = Simulation(options)
        for cmd in schedule:
            sim.execute(cmd)
        sim.heal_all()
        took = sim.await_convergence(options.liveness_ticks)
    except (SafetyViolation, RaftInvariantError, MalformedMessage) as e:
        tick = sim.tick_count if sim else 0
        raise SimFailure("correctness", str(e), replay, tick) from e
    except Exception as e:  # a crash of the code under test or of the simulator
        tick = sim.tick_count if sim else 0
        raise SimFailure("crash", f"{type(e).__name__}: {e}", replay, tick) from e
    result = sim.result
    result.ticks = sim.tick_count
    result.committed = len(sim.checker.committed)
    result.leaders = len(sim.checker.leaders)
    result.syncs = sum(s.disk.syncs for s in sim.slots.values())
    if took is None:
        states = ", ".join(f"{s.id}:{s.raft.role.value if s.raft else 'down'}"
                           f"/t{s.raft.term if s.raft else '-'}/applied {s.applied}"
                           for s in sim.slots.values())
        raise SimFailure("liveness", f"no leader committed an entry on every node within "
                         f"{options.liveness_ticks} ticks after healing ({states})",
                         replay, sim.tick_count)
    result.liveness_ticks = took
    return result

