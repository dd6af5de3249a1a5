"""Produce (v3-v13: record batch v2 only).

Per partition: validate the record set (whole v2 batches, CRC32C, dense offsets, size
<= max.message.bytes), check idempotence (`reference_broker.partition`), append as
opaque bytes (the log rewrites the base offset; records are never decoded), then answer
base offset and log start offset. acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS);
with acks=0 no response is sent, and, as in Kafka, any partition error closes the
connection instead so that the producer notices. On one node acks=1 and acks=-1 are the
same: the high watermark is the log end after the append (which fsyncs first under
flush.policy=always). In a cluster the partition's Raft group appends instead
(`reference_broker.cluster.Cluster.produce`): acks=1 after the leader's write, acks=-1
after the commit, NOT_LEADER_OR_FOLLOWER on any node but the leader, and for acks=-1
NOT_ENOUGH_REPLICAS (nothing appended) while the ISR is below min.insync.replicas.
Produce v13 names topics by id.

Transactional batches (single node only; `reference_broker.txn`): a request with a
transactional id is checked per partition by the transaction coordinator: the batch's
producer epoch must be the current one (older: INVALID_PRODUCER_EPOCH) and the partition
must be in the producer's ongoing transaction (else INVALID_TXN_STATE). This check
comes before the duplicate check, so a retry of a batch appended to a transaction that
has since ended gets INVALID_TXN_STATE where Kafka answers its original offset (a
client only ends a transaction once every batch is acknowledged). In a cluster a
request with a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import logging
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker.log import CorruptBatch, LogClosed, LogError
from reference_broker.protocol import codec, errors
from reference_broker.protocol.handlers import (
    ApiKey,
    BrokerContext,
    CloseConnection,
    RequestHeader,
    handler,
)
from reference_broker.topics import AppendResult, TxnGate
from reference_broker.txn import TxnError

log = logging.getLogger(__name__)

_RESP = codec.response_class(ApiKey.PRODUCE)
_TOPIC = _RESP.TopicProduceResponse
_PART = _TOPIC.PartitionProduceResponse


@handler(ApiKey.PRODUCE, 3, 13)
async def produce(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    acks = request.acks
    store = ctx.topics
    replicated = _cluster.of(ctx)
    now_ms = ctx.now_ms()
    bad_acks = acks not in (-1, 0, 1)
    txn = None
    if request.transactional_id is not None:
        txn = ctx.extras.get("txn") if replicated is None else None
    if request.transactional_id is not None and txn is None:
        fixed_error = errors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    elif bad_acks:
        fixed_error = errors.INVALID_REQUIRED_ACKS
    else:
        fixed_error = errors.NONE
    out = []
    for td in request.topic_data:
        if v >= 13:
            topic = store.by_id(td.topic_id)
            missing = errors.UNKNOWN_TOPIC_ID
        else:
            topic = store.get(td.name)
            missing = errors.UNKNOWN_TOPIC_OR_PARTITION
        parts = []
        for pd in td.partition_data:
            idx = pd.index
            if fixed_error:
                parts.append(_PART(index=idx, error_code=fixed_error, base_offset=-1))
                continue
            if topic is None or not 0 <= idx < len(topic.partitions):
                parts.append(_PART(index=idx, error_code=missing, base_offset=-1))
                continue
            data = pd.records
            if not data:
                parts.append(_PART(index=idx, error_code=errors.CORRUPT_MESSAGE,
                                   base_offset=-1, error_message="empty record set"))
                continue
            p = topic.partitions[idx]
            if p.busy:  # an fsync of this log runs in a worker thread: wait for it
                await p.idle()
                if ctx.topics.partition(p.topic, idx) is not p:  # deleted meanwhile
                    parts.append(_PART(index=idx, error_code=missing, base_offset=-1))
                    continue
            try:
                if replicated is not None and p.replica is not None:
                    res = await replicated.produce(p, data, acks, request.timeout_ms)
                else:
                    res = p.append(data, now_ms,
                                   None if txn is None else _gate(txn, p.topic, idx))
            except CorruptBatch as exc:
                parts.append(_PART(index=idx, error_code=errors.CORRUPT_MESSAGE,
                                   base_offset=-1, error_message=str(exc)))
                continue
            except LogClosed:  # the topic was deleted meanwhile
                parts.append(_PART(index=idx, error_code=missing, base_offset=-1))
                continue
            except (OSError, LogError) as exc:
                log.error("%s-%d: append failed: %s", p.topic, idx, exc)
                parts.append(_PART(index=idx, error_code=errors.KAFKA_STORAGE_ERROR,
                                   base_offset=-1))
                continue
            if res.error_code:
                log.info("produce to %s-%d from %s refused (%d): %s", p.topic, idx,
                         header.client_id, res.error_code, res.message)
            parts.append(_PART(index=idx, error_code=res.error_code,
                               base_offset=res.base_offset, log_append_time_ms=-1,
                               log_start_offset=res.log_start_offset,
                               error_message=res.message))
        out.append(_TOPIC(name=td.name, topic_id=getattr(td, "topic_id", None),
                          partition_responses=parts))
    if acks == 0:
        failed = [(td.name, pr.index, pr.error_code) for td, t in zip(request.topic_data, out)
                  for pr in t.partition_responses if pr.error_code]
        if failed:
            raise CloseConnection(f"acks=0 produce failed: {failed[:5]}")
        return None
    return _RESP(version=v, responses=out, throttle_time_ms=0)


def _gate(txn: Any, topic: str, index: int) -> TxnGate:
    """The transaction coordinator's verdict on transactional batches for one partition."""

    def check(producer_id: int, epoch: int) -> AppendResult | None:
        error = txn.check_produce(producer_id, epoch, (topic, index))
        if error == TxnError.NONE:
            return None
        why = ("its producer epoch is fenced" if error == TxnError.INVALID_PRODUCER_EPOCH
               else "the partition is not in the producer's ongoing transaction")
        return AppendResult(int(error), message=f"transactional batch refused: {why}")

    return check
