"""ApiVersions, Metadata, InitProducerId, DescribeCluster and DescribeProducers.

The ApiVersions table is the handler registry itself: every registered API is
advertised with the versions its handler serves (capped by what the codec decodes), so
the table cannot drift from what is served. Produce starts at v3 and Fetch at v4: the
versions that carry record batch v2, the only record format this broker stores.

In a cluster (`reference_broker.cluster`), Metadata lists every broker that has said
hello, and per partition the Raft leader (-1 with LEADER_NOT_AVAILABLE while there is
none; a node that is not a replica names the leader that last announced itself), its
term as leader epoch, the partition's replicas, and the ISR (`Cluster.isr`: computed
by the leader, announced to the other nodes; every replica until an announcement
came). Planted bug ``stale-leader-read``: a node names itself leader while its cached
leadership (`RaftGroup.lease`) lasts, as it serves reads then. Auto-created topics get
``default.replication.factor`` (unset: min(3, nodes)). Producer ids are made unique
per node (``local id * 1024 + node id``). InitProducerId with a transactional id is
the transaction coordinator's (`reference_broker.protocol.handlers.txn`), which is
single-node only: in a cluster ApiVersions leaves its APIs out.
"""

from __future__ import annotations

import logging
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker.protocol import codec, errors
from reference_broker.protocol.handlers import (
    REGISTRY,
    ApiKey,
    BrokerContext,
    RequestHeader,
    handler,
)
from reference_broker.topics import INTERNAL_TOPICS, Topic, topic_name_error

log = logging.getLogger(__name__)

CLUSTER_ID = "logtrial-reference-0000"
LEADER_EPOCH = 0
_UNSET_OPS = -2147483648


def api_version_table() -> list[tuple[int, int, int]]:
    """(api_key, min_version, max_version) for every API served, by api key."""
    out = []
    for key in sorted(REGISTRY.handlers):
        entry = REGISTRY.handlers[key]
        hi = min(entry.max_version, codec.codec_max_version(key))
        if hi >= entry.min_version:
            out.append((key, entry.min_version, hi))
    return out


def served_range(api_key: int) -> tuple[int, int] | None:
    entry = REGISTRY.handlers.get(api_key)
    if entry is None:
        return None
    return entry.min_version, min(entry.max_version, codec.codec_max_version(api_key))


@handler(ApiKey.API_VERSIONS, 0, 4)
async def api_versions(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    cls = codec.response_class(ApiKey.API_VERSIONS)
    table = api_version_table()
    if _cluster.of(ctx) is not None:  # transactions: single node only
        from reference_broker.protocol.handlers.txn import TXN_API_KEYS

        table = [row for row in table if row[0] not in TXN_API_KEYS]
    keys = [cls.ApiVersion(api_key=k, min_version=lo, max_version=hi)
            for k, lo, hi in table]
    return cls(version=header.api_version, error_code=errors.NONE, api_keys=keys,
               throttle_time_ms=0)


def may_auto_create(ctx: BrokerContext, version: int, request: Any) -> bool:
    if not ctx.config.auto_create_topics_enable:
        return False
    return version < 4 or bool(request.allow_auto_topic_creation)


@handler(ApiKey.METADATA, 0, 13)
async def metadata(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    cls = codec.response_class(ApiKey.METADATA)
    T = cls.MetadataResponseTopic
    P = T.MetadataResponsePartition
    store = ctx.topics
    replicated = _cluster.of(ctx)
    topics_out = []

    def describe_replica(p: Any) -> Any:
        assert replicated is not None
        g = p.replica
        replicas = list(g.replicas)
        leader = g.leader_id
        if getattr(g, "lease", False):
            # planted bug stale-leader-read: a broker that trusts its cached leadership
            # for reads advertises it too, so clients that ask it keep coming back
            leader = replicated.node_id
        isr = replicated.isr(g)
        if leader is None or leader not in replicated.brokers:
            return P(error_code=errors.LEADER_NOT_AVAILABLE, partition_index=p.index,
                     leader_id=-1, leader_epoch=-1, replica_nodes=replicas, isr_nodes=isr,
                     offline_replicas=[])
        return P(error_code=errors.NONE, partition_index=p.index, leader_id=leader,
                 leader_epoch=g.term, replica_nodes=replicas, isr_nodes=isr,
                 offline_replicas=[])

    def describe(topic: Topic) -> Any:
        if replicated is not None:
            parts = [describe_replica(p) for p in topic.partitions]
        else:
            parts = [P(error_code=errors.NONE, partition_index=p.index,
                       leader_id=ctx.node_id, leader_epoch=LEADER_EPOCH,
                       replica_nodes=[ctx.node_id], isr_nodes=[ctx.node_id],
                       offline_replicas=[])
                     for p in topic.partitions]
        return T(error_code=errors.NONE, name=topic.name, topic_id=topic.topic_id,
                 is_internal=False, partitions=parts)

    wanted = request.topics
    if wanted is None or (v == 0 and not wanted):
        topics_out = [describe(t) for t in store]
    else:
        for req_topic in wanted:
            name = req_topic.name
            topic_id = getattr(req_topic, "topic_id", None)
            if name is None and topic_id is not None:
                topic = store.by_id(topic_id)
                if topic is None:
                    topics_out.append(T(error_code=errors.UNKNOWN_TOPIC_ID, name=None,
                                        topic_id=topic_id, partitions=[]))
                else:
                    topics_out.append(describe(topic))
                continue
            topic = store.get(name)
            if topic is None and name not in INTERNAL_TOPICS:
                problem = topic_name_error(name)
                if problem is not None:
                    topics_out.append(T(error_code=errors.INVALID_TOPIC_EXCEPTION, name=name,
                                        partitions=[]))
                    continue
                if may_auto_create(ctx, v, request):
                    if replicated is not None:
                        rf = replicated.default_replication_factor()
                        if rf > len(replicated.voters):
                            topics_out.append(T(error_code=errors.INVALID_REPLICATION_FACTOR,
                                                name=name, partitions=[]))
                            continue
                        topic = await replicated.create_topic(
                            name, ctx.config.num_partitions, {}, timeout_s=3.0)
                        if topic is None:
                            topics_out.append(T(error_code=errors.LEADER_NOT_AVAILABLE,
                                                name=name, partitions=[]))
                            continue
                    else:
                        topic = store.create(name, ctx.config.num_partitions, {},
                                             ctx.now_ms())
            if topic is None:
                topics_out.append(T(error_code=errors.UNKNOWN_TOPIC_OR_PARTITION, name=name,
                                    partitions=[]))
            else:
                topics_out.append(describe(topic))
    nodes, controller = _brokers(ctx)
    brokers = [cls.MetadataResponseBroker(node_id=n, host=h, port=pt, rack=None)
               for n, (h, pt) in nodes]
    return cls(version=v, throttle_time_ms=0, brokers=brokers, cluster_id=CLUSTER_ID,
               controller_id=controller, topics=topics_out)


def _brokers(ctx: BrokerContext) -> tuple[list[tuple[int, tuple[str, int]]], int]:
    """The brokers clients may use, by node id, and the controller's id (Metadata and
    DescribeCluster answer the same)."""
    replicated = _cluster.of(ctx)
    if replicated is not None:
        return sorted(replicated.brokers.items()), replicated.controller_id
    return [(ctx.node_id, (ctx.advertised_host, ctx.advertised_port))], ctx.node_id


@handler(ApiKey.INIT_PRODUCER_ID, 0, 6)
async def init_producer_id(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    cls = codec.response_class(ApiKey.INIT_PRODUCER_ID)
    if request.transactional_id is not None:
        # imported here: the txn module registers its hooks after the groups module's
        from reference_broker.protocol.handlers.txn import init_transactional

        return await init_transactional(ctx, header, request)
    # Like Kafka, an idempotent (non-transactional) producer always gets a fresh id,
    # epoch 0, even when it passes its old id and epoch (KIP-360 bump requests).
    pid = ctx.topics.allocate_producer_id()
    if _cluster.of(ctx) is not None:  # unique across the nodes' own id blocks
        pid = pid * 1024 + ctx.node_id
    return cls(version=header.api_version, error_code=errors.NONE, producer_id=pid,
               producer_epoch=0, throttle_time_ms=0)


@handler(ApiKey.DESCRIBE_CLUSTER, 0, 2)
async def describe_cluster(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    cls = codec.response_class(ApiKey.DESCRIBE_CLUSTER)
    nodes, controller = _brokers(ctx)
    brokers = [cls.DescribeClusterBroker(broker_id=n, host=h, port=pt, rack=None)
               for n, (h, pt) in nodes]
    return cls(version=header.api_version, error_code=errors.NONE, cluster_id=CLUSTER_ID,
               controller_id=controller, brokers=brokers)


_PRESP = codec.response_class(ApiKey.DESCRIBE_PRODUCERS)
_PTOPIC = _PRESP.TopicResponse
_PPART = _PTOPIC.PartitionResponse
_PSTATE = _PPART.ProducerState


@handler(ApiKey.DESCRIBE_PRODUCERS, 0, 0)
async def describe_producers(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    """The idempotent-producer state of partitions (what dedupes the next retry)."""
    topics_out = []
    for t in request.topics:
        parts = []
        for idx in t.partition_indexes:
            p = ctx.topics.partition(t.name, idx)
            if p is None:
                parts.append(_PPART(partition_index=idx,
                                    error_code=errors.UNKNOWN_TOPIC_OR_PARTITION,
                                    active_producers=[]))
                continue
            states = [_PSTATE(producer_id=pid, producer_epoch=e.epoch,
                              last_sequence=e.last_seq,
                              last_timestamp=e.batches[-1].max_timestamp if e.batches else -1,
                              coordinator_epoch=-1,
                              current_txn_start_offset=p.txns.ongoing.get(pid, -1))
                      for pid, e in p.producers.items()]
            parts.append(_PPART(partition_index=idx, error_code=errors.NONE,
                                active_producers=states))
        topics_out.append(_PTOPIC(name=t.name, partitions=parts))
    return _PRESP(version=header.api_version, throttle_time_ms=0, topics=topics_out)
