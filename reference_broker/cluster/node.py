"""The asyncio driver of the Raft groups of one broker, and their Kafka semantics.

`Cluster` runs one `RaftGroup` per partition it replicates (voters: the partition's
replicas) and one for the controller (``__cluster_metadata``; voters: every node),
ticks those that have something due (waking when the first is due, at least every
heartbeat interval and at most every `TICK_S`), carries their
messages over `rpc`, and obeys the Raft driver contract: each Ready is written
before the node is called again, and its messages are sent and its commits applied
only once it is fsynced (group commit: one fsync per dirty log for every Ready
that waits, `Cluster.sync_later`).

Kafka on top: a partition is served (produce, fetch, list offsets) only by a
leader that has committed an entry of its own term (its no-op), so its commit
index, the high watermark, covers everything earlier leaders committed. acks=1
answers once the leader's append is written (and fsynced); acks=all once the entry
is committed by a quorum (planted bug ``ack-before-commit``: like acks=1). Planted
bug ``stale-leader-read``: reads (fetch, list offsets) trust the leadership a node
cached when it last served, which only news of another leader ends, so a leader cut
off from its peers keeps answering them from its stale log after it stepped down.
Planted bug ``forget-producer-state``: a node that becomes a partition's leader starts
with empty idempotent-producer state, so a retry of a batch committed under the old
leader is appended again. A leader
that is deposed keeps its produces waiting: as a follower it learns whether their
entries were committed (success) or replaced by another leader's (then
NOT_LEADER_OR_FOLLOWER, definite); if it learns neither within the request's
timeout, REQUEST_TIMED_OUT (indefinite). NOT_LEADER_OR_FOLLOWER otherwise means
nothing was appended.

The controller log holds topic creations (msgpack commands in record batches) with
each partition's replicas (`assign_replicas`: round robin from the partition index,
as Kafka does without racks); every node applies them in order, so all create the
same topics with the same ids and replicas. A node that is not the controller's
leader forwards the command to it. On restart a node re-reads the replicas of its
topics from its controller log before it attaches their partitions.

A node that is not a replica of a partition runs no Raft group for it: the
partition's `NonReplica` answers NOT_LEADER_OR_FOLLOWER and reports the leader and
ISR that the leader last announced (``rpc.LEADER`` frames to every peer, on each
change and every `ANNOUNCE_MS`; a leader silent for `LEADER_STALE_MS` is forgotten).

ISR (`Cluster.isr`): the leader and the followers whose log held the leader's whole
log within the last ``replica.lag.time.max.ms`` (Raft's ``Status.caught_up_ms``).
``min.insync.replicas`` is a gate on top of the Raft quorum, as in Kafka with KRaft:
an acks=all produce to a partition whose ISR is smaller is refused with
NOT_ENOUGH_REPLICAS before anything is appended (definite), while a commit still needs
a majority of the replicas whatever the ISR. acks=1 and acks=0 are not gated. So
min.insync.replicas can only raise the bar: unlike Kafka, where a shrunken ISR of one
still commits when min.insync.replicas=1, a replication factor of 2 here needs both
replicas for every commit (a majority of two), and one of 3 cannot commit alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec

from reference_broker import records
from reference_broker.log import LogConfig, PartitionLog
from reference_broker.partition import ProducerStateTable
from reference_broker.protocol import errors
from reference_broker.raft import (
    RaftConfig,
    RaftInvariantError,
    RaftNode,
    Ready,
    Role,
    persist,
)

from . import rpc
from .groups import ReplicatedGroups
from .storage import RaftPartitionLog

log = logging.getLogger(__name__)

TICK_S = 0.02  # the shortest sleep of the ticker
ANNOUNCE_MS = 500  # a leader repeats its (leader, ISR) announcement at least this often
ISR_CHECK_MS = 100  # leaders recompute their ISR this often
LEADER_STALE_MS = 4 * ANNOUNCE_MS  # a non-replica forgets a leader silent this long
CONTROLLER = "__cluster_metadata"
INLINE_SYNC_S = 0.001  # fsyncs faster than this (on average) run on the event loop
RAFT_BUGS = frozenset({"no-truncate-on-election", "unclean-election", "unsynced-hard-state"})


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _timed_sync(storage: RaftPartitionLog) -> float:
    """fsync ``storage``; returns how long it took (s)."""
    start = time.perf_counter()
    storage.sync()
    return time.perf_counter() - start


class RaftGroup:
    """One Raft node of this broker and its waiters."""

    def __init__(self, cluster: Cluster, name: str, storage: RaftPartitionLog,
                 config: RaftConfig,
                 on_commit: Callable[[RaftGroup, Ready], None] | None = None) -> None:
        self.cluster = cluster
        self.name = name
        self.storage = storage
        self.replicas: tuple[int, ...] = config.voters
        self.announced: tuple[int, tuple[int, ...]] | None = None  # (term, ISR) heard
        self.node = RaftNode(config, storage, cluster.randint, monotonic_ms())
        self.on_commit = on_commit
        self.role = Role.FOLLOWER
        self.term = self.node.term
        self.leader_id: int | None = None
        self.commit_index = 0
        self.high_watermark = 0
        self._waiters: dict[int, tuple[int, asyncio.Future[int]]] = {}
        self.notify: Callable[[], None] | None = None  # wakes waiting fetches
        #: effects of Readies waiting for an fsync, in order (see `Cluster.sync_later`)
        self.after_sync: deque[Callable[[], None]] = deque()
        self.on_lead: Callable[[], None] | None = None  # called on becoming leader
        self.lease = False  # planted bug stale-leader-read: the cached leadership

    @property
    def serves_reads(self) -> bool:
        """Whether fetches and list offsets are answered here: while `serving` (planted
        bug ``stale-leader-read``: also while the cached leadership `lease` lasts)."""
        return self.serving or self.lease

    @property
    def serving(self) -> bool:
        """Leader with an entry of its own term committed: its HW is final."""
        return (self.role is Role.LEADER
                and self.storage.term_at(self.commit_index) == self.term)

    def handle(self, ready: Ready) -> None:
        """Write the Ready now; send its messages and apply its commits once its writes
        are fsynced (`Cluster.sync_later`: one fsync for every Ready that waits)."""
        persist(self.storage, ready.truncate_from, ready.entries, ready.hard_state,
                False, snapshot=ready.snapshot, reset=ready.reset)
        if ready.reset and ready.snapshot is not None:
            log.info("%s: installed the leader's snapshot at index %d (log start offset "
                     "%d)", self.name, ready.snapshot.index,
                     self.storage.end_offset(ready.snapshot.index))
        if not ready.sync and not self.after_sync:
            self._effects(ready)  # nothing to make durable, nothing of ours queued
        else:
            self.after_sync.append(lambda: self._effects(ready))
            self.cluster.sync_later(self, self.storage if ready.sync else None)

    def _effects(self, ready: Ready) -> None:
        for m in ready.messages:
            self.cluster.send(self.name, m)
        self.term = ready.term
        self.leader_id = ready.leader_id
        if ready.role_changed or ready.role is not self.role:
            was = self.role
            self.role = ready.role
            if ready.role is Role.LEADER or was is Role.LEADER:
                log.info("%s: %s in term %d", self.name, ready.role, ready.term)
            if ready.role is Role.LEADER and was is not Role.LEADER and self.on_lead:
                self.on_lead()
        if ready.commit_index > self.commit_index:
            self.commit_index = ready.commit_index
            hw = self.storage.end_offset(self.commit_index)
            if hw > self.high_watermark:
                self.high_watermark = hw
            if self.on_commit is not None and ready.committed:
                self.on_commit(self, ready)
            self._release_waiters()
            if self.notify is not None:
                self.notify()
        if self.cluster.stale_leader_read:
            self._cache_leadership()

    def _cache_leadership(self) -> None:
        """Planted bug ``stale-leader-read``: leadership is cached once this node serves
        and dropped only when another leader is heard of, never when Raft steps down
        (a lease never checked against the clock)."""
        if self.serving:
            self.lease = True
        elif self.leader_id is not None and self.leader_id != self.cluster.node_id:
            self.lease = False

    def _release_waiters(self) -> None:
        for index in sorted(i for i in self._waiters if i <= self.commit_index):
            term, fut = self._waiters.pop(index)
            if not fut.done():
                if self.storage.term_at(index) is None:
                    continue  # compacted (a snapshot installed): unknown, so it times out
                if self.storage.term_at(index) == term:
                    fut.set_result(index)
                else:
                    fut.set_result(-1)

    def propose(self, data: bytes) -> int | None:
        """Append ``data`` if leading; returns its index once written (or None)."""
        index = self.node.propose(data, monotonic_ms())
        if not isinstance(index, int):
            return None
        self.handle(self.node.ready())
        return index

    def committed(self, index: int) -> asyncio.Future[int]:
        """Resolves with ``index`` once its entry of this term is committed, or -1 once
        another entry is committed at ``index`` (also after this node is deposed)."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if index <= self.commit_index:
            fut.set_result(index if self.storage.term_at(index) == self.term else -1)
        else:
            self._waiters[index] = (self.term, fut)
        return fut

    def step(self, msg: Any) -> None:
        self.handle(self.node.step(msg, monotonic_ms()))

    def apply_retention(self, now_ms: int, *, by_first_write: bool = False) -> int:
        """Retention on this replica (every replica runs it on its own log): compact
        the Raft log up to the segments the rules delete, never past the commit index;
        returns how many segments went."""
        point = self.storage.retention_point(now_ms, self.commit_index,
                                             by_first_write=by_first_write)
        if point is None:
            return 0
        before = len(self.storage.plog.segment_infos())
        self.node.compact(*point)
        self.handle(self.node.ready())
        return before - len(self.storage.plog.segment_infos())

    def tick(self, now_ms: int) -> None:
        """Let time pass, if anything is due (`RaftNode.next_tick_ms`): most ticks of
        most groups have nothing to do, and a Ready costs."""
        if now_ms >= self.node.next_tick_ms():
            self.handle(self.node.tick(now_ms))

    def status(self) -> Any:
        return self.node.status()


class NonReplica:
    """A partition this node does not replicate: no log of its own to serve, only the
    leader and ISR its leader last announced (same attributes as a `RaftGroup`)."""

    role = Role.FOLLOWER
    serving = False
    serves_reads = False
    high_watermark = 0

    def __init__(self, name: str, replicas: tuple[int, ...]) -> None:
        self.name = name
        self.replicas = replicas
        self.term = 0
        self.announced: tuple[int, tuple[int, ...]] | None = None
        self.notify: Callable[[], None] | None = None
        self._leader: int | None = None
        self._heard_ms = 0

    @property
    def leader_id(self) -> int | None:
        """The leader last announced, unless it went quiet for `LEADER_STALE_MS` (then
        Metadata says LEADER_NOT_AVAILABLE instead of naming a dead node)."""
        if monotonic_ms() - self._heard_ms > LEADER_STALE_MS:
            return None
        return self._leader

    def heard(self, term: int, leader: int, now_ms: int) -> None:
        if term >= self.term:
            self.term, self._leader, self._heard_ms = term, leader, now_ms


class TopicCommand(msgspec.Struct, array_like=True):
    """Controller log entry: create a topic (the first command for a name wins).

    ``replicas[i]`` lists partition i's replicas; empty (entries written before
    replication factors existed) means every node."""

    name: str
    partitions: int
    configs: dict[str, str]
    topic_id: str
    replicas: list[list[int]] = []


def assign_replicas(nodes: Sequence[int], partitions: int, rf: int) -> list[list[int]]:
    """Partition i's replicas: ``rf`` nodes in id order, starting at the i-th (wrapping),
    so leaders-to-be and load spread evenly. Needs 1 <= rf <= len(nodes)."""
    ids = sorted(nodes)
    if not 1 <= rf <= len(ids):
        raise ValueError(f"replication factor {rf} must be in 1..{len(ids)}")
    return [[ids[(i + j) % len(ids)] for j in range(rf)] for i in range(partitions)]


def _commands(data: bytes) -> Iterator[TopicCommand]:
    """The topic commands of one controller entry (a record batch; no-ops hold none)."""
    if not data or records.read_header(data).is_control:
        return
    for r in records.iter_records(data):
        try:
            yield msgspec.msgpack.decode(r.value or b"", type=TopicCommand)
        except msgspec.DecodeError:
            log.error("controller record is not a topic command; skipped")


class Cluster:
    """Raft groups, peer links and the controller of one broker in a cluster."""

    def __init__(self, ctx: Any, peers: dict[int, tuple[str, int]], *,
                 election_timeout_ms: int, bugs: frozenset[str]) -> None:
        self.ctx = ctx
        self.node_id: int = ctx.node_id
        self.voters = tuple(sorted(peers))
        self.peers = {i: a for i, a in peers.items() if i != self.node_id}
        self.brokers: dict[int, tuple[str, int]] = {}
        self.bugs = bugs
        self.ack_before_commit = "ack-before-commit" in bugs
        self.stale_leader_read = "stale-leader-read" in bugs
        self.forget_producer_state = "forget-producer-state" in bugs
        self._rng = random.Random()
        self.randint = self._rng.randint
        self.raft_config = RaftConfig(
            node_id=self.node_id, voters=self.voters,
            election_timeout_ms_min=election_timeout_ms,
            election_timeout_ms_max=2 * election_timeout_ms,
            heartbeat_interval_ms=max(10, election_timeout_ms // 10),
            bugs=bugs & RAFT_BUGS)
        self.groups: dict[str, RaftGroup] = {}
        self.others: dict[str, NonReplica] = {}  # partitions replicated elsewhere
        self._announced: dict[str, tuple[int, tuple[int, ...], int]] = {}  # sent, when
        self.links: dict[int, rpc.PeerLink] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._topic_waiters: list[asyncio.Future[None]] = []
        self.controller: RaftGroup | None = None
        #: group commit (`sync_later`): logs to fsync, groups with effects waiting
        self._dirty: set[RaftPartitionLog] = set()
        self._waiting: set[RaftGroup] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._sync_s_avg = 0.0  # moving average of a batch's longest fsync

    # -- lifetime --------------------------------------------------------------------

    async def start(self) -> None:
        ctx = self.ctx
        self.brokers[self.node_id] = (ctx.advertised_host, ctx.advertised_port)
        data_dir: Path = ctx.data_dir
        plog = PartitionLog.open(data_dir / f"{CONTROLLER}-0", LogConfig(flush="never"),
                                 ctx.now_ms())
        self.controller = self._add_group(CONTROLLER, RaftPartitionLog(plog, ctx.now_ms),
                                          self._apply_controller)
        ReplicatedGroups.open(self)  # __consumer_offsets partitions; becomes ctx.groups
        replicas = self._recorded_replicas()
        for topic in ctx.topics:
            assigned = replicas.get(str(topic.topic_id), [])
            for p in topic.partitions:
                self.attach(p, assigned[p.index] if p.index < len(assigned) else None)
        hello = rpc.frame([rpc.HELLO, self.node_id, ctx.advertised_host,
                           ctx.advertised_port])
        for pid, (host, port) in sorted(self.peers.items()):
            link = rpc.PeerLink(pid, host, port, hello)
            self.links[pid] = link
            link.start()
        self._ticker = asyncio.create_task(self._tick_loop(), name="raft-ticker")

    async def hand_over(self) -> None:
        """Clean shutdown, first step: hand every group this node leads to the most
        up-to-date peer and wait (at most one election timeout) until it took over."""
        led = [g for g in self.groups.values() if g.role is Role.LEADER]
        for g in led:
            try:
                g.node.transfer_leadership(None, monotonic_ms())
                g.handle(g.node.ready())
            except Exception:
                log.exception("%s: leadership transfer failed", g.name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.raft_config.election_timeout_ms_max / 1000
        while any(g.role is Role.LEADER for g in led) and loop.time() < deadline:
            await asyncio.sleep(TICK_S)
        if led:
            log.info("handed over %d of %d led groups",
                     sum(g.role is not Role.LEADER for g in led), len(led))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for link in self.links.values():
            await link.stop()
        if self.controller is not None:
            self.controller.storage.plog.close()

    def _recorded_replicas(self) -> dict[str, list[list[int]]]:
        """Topic id -> replicas per partition, from every command in the controller log
        (a topic in the store was created by the committed command with its id)."""
        c = self.controller
        assert c is not None
        out: dict[str, list[list[int]]] = {}
        last = c.storage.last_index()
        for lo in range(c.storage.snapshot().index + 1, last + 1, 256):
            for e in c.storage.entries(lo, min(lo + 256, last + 1)):
                for cmd in _commands(e.data):
                    out.setdefault(cmd.topic_id, cmd.replicas)
        return out

    def _add_group(self, name: str, storage: RaftPartitionLog,
                   on_commit: Callable[[RaftGroup, Ready], None] | None = None,
                   voters: Sequence[int] | None = None) -> RaftGroup:
        config = replace(self.raft_config, committed_entries=on_commit is not None)
        if voters is not None:
            config = replace(config, voters=tuple(sorted(voters)))
        g = RaftGroup(self, name, storage, config, on_commit)
        self.groups[name] = g
        return g

    def attach(self, p: Any, replicas: Sequence[int] | None = None) -> None:
        """Replicate partition ``p`` (a `topics.Partition`) with its own Raft group
        among ``replicas`` (None: every node), or, if this node is not one of them,
        give it a `NonReplica`."""
        name = f"{p.topic}-{p.index}"
        voters = tuple(sorted(replicas)) if replicas else self.voters
        if self.node_id not in voters:
            p.replica = self.others[name] = NonReplica(name, voters)
            return

        def rebuild() -> None:
            p.reset_producers()

        storage = RaftPartitionLog(p.log, self.ctx.now_ms, on_append=p.record_producer,
                                   on_truncate=rebuild)
        g = self._add_group(name, storage, voters=voters)
        g.notify = p.notify
        if self.forget_producer_state:
            def forget() -> None:
                p.producers = ProducerStateTable()

            g.on_lead = forget
        p.replica = g

    async def _tick_loop(self) -> None:
        """Sleep until the first group has something due (`RaftNode.next_tick_ms`) or
        the ISR check, but never longer than a heartbeat interval: an input may bring
        a deadline forward (a node elected leader heartbeats at the next multiple of
        the interval), so a heartbeat is at most one interval late."""
        longest_ms = self.raft_config.heartbeat_interval_ms
        isr_due = 0
        while True:
            now = monotonic_ms()
            due = min((g.node.next_tick_ms() for g in self.groups.values()),
                      default=now + longest_ms)
            await asyncio.sleep(max(TICK_S, min(due - now, isr_due - now, longest_ms) / 1000))
            now = monotonic_ms()
            for g in list(self.groups.values()):
                try:
                    g.tick(now)
                except Exception:  # a broken group must not stop the others
                    log.exception("%s: tick failed", g.name)
            if now >= isr_due:
                isr_due = now + ISR_CHECK_MS
                self._announce()

    # -- ISR and leader announcements ------------------------------------------------

    @property
    def lag_ms(self) -> int:
        """``replica.lag.time.max.ms``: how long a follower may lag and stay in sync."""
        return int(self.ctx.config.replica_lag_time_max_ms)

    def isr(self, g: RaftGroup | NonReplica) -> list[int]:
        """The in-sync replicas of a partition as this node knows them: computed on
        its leader; elsewhere what the leader announced for the current term (or
        later), else every replica (unknown)."""
        if isinstance(g, RaftGroup) and g.role is Role.LEADER:
            now = monotonic_ms()
            st = g.status()
            return sorted([self.node_id, *(f for f, t in st.caught_up_ms.items()
                                           if now - t <= self.lag_ms)])
        if g.announced is not None and g.announced[0] >= g.term:
            return list(g.announced[1])
        return list(g.replicas)

    def _announce(self) -> None:
        """Tell every peer the leader and ISR of each partition this node serves,
        when they change and at least every `ANNOUNCE_MS`."""
        now = monotonic_ms()
        for name, g in self.groups.items():
            if g is self.controller or not g.serving:
                continue
            isr = tuple(self.isr(g))
            last = self._announced.get(name)
            if last is not None and last[:2] == (g.term, isr) and now - last[2] < ANNOUNCE_MS:
                continue
            if last is None or last[1] != isr:
                log.info("%s: ISR %s in term %d", name, list(isr), g.term)
            self._announced[name] = (g.term, isr, now)
            data = rpc.frame([rpc.LEADER, name, g.term, self.node_id, list(isr)])
            for link in self.links.values():
                link.send(data)

    def _on_announce(self, name: str, term: int, leader: int, isr: list[int]) -> None:
        g: RaftGroup | NonReplica | None = self.groups.get(name) or self.others.get(name)
        if g is None or (g.announced is not None and g.announced[0] > term):
            return
        g.announced = (term, tuple(int(i) for i in isr))
        if isinstance(g, NonReplica):
            g.heard(term, leader, monotonic_ms())

    # -- group commit ----------------------------------------------------------------

    def sync_later(self, group: RaftGroup, storage: RaftPartitionLog | None) -> None:
        """``group`` queued effects behind an fsync of ``storage`` (or of its earlier
        writes). One flusher fsyncs every dirty log at once, in threads while the loop
        keeps serving, and then runs the effects queued before it started: one fsync
        per log per batch instead of one per Ready, which had kept the event loop
        blocked in fsync most of the time under load. Effects stay in order per group;
        groups do not wait for each other's writes. While fsyncs are fast (a moving
        average below `INLINE_SYNC_S`: a disk with a write cache) they run on the loop
        instead: handing one to a thread and back costs more CPU than the fsync."""
        if storage is not None:
            self._dirty.add(storage)
        self._waiting.add(group)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = [(g, len(g.after_sync)) for g in self._waiting]
                self._waiting = set()
                dirty, self._dirty = self._dirty, set()
                if dirty:
                    try:
                        if self._sync_s_avg < INLINE_SYNC_S:
                            took = max(_timed_sync(s) for s in dirty)
                        elif len(dirty) == 1:  # no gather, no context copy
                            took = await loop.run_in_executor(None, _timed_sync,
                                                              next(iter(dirty)))
                        else:
                            took = max(await asyncio.gather(
                                *(loop.run_in_executor(None, _timed_sync, s) for s in dirty)))
                        self._sync_s_avg += (took - self._sync_s_avg) / 8
                    except OSError:  # data may be lost: stop rather than acknowledge it
                        log.critical("fsync failed; stopping the broker", exc_info=True)
                        os._exit(70)
                for g, n in batch:
                    for _ in range(n):
                        fx = g.after_sync.popleft()
                        try:
                            fx()
                        except Exception:  # one group's failure must not stall the others
                            log.exception("%s: applying a Raft Ready failed", g.name)
                    if g.after_sync:
                        self._waiting.add(g)  # queued during the fsync: next batch
        finally:
            self._flusher = None

    # -- messages --------------------------------------------------------------------

    def send(self, group: str, msg: Any) -> None:
        link = self.links.get(msg.dst)
        if link is not None:
            link.send(rpc.encode_raft(group, msg))

    def on_frame(self, parts: list[Any]) -> None:
        kind = parts[0]
        if kind == rpc.RAFT:
            group, msg = rpc.decode_raft(parts)
            g = self.groups.get(group)
            if g is None or msg.src not in g.replicas:
                return  # a topic this node has not created yet: Raft will resend
            try:
                g.step(msg)
            except RaftInvariantError:
                log.exception("%s: raft invariant broken", group)
        elif kind == rpc.HELLO:
            _, node, host, port = parts
            log.info("peer %s says hello; its clients use %s:%s", node, host, port)
            self.brokers[int(node)] = (str(host), int(port))
        elif kind == rpc.LEADER:
            _, name, term, leader, isr = parts
            self._on_announce(str(name), int(term), int(leader), list(isr))
        elif kind == rpc.FORWARD:
            if self.controller is not None:
                self.controller.propose(_command_batch(bytes(parts[1]), self.ctx.now_ms()))
        else:
            raise rpc.BadFrame(f"unknown peer frame kind {kind!r}")

    # -- controller ------------------------------------------------------------------

    @property
    def controller_id(self) -> int:
        c = self.controller
        return c.leader_id if c is not None and c.leader_id is not None else self.node_id

    def default_replication_factor(self) -> int:
        """``default.replication.factor``, or min(3, number of nodes) if unset."""
        rf = self.ctx.config.default_replication_factor
        return rf if rf is not None else min(3, len(self.voters))

    async def create_topic(self, name: str, partitions: int, configs: dict[str, str],
                           timeout_s: float, replicas: list[list[int]] | None = None
                           ) -> Any:
        """Create through the controller log with these replicas per partition
        (default: `assign_replicas` with the default replication factor, which the
        caller has checked); the topic once this node applied it, or None on timeout."""
        if replicas is None:
            replicas = assign_replicas(self.voters, partitions,
                                       self.default_replication_factor())
        cmd = msgspec.msgpack.encode(TopicCommand(name, partitions, dict(configs),
                                                  str(uuid.uuid4()), replicas))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        sent_to: int | None = None
        while True:
            topic = self.ctx.topics.get(name)
            if topic is not None:
                return topic
            c = self.controller
            assert c is not None
            if sent_to is None or c.leader_id != sent_to:
                if c.role is Role.LEADER:
                    c.propose(_command_batch(cmd, self.ctx.now_ms()))
                    sent_to = self.node_id
                elif c.leader_id is not None and c.leader_id in self.links:
                    self.links[c.leader_id].send(rpc.frame([rpc.FORWARD, cmd]))
                    sent_to = c.leader_id
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            fut: asyncio.Future[None] = loop.create_future()
            self._topic_waiters.append(fut)
            try:
                await asyncio.wait_for(fut, timeout=min(remaining, 0.5))
            except TimeoutError:
                sent_to = None  # resend: the command or its leader may be lost

    def _apply_controller(self, group: RaftGroup, ready: Ready) -> None:
        store = self.ctx.topics
        for e in ready.committed:
            for cmd in _commands(e.data):
                if store.get(cmd.name) is not None:
                    continue
                topic = store.create(cmd.name, cmd.partitions, cmd.configs,
                                     self.ctx.now_ms(), topic_id=uuid.UUID(cmd.topic_id))
                for p in topic.partitions:
                    self.attach(p, cmd.replicas[p.index] if cmd.replicas else None)
        waiters, self._topic_waiters = self._topic_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # -- Kafka semantics -------------------------------------------------------------

    async def produce(self, p: Any, data: bytes, acks: int, timeout_ms: int) -> Any:
        """Append a produce request's record set to replicated partition ``p``."""
        from reference_broker.topics import AppendResult

        g: RaftGroup = p.replica
        if not g.serving:
            return AppendResult(errors.NOT_LEADER_OR_FOLLOWER)
        min_isr = p.config.min_insync_replicas
        if acks == -1 and min_isr > 1:  # the leader itself is always in sync
            isr = self.isr(g)
            if len(isr) < min_isr:
                return AppendResult(errors.NOT_ENOUGH_REPLICAS, message=(
                    f"ISR {isr} of {g.name} is smaller than min.insync.replicas {min_isr}"))
        checked = p.validate(data)
        if isinstance(checked, AppendResult):
            return checked
        base = -1
        last = 0
        for pos, h in records.iter_batches(data):
            verdict = p.producers.check(h.producer_id, h.producer_epoch, h.base_sequence,
                                        h.last_sequence)
            if verdict.duplicate is not None:  # a retry: answer once all written commit
                if base < 0:
                    base = verdict.duplicate.first_offset
                last = max(last, g.storage.last_index())
                continue
            if verdict.error_code:
                return AppendResult(verdict.error_code)
            offset = g.storage.end_offset(g.storage.last_index())
            index = g.propose(bytes(data[pos:pos + h.size]))
            if index is None:
                return AppendResult(errors.NOT_LEADER_OR_FOLLOWER)
            if base < 0:
                base = offset
            last = index
        if acks == -1 and last and not self.ack_before_commit:
            try:
                got = await asyncio.wait_for(g.committed(last), timeout=timeout_ms / 1000)
            except TimeoutError:
                return AppendResult(errors.REQUEST_TIMED_OUT)
            if got < 0:  # another entry was committed in its place: definitely lost
                return AppendResult(errors.NOT_LEADER_OR_FOLLOWER)
        return AppendResult(errors.NONE, base, p.log_start_offset)


def _command_batch(cmd: bytes, now_ms: int) -> bytes:
    return records.build_batch([records.Record(key=None, value=cmd, timestamp=now_ms)])
