"""The asyncio driver of the Raft groups of one broker, and their Kafka semantics.

`Cluster` runs one `RaftGroup` per partition (voters: every node) and one for the
controller (``__cluster_metadata``), ticks them every `TICK_S`, carries their
messages over `rpc`, and obeys the Raft driver contract simply: each Ready is
persisted, fsynced when it says so, and only then are its messages sent and its
commits applied, all before the node is called again (one fsync per Ready; no
group commit yet).

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

The controller log holds topic creations (msgpack commands in record batches);
every node applies them in order, so all create the same topics with the same ids.
A node that is not the controller's leader forwards the command to it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
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
from .storage import RaftPartitionLog

log = logging.getLogger(__name__)

TICK_S = 0.02
CONTROLLER = "__cluster_metadata"
RAFT_BUGS = frozenset({"no-truncate-on-election", "unclean-election", "unsynced-hard-state"})


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class RaftGroup:
    """One Raft node of this broker and its waiters."""

    def __init__(self, cluster: Cluster, name: str, storage: RaftPartitionLog,
                 config: RaftConfig,
                 on_commit: Callable[[RaftGroup, Ready], None] | None = None) -> None:
        self.cluster = cluster
        self.name = name
        self.storage = storage
        self.node = RaftNode(config, storage, cluster.randint, monotonic_ms())
        self.on_commit = on_commit
        self.role = Role.FOLLOWER
        self.term = self.node.term
        self.leader_id: int | None = None
        self.commit_index = 0
        self.high_watermark = 0
        self._waiters: dict[int, tuple[int, asyncio.Future[int]]] = {}
        self.notify: Callable[[], None] | None = None  # wakes waiting fetches
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
        persist(self.storage, ready.truncate_from, ready.entries, ready.hard_state,
                ready.sync)
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
                if self.storage.term_at(index) == term:
                    fut.set_result(index)
                else:
                    fut.set_result(-1)

    def propose(self, data: bytes) -> int | None:
        """Append ``data`` if leading; returns its index once written (or None)."""
        index = self.node.propose(data)
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

    def tick(self) -> None:
        self.handle(self.node.tick(monotonic_ms()))

    def status(self) -> Any:
        return self.node.status()


class TopicCommand(msgspec.Struct, array_like=True):
    """Controller log entry: create a topic (the first command for a name wins)."""

    name: str
    partitions: int
    configs: dict[str, str]
    topic_id: str


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
        self.links: dict[int, rpc.PeerLink] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._topic_waiters: list[asyncio.Future[None]] = []
        self.controller: RaftGroup | None = None

    # -- lifetime --------------------------------------------------------------------

    async def start(self) -> None:
        ctx = self.ctx
        self.brokers[self.node_id] = (ctx.advertised_host, ctx.advertised_port)
        data_dir: Path = ctx.data_dir
        plog = PartitionLog.open(data_dir / f"{CONTROLLER}-0", LogConfig(flush="never"),
                                 ctx.now_ms())
        self.controller = self._add_group(CONTROLLER, RaftPartitionLog(plog, ctx.now_ms),
                                          self._apply_controller)
        for topic in ctx.topics:
            for p in topic.partitions:
                self.attach(p)
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

    def _add_group(self, name: str, storage: RaftPartitionLog,
                   on_commit: Callable[[RaftGroup, Ready], None] | None = None) -> RaftGroup:
        g = RaftGroup(self, name, storage, self.raft_config, on_commit)
        self.groups[name] = g
        return g

    def attach(self, p: Any) -> None:
        """Replicate partition ``p`` (a `topics.Partition`) with its own Raft group."""
        name = f"{p.topic}-{p.index}"

        def rebuild() -> None:
            p.reset_producers()

        storage = RaftPartitionLog(p.log, self.ctx.now_ms, on_append=p.record_producer,
                                   on_truncate=rebuild)
        g = self._add_group(name, storage)
        g.notify = p.notify
        if self.forget_producer_state:
            def forget() -> None:
                p.producers = ProducerStateTable()

            g.on_lead = forget
        p.replica = g

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            for g in list(self.groups.values()):
                try:
                    g.tick()
                except Exception:  # a broken group must not stop the others
                    log.exception("%s: tick failed", g.name)

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
            if g is None or msg.src not in self.voters:
                return  # a topic this node has not created yet: Raft will resend
            try:
                g.step(msg)
            except RaftInvariantError:
                log.exception("%s: raft invariant broken", group)
        elif kind == rpc.HELLO:
            _, node, host, port = parts
            log.info("peer %s says hello; its clients use %s:%s", node, host, port)
            self.brokers[int(node)] = (str(host), int(port))
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

    async def create_topic(self, name: str, partitions: int, configs: dict[str, str],
                           timeout_s: float) -> Any:
        """Create through the controller log; the topic once this node applied it, or
        None on timeout."""
        cmd = msgspec.msgpack.encode(TopicCommand(name, partitions, dict(configs),
                                                  str(uuid.uuid4())))
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
            if not e.data:
                continue
            h = records.read_header(e.data)
            if h.is_control:
                continue
            for r in records.iter_records(e.data):
                try:
                    cmd = msgspec.msgpack.decode(r.value or b"", type=TopicCommand)
                except msgspec.DecodeError:
                    log.error("controller entry %d is not a command; skipped", e.index)
                    continue
                if store.get(cmd.name) is not None:
                    continue
                topic = store.create(cmd.name, cmd.partitions, cmd.configs,
                                     self.ctx.now_ms(), topic_id=uuid.UUID(cmd.topic_id))
                for p in topic.partitions:
                    self.attach(p)
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
