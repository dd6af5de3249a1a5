"""Replicated group coordinators: ``__consumer_offsets`` as Raft-replicated partitions.

Group state (offset commits and group metadata: `reference_broker.groups._records`)
lives in the internal topic ``__consumer_offsets``: ``offsets.topic.num.partitions``
partitions (default `DEFAULT_PARTITIONS`; data in ``<data-dir>/__consumer_offsets-<i>/``),
each a Raft group like any partition, among ``offsets.topic.replication.factor``
replicas (default `DEFAULT_REPLICATION`, at most the number of nodes; placed by
`assign_replicas`). Both settings must be the same on every node and never change
for a data dir (a smaller partition count is refused at start). A group belongs to
partition ``abs(java_string_hash(group_id)) % partitions`` (Kafka's rule) and its
coordinator is that partition's leader:

- FindCoordinator answers the leader as this node knows it (from its Raft group, or
  on a node that is no replica from the leader's announcements), or
  COORDINATOR_NOT_AVAILABLE while there is none (`ReplicatedGroups.coordinator`).
- A node serves a partition's groups only while it leads it (`OffsetsPartition`).
  Once it leads and every entry of its log is committed (its own no-op included, so
  its log holds all that earlier leaders committed), it replays the committed
  entries into a fresh `GroupCoordinator` (Kafka's "loading"); meanwhile its answer
  is COORDINATOR_LOAD_IN_PROGRESS. A node that does not lead the partition answers
  NOT_COORDINATOR, and clients rediscover.
- The records of each coordinator Output become one Raft entry (one record batch);
  replies leave only once that entry is committed (`RaftOffsetsLog.settle`), so an
  acknowledged OffsetCommit survives any failover. If another entry was committed in
  its place, NOT_COORDINATOR (certainly not stored); if the outcome is still unknown
  after `COMMIT_TIMEOUT_MS`, an OffsetCommit gets REQUEST_TIMED_OUT (maybe stored)
  and other requests COORDINATOR_NOT_AVAILABLE. Either way the coordinator's memory
  may be ahead of the log, so it retires and is rebuilt from the log.
- When the node loses the leadership (or its term changes) the coordinator retires:
  requests still queued get NOT_COORDINATOR, members waiting in JoinGroup/SyncGroup
  COORDINATOR_NOT_AVAILABLE. Members rejoin at the new coordinator, which knows the
  last stored generation and every committed offset (as in Kafka).

The planted bug ``lost-group-commits`` lives in the coordinator core, so it acts the
same here: commits are acknowledged but never reach the replicated log.

Not yet: compaction of the replicated log (loading reads every entry since the first);
transactional ids (their coordinator is still the controller's leader); changing the
partition count of a cluster's data dirs (refused at start).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reference_broker.groups import (
    DeletedGroup,
    DeleteGroups,
    DeleteGroupsResult,
    ErrorCode,
    GroupConfig,
    GroupCoordinator,
    GroupDescription,
    GroupListing,
    GroupLogRecord,
    Heartbeat,
    HeartbeatResult,
    JoinGroup,
    JoinResult,
    LeaveGroup,
    LeaveResult,
    ListGroupsResult,
    OffsetCommit,
    OffsetCommitResult,
    OffsetFetch,
    OffsetFetchResult,
    PartitionError,
    RecordFormatError,
    SyncGroup,
    SyncResult,
)
from reference_broker.groups.driver import Deposed, GroupService, config_from_broker
from reference_broker.groups.store import TOPIC, decode_batch, encode_batch
from reference_broker.log import LogConfig, PartitionLog
from reference_broker.raft import Ready, Role

from .storage import RaftPartitionLog

if TYPE_CHECKING:
    from .node import Cluster, NonReplica, RaftGroup

log = logging.getLogger(__name__)

R = TypeVar("R")
PARTITIONS_KEY = "offsets.topic.num.partitions"
DEFAULT_PARTITIONS = 3
REPLICATION_KEY = "offsets.topic.replication.factor"
DEFAULT_REPLICATION = 3  # Kafka's default
COMMIT_TIMEOUT_MS = 5000  # Kafka's offsets.commit.timeout.ms default
_LOAD_CHUNK = 256  # entries read at a time while loading


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode) % partitions`` (Java's String.hashCode
    over UTF-16 code units), so a group maps to the partition Kafka would use."""
    data = group_id.encode("utf-16-be", "surrogatepass")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def partition_count(raw: dict[str, str] | Any) -> int:
    """``offsets.topic.num.partitions`` from the broker's raw config; ValueError if bad."""
    return _positive(raw, PARTITIONS_KEY, DEFAULT_PARTITIONS)


def replication_factor(raw: dict[str, str] | Any, nodes: int) -> int:
    """``offsets.topic.replication.factor``, at most ``nodes``; ValueError if bad."""
    return min(_positive(raw, REPLICATION_KEY, DEFAULT_REPLICATION), nodes)


def _positive(raw: dict[str, str] | Any, key: str, default: int) -> int:
    value = (raw or {}).get(key)
    if value is None:
        return default
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{key}={value!r}: expected an integer >= 1")
    return n


class RaftOffsetsLog:
    """The `GroupLog` of one partition's coordinator: writes are Raft proposals by the
    leader of ``term``; `settle` waits for their commit."""

    sync_on_write = True

    def __init__(self, group: RaftGroup, term: int, timeout_ms: int) -> None:
        self._group = group
        self._term = term
        self._timeout_s = timeout_ms / 1000
        self._pending: asyncio.Future[int] | None = None
        self._index = 0

    def write(self, recs: Sequence[GroupLogRecord], now_ms: int) -> None:
        if not recs:
            return
        g = self._group
        index = g.propose(encode_batch(recs, now_ms)) if g.term == self._term else None
        if index is None:
            raise Deposed(ErrorCode.NOT_COORDINATOR, f"{g.name}: not the leader of term "
                                                     f"{self._term} any more")
        self._index = index
        self._pending = g.committed(index)

    async def settle(self) -> None:
        fut, self._pending = self._pending, None
        if fut is None:
            return
        name = self._group.name
        try:
            got = await asyncio.wait_for(fut, timeout=self._timeout_s)
        except TimeoutError:
            raise Deposed(ErrorCode.REQUEST_TIMED_OUT,
                          f"{name}: entry {self._index} not known to be committed after "
                          f"{self._timeout_s:.1f} s") from None
        if got < 0:
            raise Deposed(ErrorCode.NOT_COORDINATOR,
                          f"{name}: entry {self._index} was replaced by another leader's")

    def maybe_flush(self, now_ms: int) -> None:
        pass  # Raft fsyncs each Ready itself

    def close(self) -> None:
        pass  # the partition log belongs to `ReplicatedGroups`


class OffsetsPartition:
    """One ``__consumer_offsets`` partition: its Raft group and, while this node leads
    it, the coordinator of its groups."""

    def __init__(self, index: int, config: GroupConfig, clock_ms: Callable[[], int],
                 timeout_ms: int) -> None:
        self.index = index
        self.name = f"{TOPIC}-{index}"
        self.group: RaftGroup | None = None  # set once added to the cluster ...
        self.remote: NonReplica | None = None  # ... or this, if this node is no replica
        self.service: GroupService[RaftOffsetsLog] | None = None
        self.term = 0  # the term `service` was loaded in
        self.broken: str | None = None  # why the log cannot be loaded
        self._config = config
        self._clock_ms = clock_ms
        self._timeout_ms = timeout_ms

    def on_commit(self, group: RaftGroup, ready: Ready) -> None:
        self.reconcile()

    def current(self) -> tuple[GroupService[RaftOffsetsLog] | None, ErrorCode]:
        """The coordinator to use now, or why there is none."""
        self.reconcile()
        g = self.group
        if self.service is not None:
            return self.service, ErrorCode.NONE
        if g is not None and g.role is Role.LEADER:
            if self.broken is not None:
                return None, ErrorCode.COORDINATOR_NOT_AVAILABLE
            return None, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return None, ErrorCode.NOT_COORDINATOR

    def reconcile(self) -> None:
        """Retire the coordinator if this node no longer leads in its term; load one if
        it leads and its whole log is committed."""
        g = self.group
        if g is None:
            return
        svc = self.service
        if svc is not None and (svc.retired is not None or g.role is not Role.LEADER
                                or g.term != self.term):
            if svc.retired is None:
                svc.retire(Deposed(ErrorCode.NOT_COORDINATOR,
                                   f"{self.name}: leadership lost"))
            log.info("%s: coordinator retired (%s)", self.name, svc.retired)
            self.service = None
        if g.role is not Role.LEADER:
            self.broken = None
        elif (self.service is None and self.broken is None and g.serving
              and g.commit_index == g.storage.last_index()):
            self._load(g)

    def _load(self, g: RaftGroup) -> None:
        coord = GroupCoordinator(self._config, incarnation=uuid.uuid4().hex[:12])
        coord.begin_loading()
        n = 0
        last = g.commit_index
        first = g.storage.snapshot().index + 1  # offsets logs are never compacted: 1
        try:
            for lo in range(first, last + 1, _LOAD_CHUNK):
                for e in g.storage.entries(lo, min(lo + _LOAD_CHUNK, last + 1)):
                    for rec in decode_batch(e.data):
                        coord.replay(rec)
                        n += 1
        except RecordFormatError as exc:
            self.broken = str(exc)
            log.error("%s: cannot load group state (%s); its groups stay unavailable",
                      self.name, exc)
            return
        now = self._clock_ms()
        coord.finish_loading(now)
        self.term = g.term
        self.service = GroupService(coord, RaftOffsetsLog(g, g.term, self._timeout_ms),
                                    self._clock_ms)
        log.info("%s: coordinator loaded %d records (%d entries), %d groups, term %d",
                 self.name, n, last, len(coord.group_ids()), g.term)


class ReplicatedGroups:
    """``ctx.groups`` in a cluster: the `GroupService` API, routed by group id to the
    coordinator of its ``__consumer_offsets`` partition, or answered with why not."""

    def __init__(self, partitions: Sequence[OffsetsPartition]) -> None:
        self.partitions = list(partitions)

    @classmethod
    def open(cls, cluster: Cluster) -> ReplicatedGroups:
        """Add the offsets partitions' Raft groups to ``cluster`` and become
        ``ctx.groups`` (replacing the single-node service the startup hook opened on a
        fresh data dir). Bad settings or data stop the broker (exit status 2)."""
        from .node import NonReplica, assign_replicas  # node imports this module

        ctx = cluster.ctx
        data_dir: Path = ctx.data_dir
        raw = getattr(ctx.config, "raw", {})
        try:
            n = partition_count(raw)
            rf = replication_factor(raw, len(cluster.voters))
            _adopt_single_node_store(ctx)
            _check_partition_dirs(data_dir, n)
        except ValueError as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None
        config = config_from_broker(ctx.config)
        parts = [OffsetsPartition(i, config, ctx.now_ms, COMMIT_TIMEOUT_MS) for i in range(n)]
        for p, replicas in zip(parts, assign_replicas(cluster.voters, n, rf), strict=True):
            if cluster.node_id not in replicas:
                p.remote = cluster.others[p.name] = NonReplica(p.name, tuple(replicas))
                continue
            plog = PartitionLog.open(data_dir / p.name, LogConfig(flush="never"), ctx.now_ms())
            p.group = cluster._add_group(p.name, RaftPartitionLog(plog, ctx.now_ms),
                                         p.on_commit, voters=replicas)
        self = cls(parts)
        ctx.groups = self
        return self

    def coordinator(self, group_id: str) -> int | None:
        """The node id of the group's coordinator, as far as this node knows."""
        p = self._partition(group_id)
        g = p.group or p.remote
        return g.leader_id if g is not None else None

    # ----- the GroupService API -------------------------------------------------------

    async def join(self, req: JoinGroup) -> JoinResult:
        return await self._call(req.group_id, lambda s: s.join(req),
                                lambda e: JoinResult(error=e, member_id=req.member_id))

    async def sync(self, req: SyncGroup) -> SyncResult:
        return await self._call(req.group_id, lambda s: s.sync(req),
                                lambda e: SyncResult(error=e))

    async def heartbeat(self, req: Heartbeat) -> HeartbeatResult:
        return await self._call(req.group_id, lambda s: s.heartbeat(req),
                                lambda e: HeartbeatResult(error=e))

    async def leave(self, req: LeaveGroup) -> LeaveResult:
        return await self._call(req.group_id, lambda s: s.leave(req),
                                lambda e: LeaveResult(error=e))

    async def commit(self, req: OffsetCommit) -> OffsetCommitResult:
        return await self._call(
            req.group_id, lambda s: s.commit(req),
            lambda e: OffsetCommitResult(partitions=tuple(
                PartitionError(topic=o.topic, partition=o.partition, error=e)
                for o in req.offsets)), maybe_stored=True)

    async def delete_groups(self, req: DeleteGroups) -> DeleteGroupsResult:
        out: list[DeletedGroup] = []
        for gid in req.group_ids:
            out.extend(await self._delete_one(gid))
        return DeleteGroupsResult(groups=tuple(out))

    async def _delete_one(self, gid: str) -> tuple[DeletedGroup, ...]:
        one = DeleteGroups(group_ids=(gid,))
        result = await self._call(gid, lambda s: s.delete_groups(one),
                                  lambda e: DeleteGroupsResult(groups=(
                                      DeletedGroup(group_id=gid, error=e),)))
        return result.groups

    async def fetch_offsets(self, req: OffsetFetch) -> OffsetFetchResult:
        return await self._call(req.group_id, lambda s: s.fetch_offsets(req),
                                lambda e: OffsetFetchResult(group_id=req.group_id, error=e))

    async def describe(self, group_ids: Iterable[str]) -> tuple[GroupDescription, ...]:
        out: list[GroupDescription] = []
        for gid in group_ids:
            out.extend(await self._describe_one(gid))
        return tuple(out)

    async def _describe_one(self, gid: str) -> tuple[GroupDescription, ...]:
        return await self._call(gid, lambda s: s.describe([gid]), lambda e: (
            GroupDescription(group_id=gid, error=e, state="Dead", protocol_type="",
                             protocol=""),))

    async def list_groups(self, states: Iterable[str] | None = None,
                          types: Iterable[str] | None = None) -> ListGroupsResult:
        """The groups of every partition this node coordinates (clients ask each
        broker and merge); COORDINATOR_LOAD_IN_PROGRESS while one is still loading."""
        wanted_states = list(states or ())
        wanted_types = list(types or ())
        listed: list[GroupListing] = []
        for p in self.partitions:
            svc, error = p.current()
            if error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
                return ListGroupsResult(error=error)
            if svc is None:
                continue
            try:
                result = await svc.list_groups(wanted_states, wanted_types)
            except Deposed:
                continue  # its groups are another node's now
            if result.error != ErrorCode.NONE:
                return result
            listed.extend(result.groups)
        return ListGroupsResult(error=ErrorCode.NONE, groups=tuple(listed))

    # ----- lifetime -------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Called by the server's housekeeping (every ~100 ms)."""
        for p in self.partitions:
            p.reconcile()
            if p.service is not None:
                p.service.tick(now_ms)

    async def aclose(self) -> None:
        """Close without waiting for writes in flight: once the cluster has stopped
        their commits can no longer be learnt (their clients see a closed connection)."""
        self.close()

    def close(self) -> None:
        for p in self.partitions:
            if p.service is not None:
                p.service.close()
                p.service = None
            if p.group is not None:
                p.group.storage.plog.close()

    # ----- internals ------------------------------------------------------------------

    def _partition(self, group_id: str | None) -> OffsetsPartition:
        return self.partitions[partition_for(group_id or "", len(self.partitions))]

    async def _call(self, group_id: str | None, call: Callable[[GroupService[Any]], Awaitable[R]],
                    failed: Callable[[ErrorCode], R], *, maybe_stored: bool = False) -> R:
        svc, error = self._partition(group_id).current()
        if svc is not None:
            try:
                return await call(svc)
            except Deposed as exc:
                error = exc.error
                if error != ErrorCode.NOT_COORDINATOR and not maybe_stored:
                    error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        return failed(error)


def _adopt_single_node_store(ctx: Any) -> None:
    """Close the single-node coordinator the startup hook opened on a fresh data dir
    (and remove its empty log, whose directory the first partition takes over);
    refuse single-node group state, which no other node has."""
    single = ctx.groups
    if not isinstance(single, GroupService):
        return
    single.close()
    ctx.groups = None
    store = single.store
    directory = getattr(store, "directory", None)
    if getattr(store, "end_offset", 0) > 0:
        raise ValueError(f"{directory} holds a single-node broker's group state, which a "
                         "cluster node cannot adopt; move it away to start with no groups")
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _check_partition_dirs(data_dir: Path, n: int) -> None:
    """Refuse a partition count smaller than the one the data dir was written with
    (groups would silently move to partitions that lack their offsets)."""
    for d in data_dir.glob(f"{TOPIC}-*"):
        suffix = d.name[len(TOPIC) + 1:]
        if d.is_dir() and suffix.isdigit() and int(suffix) >= n:
            raise ValueError(f"{PARTITIONS_KEY}={n} but {d} exists: start every node with "
                             f"the partition count its data dir was created with")
