"""Fetch (v4-v18), ListOffsets (v0-v11) and OffsetForLeaderEpoch (v0-v4).

Fetch is a long poll: the answer goes out as soon as it holds at least `min_bytes`
of records, or an error, or when `max_wait_ms` has passed; an append to any requested
partition wakes the waiting fetch, which then re-reads. Reads stop at the high
watermark (read_uncommitted) or the last stable offset (read_committed: the first
offset of the oldest open transaction, else the high watermark; see
`reference_broker.txn.partition`), and read_committed answers name the aborted
transactions that overlap ``[fetch offset, LSO)`` in `aborted_transactions` (the client
drops their records). ListOffsets with isolation_level=1 answers latest = LSO. Planted
bug ``aborted-read``: read_committed is served like read_uncommitted (LSO reported
as the high watermark, no aborted transactions). Offsets below
the log start offset or above the log end get OFFSET_OUT_OF_RANGE. Batches are sent as
stored (opaque bytes). The response's `max_bytes` is honoured at batch granularity:
once it is reached, further partitions get no records (the first batch is always sent,
even if larger, as Kafka does since KIP-74). Incremental fetch sessions (KIP-227) are
not offered: every answer carries session id 0, which tells clients to send full fetches.

The single node's leader epoch is always 0: a request naming a higher current leader
epoch gets UNKNOWN_LEADER_EPOCH; OffsetForLeaderEpoch answers epoch 0 with the log end
offset and any other epoch with the undefined (-1, -1).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker import records
from reference_broker.log import LogClosed
from reference_broker.protocol import codec, errors
from reference_broker.protocol.handlers import ApiKey, BrokerContext, RequestHeader, handler
from reference_broker.topics import OffsetOutOfRange, Partition

log = logging.getLogger(__name__)

LEADER_EPOCH = 0
FETCH_SESSION_ID_NOT_FOUND = 70

_FRESP = codec.response_class(ApiKey.FETCH)
_FTOPIC = _FRESP.FetchableTopicResponse
_FPART = _FTOPIC.PartitionData
_FABORTED = _FPART.AbortedTransaction
BUG_ABORTED_READ = "aborted-read"


def _aborted_read_bug(ctx: BrokerContext) -> bool:
    """Planted bug ``aborted-read`` (looked up once per broker)."""
    on = ctx.extras.get(BUG_ABORTED_READ)
    if on is None:
        on = BUG_ABORTED_READ in str(ctx.config.raw.get("logtrial.bugs", "")).split(",")
        ctx.extras[BUG_ABORTED_READ] = on
    return bool(on)


def _epoch_error(current_leader_epoch: int) -> int:
    if current_leader_epoch > LEADER_EPOCH:
        return errors.UNKNOWN_LEADER_EPOCH
    return errors.NONE


def _replica_error(p: Partition, current_leader_epoch: int) -> int:
    """In a cluster: only the serving leader answers (`RaftGroup.serves_reads`, where
    the planted bug ``stale-leader-read`` lives); epochs are Raft terms."""
    g = p.replica
    if not g.serves_reads:
        return errors.NOT_LEADER_OR_FOLLOWER
    if current_leader_epoch > g.term:
        return errors.UNKNOWN_LEADER_EPOCH
    if 0 <= current_leader_epoch < g.term:
        return errors.FENCED_LEADER_EPOCH
    return errors.NONE


class _FetchPlan:
    """The partitions of one fetch request, resolved once."""

    __slots__ = ("honour_lso", "items", "partitions")

    def __init__(self, ctx: BrokerContext, request: Any, version: int) -> None:
        self.honour_lso = not _aborted_read_bug(ctx)
        # items: (topic request, [(partition request, Partition | None, error)])
        self.items: list[tuple[Any, list[tuple[Any, Partition | None, int]]]] = []
        self.partitions: list[Partition] = []
        store = ctx.topics
        replicated = _cluster.of(ctx) is not None
        for ft in request.topics:
            if version >= 13:
                topic = store.by_id(ft.topic_id)
                missing = errors.UNKNOWN_TOPIC_ID
            else:
                topic = store.get(ft.topic)
                missing = errors.UNKNOWN_TOPIC_OR_PARTITION
            plist: list[tuple[Any, Partition | None, int]] = []
            for fp in ft.partitions:
                idx = fp.partition
                if topic is None or not 0 <= idx < len(topic.partitions):
                    plist.append((fp, None, missing))
                    continue
                p = topic.partitions[idx]
                if replicated and p.replica is not None:
                    err = _replica_error(p, fp.current_leader_epoch)
                else:
                    err = _epoch_error(fp.current_leader_epoch)
                plist.append((fp, p, err))
                if not err:
                    self.partitions.append(p)
            self.items.append((ft, plist))

    def read(self, max_bytes: int, read_committed: bool) -> tuple[Any, int, bool]:
        """(topic responses, record bytes, whether any partition has an error)."""
        total = 0
        any_error = False
        topics_out = []
        aborted: list[Any] | None = [] if read_committed else None
        for ft, plist in self.items:
            parts = []
            for fp, p, err in plist:
                if p is None or err:
                    any_error = True
                    parts.append(_FPART(partition_index=fp.partition, error_code=err,
                                        high_watermark=-1, last_stable_offset=-1,
                                        log_start_offset=-1, records=b""))
                    continue
                hw = p.high_watermark
                lso = p.last_stable_offset if self.honour_lso else hw
                limit = lso if read_committed else hw
                data = b""
                err = errors.NONE
                remaining = max_bytes - total
                if remaining > 0 or total == 0:
                    try:
                        data = p.read(fp.fetch_offset,
                                      max(1, min(fp.partition_max_bytes, remaining)), limit)
                    except OffsetOutOfRange:
                        err = errors.OFFSET_OUT_OF_RANGE
                        any_error = True
                    except LogClosed:  # the topic was deleted while this fetch waited
                        err = errors.UNKNOWN_TOPIC_OR_PARTITION
                        any_error = True
                else:
                    # Response full: still check the offset so errors are not hidden.
                    if not p.log_start_offset <= fp.fetch_offset <= p.high_watermark:
                        err = errors.OFFSET_OUT_OF_RANGE
                        any_error = True
                total += len(data)
                if read_committed and self.honour_lso:
                    aborted = [_FABORTED(producer_id=a.producer_id,
                                         first_offset=a.first_offset)
                               for a in p.txns.aborted_between(fp.fetch_offset, limit)]
                parts.append(_FPART(partition_index=fp.partition, error_code=err,
                                    high_watermark=hw, last_stable_offset=lso,
                                    log_start_offset=p.log_start_offset,
                                    aborted_transactions=aborted,
                                    preferred_read_replica=-1, records=data))
            topics_out.append(_FTOPIC(topic=ft.topic, topic_id=getattr(ft, "topic_id", None),
                                      partitions=parts))
        return topics_out, total, any_error


@handler(ApiKey.FETCH, 4, 18)
async def fetch(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    if v >= 7 and request.session_id != 0 and request.session_epoch not in (-1, 0):
        return _FRESP(version=v, throttle_time_ms=0, error_code=FETCH_SESSION_ID_NOT_FOUND,
                      session_id=0, responses=[])
    plan = _FetchPlan(ctx, request, v)
    read_committed = request.isolation_level == 1
    max_bytes = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
    min_bytes = request.min_bytes
    max_wait_s = max(0, request.max_wait_ms) / 1000.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_s
    while True:
        topics_out, total, any_error = plan.read(max_bytes, read_committed)
        remaining = deadline - loop.time()
        if total >= min_bytes or any_error or remaining <= 0 or not plan.partitions:
            break
        waiters = [p.wait() for p in plan.partitions]
        try:
            await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if not w.done():
                    w.cancel()
    return _FRESP(version=v, throttle_time_ms=0, error_code=errors.NONE, session_id=0,
                  responses=topics_out)


# -- ListOffsets ---------------------------------------------------------------------

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
EARLIEST_PENDING_UPLOAD = -5
LATEST_TIERED = -6

_LRESP = codec.response_class(ApiKey.LIST_OFFSETS)
_LTOPIC = _LRESP.ListOffsetsTopicResponse
_LPART = _LTOPIC.ListOffsetsPartitionResponse


def _max_timestamp_offset(p: Partition, limit: int) -> tuple[int, int]:
    """(offset, timestamp) of the first record with the largest timestamp below `limit`."""
    best: records.BatchHeader | None = None
    for h in p.log.iter_batch_headers(p.log_start_offset):
        if h.base_offset >= limit:
            break
        if h.is_control:
            continue
        if best is None or h.max_timestamp > best.max_timestamp:
            best = h
    if best is None:
        return -1, -1
    data = p.read(best.base_offset, best.size, limit)
    for pos, h in records.iter_batches(data):
        if h.base_offset != best.base_offset:
            continue
        for r in records.iter_records(data, pos):
            if r.timestamp == best.max_timestamp:
                return r.offset, r.timestamp
    return best.last_offset, best.max_timestamp


def list_offset(p: Partition, timestamp: int, read_committed: bool) -> tuple[int, int]:
    """(offset, timestamp) answering one ListOffsets query."""
    limit = p.last_stable_offset if read_committed else p.high_watermark
    if timestamp in (LATEST, LATEST_TIERED):
        return limit, -1
    if timestamp in (EARLIEST, EARLIEST_LOCAL, EARLIEST_PENDING_UPLOAD):
        return p.log_start_offset, -1
    if timestamp == MAX_TIMESTAMP:
        return _max_timestamp_offset(p, limit)
    found = p.log.offset_for_timestamp(timestamp, limit)
    if found is None:
        return -1, -1
    return int(found[0]), int(found[1])


@handler(ApiKey.LIST_OFFSETS, 0, 11)
async def list_offsets(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    read_committed = v >= 2 and request.isolation_level == 1
    topics_out = []
    for lt in request.topics:
        parts = []
        for lp in lt.partitions:
            p = ctx.topics.partition(lt.name, lp.partition_index)
            if p is None:
                parts.append(_LPART(partition_index=lp.partition_index,
                                    error_code=errors.UNKNOWN_TOPIC_OR_PARTITION,
                                    old_style_offsets=[], timestamp=-1, offset=-1))
                continue
            epoch = LEADER_EPOCH
            if p.replica is not None and _cluster.of(ctx) is not None:
                err = _replica_error(p, lp.current_leader_epoch if v >= 4 else -1)
                epoch = p.replica.term
            else:
                err = _epoch_error(lp.current_leader_epoch) if v >= 4 else errors.NONE
            if err:
                parts.append(_LPART(partition_index=lp.partition_index, error_code=err,
                                    old_style_offsets=[], timestamp=-1, offset=-1))
                continue
            offset, ts = list_offset(p, lp.timestamp,
                                     read_committed and not _aborted_read_bug(ctx))
            old = [offset] if offset >= 0 else []
            parts.append(_LPART(partition_index=lp.partition_index, error_code=errors.NONE,
                                old_style_offsets=old, timestamp=ts, offset=offset,
                                leader_epoch=epoch))
        topics_out.append(_LTOPIC(name=lt.name, partitions=parts))
    return _LRESP(version=v, throttle_time_ms=0, topics=topics_out)


# -- OffsetForLeaderEpoch ------------------------------------------------------------

_ERESP = codec.response_class(ApiKey.OFFSET_FOR_LEADER_EPOCH)
_ETOPIC = _ERESP.OffsetForLeaderTopicResult
_EPART = _ETOPIC.EpochEndOffset


@handler(ApiKey.OFFSET_FOR_LEADER_EPOCH, 0, 4)
async def offset_for_leader_epoch(ctx: BrokerContext, header: RequestHeader,
                                  request: Any) -> Any:
    v = header.api_version
    topics_out = []
    for t in request.topics:
        parts = []
        for rp in t.partitions:
            p = ctx.topics.partition(t.topic, rp.partition)
            if p is None:
                parts.append(_EPART(error_code=errors.UNKNOWN_TOPIC_OR_PARTITION,
                                    partition=rp.partition, leader_epoch=-1, end_offset=-1))
                continue
            if p.replica is not None and _cluster.of(ctx) is not None:
                err = _replica_error(p, rp.current_leader_epoch if v >= 2 else -1)
                if not err:
                    term, end = p.replica.storage.epoch_end(rp.leader_epoch)
                    end = min(end, p.high_watermark)
                    parts.append(_EPART(error_code=errors.NONE, partition=rp.partition,
                                        leader_epoch=term, end_offset=end))
                    continue
            else:
                err = _epoch_error(rp.current_leader_epoch) if v >= 2 else errors.NONE
            if err:
                parts.append(_EPART(error_code=err, partition=rp.partition, leader_epoch=-1,
                                    end_offset=-1))
            elif rp.leader_epoch == LEADER_EPOCH:
                parts.append(_EPART(error_code=errors.NONE, partition=rp.partition,
                                    leader_epoch=LEADER_EPOCH, end_offset=p.high_watermark))
            else:
                parts.append(_EPART(error_code=errors.NONE, partition=rp.partition,
                                    leader_epoch=-1, end_offset=-1))
        topics_out.append(_ETOPIC(topic=t.topic, partitions=parts))
    return _ERESP(version=v, throttle_time_ms=0, topics=topics_out)
