"""FindCoordinator and the classic group APIs, over the sans-I/O coordinator.

Each handler turns one wire version of a request (kafka-python's classes) into the
coordinator's version-independent request (`reference_broker.groups`) and its result
back into that version's response. Version differences handled here:
- FindCoordinator v0-3 answer one key; v4+ a batch (`coordinator_keys`). A single
  node coordinates every group (and transactional id); in a cluster a group's
  coordinator is the leader of its `__consumer_offsets` partition
  (`reference_broker.cluster.groups`); transactional ids get
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a message (transactions are single-node
  only, see `reference_broker.protocol.handlers.txn`).
- JoinGroup v0 has no rebalance timeout (it is the session timeout); v4+ first joins get
  MEMBER_ID_REQUIRED; protocol names are non-nullable before v7.
- LeaveGroup v0-2 name one member (its error is the top-level error); v3+ a batch.
- OffsetCommit v0 has no generation/member (a simple commit); partitions of unknown
  topics get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka. v10 (topic ids) is not served.
- OffsetFetch v0-7 ask for one group (`topics` null = all, v2+); v8+ for several groups.
  With require_stable (v7+, KIP-447; kafka-python and librdkafka set it when reading
  committed) a partition whose offset a transaction of the group has staged and not
  finished answers UNSTABLE_OFFSET_COMMIT (88, retriable; per partition, offset -1, as
  Kafka's coordinator does) instead of the offset that transaction is about to replace.
- ListGroups v4+ filter by state, v5+ by type ("classic" is the only type here).
- DescribeGroups v6+ answers GROUP_ID_NOT_FOUND for unknown groups (KIP-1043).
- DeleteGroups v0-2: empty groups only (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND otherwise).

Lifetime: the startup hook opens the coordinator (`GroupService.open`, which replays
`__consumer_offsets`) into `ctx.groups`; the server's housekeeping calls
`ctx.groups.tick(now_ms)` every 100 ms; the shutdown hook closes it. In a cluster the
cluster replaces it with `ReplicatedGroups` (same API, routed by group id); the hook
skips the local store of a data dir that belongs to a cluster node (it has a
controller log), whose `__consumer_offsets-<i>` are Raft logs.
"""

from __future__ import annotations

import logging
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker import records
from reference_broker.cluster.groups import ReplicatedGroups
from reference_broker.groups import (
    Assignment,
    CommitOffset,
    DeleteGroups,
    ErrorCode,
    GroupConfig,
    Heartbeat,
    JoinGroup,
    LeaveGroup,
    LeavingMember,
    OffsetCommit,
    OffsetFetch,
    OffsetFetchResult,
    Protocol,
    RecordFormatError,
    SyncGroup,
    TopicPartition,
)
from reference_broker.groups.driver import GroupService, config_from_broker
from reference_broker.groups.store import PARTITION_DIR
from reference_broker.log import LogError
from reference_broker.protocol import codec
from reference_broker.protocol.handlers import (
    ApiKey,
    BrokerContext,
    RequestHeader,
    handler,
    on_shutdown,
    on_startup,
)
from reference_broker.txn.service import TxnService

log = logging.getLogger(__name__)

GROUP_TYPE = "classic"
#: Kafka's UNSTABLE_OFFSET_COMMIT (retriable): OffsetFetch with require_stable.
UNSTABLE_OFFSET_COMMIT = 88
#: where `reference_broker.protocol.handlers.txn` keeps the node's `TxnService`
#: (not imported: that module registers its hooks after this one's).
_TXN_EXTRAS_KEY = "txn"
# kafka-python models AuthorizedOperations as a set of operations; None encodes
# Kafka's "not requested" value (INT32_MIN).
_AUTHORIZED_OPS_UNSET = None


def group_config(ctx: BrokerContext) -> GroupConfig:
    """The coordinator's settings (`config_from_broker`). Planted bugs: `logtrial run
    --bug NAME` passes `--config logtrial.bugs=a,b`."""
    return config_from_broker(ctx.config)


@on_startup
async def _open_groups(ctx: BrokerContext) -> None:
    """Load the coordinator; unreadable group state stops the broker (exit status 2)
    with a message, rather than serving groups with offsets silently missing."""
    if (ctx.data_dir / f"{_cluster.CONTROLLER}-0").exists():
        log.info("%s belongs to a cluster node: group state is replicated", ctx.data_dir)
        return
    try:
        ctx.groups = GroupService.open(
            ctx.data_dir, group_config(ctx), clock_ms=ctx.now_ms,
            flush=ctx.config.log.flush_policy, flush_interval_ms=ctx.config.log.flush_ms)
    except (RecordFormatError, LogError, records.InvalidRecords, ValueError) as exc:
        log.error("cannot load the group coordinator's state from %s/%s: %s; move that "
                  "directory away to start with no groups and no committed offsets",
                  ctx.data_dir, PARTITION_DIR, exc)
        raise SystemExit(2) from None


@on_shutdown
async def _close_groups(ctx: BrokerContext) -> None:
    if isinstance(ctx.groups, GroupService | ReplicatedGroups):
        await ctx.groups.aclose()
        ctx.groups = None


def _service(ctx: BrokerContext) -> GroupService[Any] | ReplicatedGroups | None:
    groups = ctx.groups
    return groups if isinstance(groups, GroupService | ReplicatedGroups) else None


def _client_host(header: RequestHeader) -> str:
    host = header.peer.rsplit(":", 1)[0] if header.peer else ""
    return "/" + host


# ----- FindCoordinator ---------------------------------------------------------------


@handler(ApiKey.FIND_COORDINATOR, 0, 6)
async def find_coordinator(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.FIND_COORDINATOR)
    key_type = request.key_type if v >= 1 else 0
    message = None
    if key_type == _TXN_KEY_TYPE and _cluster.of(ctx) is not None:
        from reference_broker.protocol.handlers.txn import CLUSTER_REFUSAL

        message = CLUSTER_REFUSAL
    if v >= 4:
        coordinators = []
        for key in request.coordinator_keys or []:
            error, node, host, port = _coordinator(ctx, key, key_type)
            coordinators.append(cls.Coordinator(key=key, node_id=node, host=host, port=port,
                                                error_code=int(error), error_message=message))
        return cls(version=v, throttle_time_ms=0, coordinators=coordinators)
    error, node, host, port = _coordinator(ctx, request.key, key_type)
    return cls(version=v, throttle_time_ms=0, error_code=int(error), error_message=message,
               node_id=node, host=host, port=port)


_TXN_KEY_TYPE = 1
_TXN_REFUSED = 53  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def _coordinator(ctx: BrokerContext, key: str | None, key_type: int
                 ) -> tuple[int, int, str, int]:
    """(error, node id, host, port) of the coordinator of ``key``."""
    svc = _service(ctx)
    none = (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1)
    if svc is None:
        return none
    replicated = _cluster.of(ctx)
    if replicated is None:
        return ErrorCode.NONE, ctx.node_id, ctx.advertised_host, ctx.advertised_port
    if key_type == _TXN_KEY_TYPE:
        return _TXN_REFUSED, -1, "", -1
    if isinstance(svc, ReplicatedGroups) and key_type == 0:
        node = svc.coordinator(key or "")
    else:
        node = replicated.controller_id
    addr = replicated.brokers.get(node) if node is not None else None
    if node is None or addr is None:
        return none
    return ErrorCode.NONE, node, addr[0], addr[1]


# ----- JoinGroup / SyncGroup / Heartbeat / LeaveGroup ---------------------------------


@handler(ApiKey.JOIN_GROUP, 0, 9)
async def join_group(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.JOIN_GROUP)
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE),
                   generation_id=-1, protocol_name=None if v >= 7 else "", leader="",
                   member_id=request.member_id or "", members=[])
    rebalance_ms = request.rebalance_timeout_ms if v >= 1 else -1
    if rebalance_ms is None or rebalance_ms < 0:
        rebalance_ms = request.session_timeout_ms
    result = await svc.join(JoinGroup(
        group_id=request.group_id,
        member_id=request.member_id or "",
        group_instance_id=request.group_instance_id if v >= 5 else None,
        client_id=header.client_id or "",
        client_host=_client_host(header),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=rebalance_ms,
        protocol_type=request.protocol_type or "",
        protocols=tuple(Protocol(name=p.name, metadata=bytes(p.metadata or b""))
                        for p in request.protocols or []),
        require_known_member_id=v >= 4,
    ))
    members = [cls.JoinGroupResponseMember(member_id=m.member_id,
                                           group_instance_id=m.group_instance_id,
                                           metadata=m.metadata)
               for m in result.members]
    protocol_name = result.protocol_name
    if protocol_name is None and v < 7:
        protocol_name = ""
    return cls(version=v, throttle_time_ms=0, error_code=int(result.error),
               generation_id=result.generation_id, protocol_type=result.protocol_type,
               protocol_name=protocol_name, leader=result.leader, skip_assignment=False,
               member_id=result.member_id, members=members)


@handler(ApiKey.SYNC_GROUP, 0, 5)
async def sync_group(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.SYNC_GROUP)
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0,
                   error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE), assignment=b"")
    result = await svc.sync(SyncGroup(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id or "",
        group_instance_id=request.group_instance_id if v >= 3 else None,
        protocol_type=request.protocol_type if v >= 5 else None,
        protocol_name=request.protocol_name if v >= 5 else None,
        assignments=tuple(Assignment(member_id=a.member_id,
                                     assignment=bytes(a.assignment or b""))
                          for a in request.assignments or []),
    ))
    return cls(version=v, throttle_time_ms=0, error_code=int(result.error),
               protocol_type=result.protocol_type, protocol_name=result.protocol_name,
               assignment=result.assignment)


@handler(ApiKey.HEARTBEAT, 0, 4)
async def heartbeat(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.HEARTBEAT)
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0,
                   error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    result = await svc.heartbeat(Heartbeat(
        group_id=request.group_id, generation_id=request.generation_id,
        member_id=request.member_id or "",
        group_instance_id=request.group_instance_id if v >= 3 else None))
    return cls(version=v, throttle_time_ms=0, error_code=int(result.error))


@handler(ApiKey.LEAVE_GROUP, 0, 5)
async def leave_group(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.LEAVE_GROUP)
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0,
                   error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE), members=[])
    if v >= 3:
        leaving = tuple(LeavingMember(member_id=m.member_id or "",
                                      group_instance_id=m.group_instance_id)
                        for m in request.members or [])
    else:
        leaving = (LeavingMember(member_id=request.member_id or ""),)
    result = await svc.leave(LeaveGroup(group_id=request.group_id, members=leaving))
    if v < 3:
        error = result.error
        if error == ErrorCode.NONE and result.members:
            error = result.members[0].error
        return cls(version=v, throttle_time_ms=0, error_code=int(error))
    members = [cls.MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                  error_code=int(m.error))
               for m in result.members]
    return cls(version=v, throttle_time_ms=0, error_code=int(result.error), members=members)


# ----- OffsetCommit / OffsetFetch ----------------------------------------------------


def _partition_exists(ctx: BrokerContext, topic: str, partition: int) -> bool:
    topics = ctx.topics
    if topics is None or not hasattr(topics, "partition_exists"):
        return True
    return bool(topics.partition_exists(topic, partition))


@handler(ApiKey.OFFSET_COMMIT, 0, 9)
async def offset_commit(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.OFFSET_COMMIT)
    T = cls.OffsetCommitResponseTopic
    P = T.OffsetCommitResponsePartition
    wanted: list[tuple[str, int]] = []
    known: list[CommitOffset] = []
    errors: dict[tuple[str, int], ErrorCode] = {}
    for t in request.topics or []:
        for p in t.partitions or []:
            key = (t.name, p.partition_index)
            wanted.append(key)
            if not _partition_exists(ctx, t.name, p.partition_index):
                errors[key] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            known.append(CommitOffset(
                topic=t.name, partition=p.partition_index, offset=p.committed_offset,
                leader_epoch=p.committed_leader_epoch if v >= 6 else -1,
                metadata=p.committed_metadata))
    svc = _service(ctx)
    if svc is None:
        for key in wanted:
            errors.setdefault(key, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    elif known:
        result = await svc.commit(OffsetCommit(
            group_id=request.group_id,
            generation_id=request.generation_id_or_member_epoch if v >= 1 else -1,
            member_id=(request.member_id or "") if v >= 1 else "",
            group_instance_id=request.group_instance_id if v >= 7 else None,
            offsets=tuple(known)))
        for pe in result.partitions:
            errors[(pe.topic, pe.partition)] = pe.error
    by_topic: dict[str, list[Any]] = {}
    for topic, partition in wanted:
        by_topic.setdefault(topic, []).append(P(
            partition_index=partition, error_code=int(errors[(topic, partition)])))
    return cls(version=v, throttle_time_ms=0,
               topics=[T(name=name, partitions=parts) for name, parts in by_topic.items()])


def _fetch_request(group_id: str, topics: Any) -> OffsetFetch:
    if topics is None:
        return OffsetFetch(group_id=group_id, partitions=None)
    return OffsetFetch(group_id=group_id, partitions=tuple(
        TopicPartition(topic=t.name, partition=p)
        for t in topics for p in t.partition_indexes or []))


def _unstable_offsets(ctx: BrokerContext, group_id: str) -> set[tuple[str, int]]:
    """The partitions whose offsets for ``group_id`` an unfinished transaction has
    staged (`TxnService.unstable_offsets`); none in a cluster (no transactions)."""
    txn = ctx.extras.get(_TXN_EXTRAS_KEY)
    if _cluster.of(ctx) is not None or not isinstance(txn, TxnService):
        return set()
    return txn.unstable_offsets(group_id)


async def _fetch(ctx: BrokerContext, req: OffsetFetch, require_stable: bool
                 ) -> tuple[OffsetFetchResult, set[tuple[str, int]]]:
    """The group's offsets and, with ``require_stable``, the unstable partitions.

    The transactions are asked before the group is read: a transaction leaves the
    unstable set only after its offsets are durably committed to the group, and the
    read sees all durable commits, so no answer is an offset it was about to replace."""
    svc = _service(ctx)
    if svc is None:
        return OffsetFetchResult(group_id=req.group_id,
                                 error=ErrorCode.COORDINATOR_NOT_AVAILABLE), set()
    unstable = _unstable_offsets(ctx, req.group_id) if require_stable else set()
    return await svc.fetch_offsets(req), unstable


def _grouped(req: OffsetFetch, result: OffsetFetchResult,
             unstable: set[tuple[str, int]]) -> dict[str, list[Any]]:
    """topic -> [(partition, offset, leader_epoch, metadata, error)] in request order."""
    out: dict[str, list[Any]] = {}
    if result.error != ErrorCode.NONE:
        for tp in req.partitions or ():
            out.setdefault(tp.topic, []).append((tp.partition, -1, -1, "", result.error))
        return out
    for o in result.offsets:
        row: tuple[int, int, int, str | None, int] = (
            (o.partition, -1, -1, "", UNSTABLE_OFFSET_COMMIT)
            if (o.topic, o.partition) in unstable
            else (o.partition, o.offset, o.leader_epoch, o.metadata, o.error))
        out.setdefault(o.topic, []).append(row)
    return out


@handler(ApiKey.OFFSET_FETCH, 0, 9)
async def offset_fetch(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.OFFSET_FETCH)
    if v >= 8:
        G = cls.OffsetFetchResponseGroup
        T8 = G.OffsetFetchResponseTopics
        P8 = T8.OffsetFetchResponsePartitions
        groups = []
        for g in request.groups or []:
            req = _fetch_request(g.group_id, g.topics)
            result, unstable = await _fetch(ctx, req, bool(request.require_stable))
            topics = [
                T8(name=name, partitions=[
                    P8(partition_index=p, committed_offset=off, committed_leader_epoch=ep,
                       metadata=md, error_code=int(err))
                    for p, off, ep, md, err in parts])
                for name, parts in _grouped(req, result, unstable).items()]
            groups.append(G(group_id=g.group_id, topics=topics,
                            error_code=int(result.error)))
        return cls(version=v, throttle_time_ms=0, groups=groups)
    T = cls.OffsetFetchResponseTopic
    P = T.OffsetFetchResponsePartition
    topics_req = request.topics if v >= 2 else (request.topics or [])
    req = _fetch_request(request.group_id, topics_req)
    result, unstable = await _fetch(ctx, req, v >= 7 and bool(request.require_stable))
    topics = [
        T(name=name, partitions=[
            P(partition_index=p, committed_offset=off, committed_leader_epoch=ep,
              metadata=md, error_code=int(err))
            for p, off, ep, md, err in parts])
        for name, parts in _grouped(req, result, unstable).items()]
    return cls(version=v, throttle_time_ms=0, topics=topics, error_code=int(result.error))


# ----- DescribeGroups / ListGroups ---------------------------------------------------


@handler(ApiKey.DESCRIBE_GROUPS, 0, 6)
async def describe_groups(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.DESCRIBE_GROUPS)
    D = cls.DescribedGroup
    M = D.DescribedGroupMember
    svc = _service(ctx)
    ids = list(request.groups or [])
    out = []
    if svc is None:
        out = [D(error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE), group_id=gid,
                 group_state="", protocol_type="", protocol_data="", members=[],
                 authorized_operations=_AUTHORIZED_OPS_UNSET) for gid in ids]
    else:
        for d in await svc.describe(ids):
            error, message = d.error, None
            if v >= 6 and error == ErrorCode.NONE and d.state == "Dead":
                # KIP-1043: v6+ says that the group does not exist.
                error, message = ErrorCode.GROUP_ID_NOT_FOUND, f"Group {d.group_id} not found."
            out.append(D(
                error_code=int(error), error_message=message, group_id=d.group_id,
                group_state=d.state,
                protocol_type=d.protocol_type, protocol_data=d.protocol,
                authorized_operations=_AUTHORIZED_OPS_UNSET,
                members=[M(member_id=m.member_id, group_instance_id=m.group_instance_id,
                           client_id=m.client_id, client_host=m.client_host,
                           member_metadata=m.metadata, member_assignment=m.assignment)
                         for m in d.members]))
    return cls(version=v, throttle_time_ms=0, groups=out)


@handler(ApiKey.LIST_GROUPS, 0, 5)
async def list_groups(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.LIST_GROUPS)
    L = cls.ListedGroup
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0,
                   error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE), groups=[])
    states = list(request.states_filter or []) if v >= 4 else []
    types = [t.lower() for t in request.types_filter or []] if v >= 5 else []
    if types and GROUP_TYPE not in types:
        return cls(version=v, throttle_time_ms=0, error_code=0, groups=[])
    result = await svc.list_groups(states)
    return cls(version=v, throttle_time_ms=0, error_code=int(result.error), groups=[
        L(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state,
          group_type=GROUP_TYPE)
        for g in result.groups])


@handler(ApiKey.DELETE_GROUPS, 0, 2)
async def delete_groups(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.DELETE_GROUPS)
    R = cls.DeletableGroupResult
    ids = list(request.groups_names or [])
    svc = _service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0, results=[
            R(group_id=g, error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE)) for g in ids])
    result = await svc.delete_groups(DeleteGroups(group_ids=tuple(ids)))
    return cls(version=v, throttle_time_ms=0, results=[
        R(group_id=d.group_id, error_code=int(d.error)) for d in result.groups])


__all__ = ["GROUP_TYPE", "group_config"]
