"""Transaction APIs: InitProducerId (with a transactional id), AddPartitionsToTxn
(v0-3), AddOffsetsToTxn (v0-3), EndTxn (v0-3) and TxnOffsetCommit (v0-3).

Each handler turns one wire version into a call of the node's `TxnService`
(`reference_broker.txn`, whose coordinator module is the spec) and its error back.
Version differences handled here: PRODUCER_FENCED (90) goes to InitProducerId v4+,
AddPartitionsToTxn v2+, AddOffsetsToTxn v2+, EndTxn v2+ and TxnOffsetCommit v3+; older
versions get INVALID_PRODUCER_EPOCH (47) instead (KIP-588). AddPartitionsToTxn v4+
(KIP-890's batched broker-to-coordinator form) is not served.

AddPartitionsToTxn with an unknown partition answers UNKNOWN_TOPIC_OR_PARTITION for it
and OPERATION_NOT_ATTEMPTED for the others, and adds none, as Kafka does.
TxnOffsetCommit v3+ checks the member and generation it names against the group (an
empty member id or generation -1 is not checked, as in Kafka); unknown partitions get
UNKNOWN_TOPIC_OR_PARTITION and metadata above offset.metadata.max.bytes
OFFSET_METADATA_TOO_LARGE (those offsets are not staged; the others are).

Single node only. In a cluster (``--peers``) these APIs are not advertised in
ApiVersions, FindCoordinator for a transactional id and InitProducerId with one answer
TRANSACTIONAL_ID_AUTHORIZATION_FAILED (FindCoordinator with an error message saying
why), and the other APIs answer the same error: the coordinator's state is not
replicated, so a failover could not keep Kafka's transactional guarantees.

Lifetime: the startup hook opens the service (`TxnService.open`, from
``txn-state.json``; not on a data dir that belongs to a cluster node) into
``ctx.extras["txn"]``; the server's housekeeping calls its `tick` (timeouts, retries,
crash recovery); the shutdown hook waits for ends in flight.
"""

from __future__ import annotations

import logging
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker.protocol import codec
from reference_broker.protocol.handlers import (
    ApiKey,
    BrokerContext,
    RequestHeader,
    handler,
    on_shutdown,
    on_startup,
)
from reference_broker.txn import StagedOffset, TxnError, fenced_code
from reference_broker.txn.service import TxnService

log = logging.getLogger(__name__)

EXTRAS_KEY = "txn"
#: API keys served only on a single node (left out of ApiVersions in a cluster).
TXN_API_KEYS = frozenset({ApiKey.ADD_PARTITIONS_TO_TXN, ApiKey.ADD_OFFSETS_TO_TXN,
                          ApiKey.END_TXN, ApiKey.TXN_OFFSET_COMMIT})
CLUSTER_REFUSAL = ("transactions are not supported by the reference broker in cluster "
                   "mode (--peers): its transaction coordinator is not replicated; use a "
                   "single node")
_NOT_HERE = int(TxnError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)


@on_startup
async def _open_txn(ctx: BrokerContext) -> None:
    """Load the coordinator; unreadable state stops the broker (exit status 2) with a
    message rather than forgetting producer epochs and open transactions. A data dir
    of a cluster node (it has a controller log) gets no coordinator."""
    if (ctx.data_dir / f"{_cluster.CONTROLLER}-0").exists():
        return
    try:
        ctx.extras[EXTRAS_KEY] = TxnService.open(
            ctx.data_dir, max_timeout_ms=ctx.config.transaction_max_timeout_ms,
            topics=ctx.topics, groups=lambda: ctx.groups, clock_ms=ctx.now_ms)
    except ValueError as exc:
        log.error("cannot load the transaction coordinator's state: %s; move that file "
                  "away to start with no transactional ids (open transactions then get "
                  "aborted)", exc)
        raise SystemExit(2) from None


@on_shutdown
async def _close_txn(ctx: BrokerContext) -> None:
    svc = ctx.extras.pop(EXTRAS_KEY, None)
    if isinstance(svc, TxnService):
        await svc.aclose()


def service(ctx: BrokerContext) -> TxnService | None:
    """The node's transaction service; None in a cluster (transactions refused)."""
    svc = ctx.extras.get(EXTRAS_KEY)
    if not isinstance(svc, TxnService) or _cluster.of(ctx) is not None:
        return None
    return svc


async def init_transactional(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    """InitProducerId with a transactional id (called by core's handler)."""
    v = header.api_version
    cls = codec.response_class(ApiKey.INIT_PRODUCER_ID)
    svc = service(ctx)
    if svc is None:
        log.info("InitProducerId with transactional.id %r refused: %s",
                 request.transactional_id, CLUSTER_REFUSAL)
        return cls(version=v, throttle_time_ms=0, error_code=_NOT_HERE, producer_id=-1,
                   producer_epoch=-1)
    pid, epoch = (request.producer_id, request.producer_epoch) if v >= 3 else (-1, -1)
    res = await svc.init_producer_id(request.transactional_id, request.transaction_timeout_ms,
                                     pid, epoch)
    if res.error:
        return cls(version=v, throttle_time_ms=0, producer_id=-1, producer_epoch=-1,
                   error_code=fenced_code(res.error, v >= 4))
    return cls(version=v, throttle_time_ms=0, error_code=0, producer_id=res.producer_id,
               producer_epoch=res.epoch)


@handler(ApiKey.ADD_PARTITIONS_TO_TXN, 0, 3)
async def add_partitions_to_txn(ctx: BrokerContext, header: RequestHeader,
                                request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.ADD_PARTITIONS_TO_TXN)
    T = cls.AddPartitionsToTxnTopicResult
    P = T.AddPartitionsToTxnPartitionResult
    wanted = [(t.name, int(idx)) for t in request.v3_and_below_topics or []
              for idx in t.partitions or []]
    svc = service(ctx)
    unknown = {tp for tp in wanted if not ctx.topics.partition_exists(*tp)}
    codes: dict[tuple[str, int], int] = {}
    if svc is None:
        codes = dict.fromkeys(wanted, _NOT_HERE)
    elif unknown:
        codes = {tp: int(TxnError.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown
                         else TxnError.OPERATION_NOT_ATTEMPTED) for tp in wanted}
    else:
        error = await svc.add_partitions(request.v3_and_below_transactional_id,
                                         request.v3_and_below_producer_id,
                                         request.v3_and_below_producer_epoch, wanted)
        codes = dict.fromkeys(wanted, fenced_code(error, v >= 2))
    by_topic: dict[str, list[Any]] = {}
    for (topic, idx), code in codes.items():
        by_topic.setdefault(topic, []).append(P(partition_index=idx, partition_error_code=code))
    return cls(version=v, throttle_time_ms=0, results_by_topic_v3_and_below=[
        T(name=name, results_by_partition=parts) for name, parts in by_topic.items()])


@handler(ApiKey.ADD_OFFSETS_TO_TXN, 0, 3)
async def add_offsets_to_txn(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.ADD_OFFSETS_TO_TXN)
    svc = service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0, error_code=_NOT_HERE)
    error = await svc.add_offsets(request.transactional_id, request.producer_id,
                                  request.producer_epoch, request.group_id)
    return cls(version=v, throttle_time_ms=0, error_code=fenced_code(error, v >= 2))


@handler(ApiKey.END_TXN, 0, 3)
async def end_txn(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.END_TXN)
    svc = service(ctx)
    if svc is None:
        return cls(version=v, throttle_time_ms=0, error_code=_NOT_HERE)
    error = await svc.end_txn(request.transactional_id, request.producer_id,
                              request.producer_epoch, bool(request.committed))
    return cls(version=v, throttle_time_ms=0, error_code=fenced_code(error, v >= 2))


@handler(ApiKey.TXN_OFFSET_COMMIT, 0, 3)
async def txn_offset_commit(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.TXN_OFFSET_COMMIT)
    T = cls.TxnOffsetCommitResponseTopic
    P = T.TxnOffsetCommitResponsePartition
    staged: list[StagedOffset] = []
    wanted: list[tuple[str, int]] = []
    for t in request.topics or []:
        for p in t.partitions or []:
            wanted.append((t.name, p.partition_index))
            staged.append(StagedOffset(
                t.name, p.partition_index, p.committed_offset,
                p.committed_leader_epoch if v >= 2 else -1, p.committed_metadata))
    unknown = {tp for tp in wanted if not ctx.topics.partition_exists(*tp)}
    max_metadata = _metadata_max_bytes(ctx)
    too_large = {(o.topic, o.partition) for o in staged
                 if o.metadata is not None and len(o.metadata.encode()) > max_metadata}
    svc = service(ctx)
    if svc is None:
        error = _NOT_HERE
    else:
        member_error = _member_error(ctx, request, v)
        if member_error:
            error = member_error
        else:
            error = fenced_code(await svc.stage_offsets(
                request.transactional_id, request.producer_id, request.producer_epoch,
                request.group_id, [o for o in staged if (o.topic, o.partition) not in
                                   unknown | too_large]),
                v >= 3)
    by_topic: dict[str, list[Any]] = {}
    for tp in wanted:
        code = int(TxnError.UNKNOWN_TOPIC_OR_PARTITION) if tp in unknown else error
        if tp in too_large and code == 0:
            code = _OFFSET_METADATA_TOO_LARGE
        by_topic.setdefault(tp[0], []).append(P(partition_index=tp[1], error_code=code))
    return cls(version=v, throttle_time_ms=0, topics=[
        T(name=name, partitions=parts) for name, parts in by_topic.items()])


_UNKNOWN_MEMBER_ID = 25
_ILLEGAL_GENERATION = 22
_OFFSET_METADATA_TOO_LARGE = 12


def _metadata_max_bytes(ctx: BrokerContext) -> int:
    """The group coordinator's offset.metadata.max.bytes (checked when an offset is
    staged, as Kafka does: refused at commit time it would be lost)."""
    config = getattr(getattr(ctx.groups, "coordinator", None), "config", None)
    return int(getattr(config, "offset_metadata_max_bytes", 4096))


def _member_error(ctx: BrokerContext, request: Any, version: int) -> int:
    """TxnOffsetCommit v3+: the member and generation named must be the group's."""
    if version < 3:
        return 0
    coordinator = getattr(ctx.groups, "coordinator", None)
    if coordinator is None:
        return 0
    group_id = request.group_id
    if request.member_id and request.member_id not in coordinator.members_of(group_id):
        return _UNKNOWN_MEMBER_ID
    generation = coordinator.generation_of(group_id)
    if request.generation_id >= 0 and generation is not None \
            and request.generation_id != generation:
        return _ILLEGAL_GENERATION
    return 0


__all__ = ["CLUSTER_REFUSAL", "TXN_API_KEYS", "init_transactional", "service"]
