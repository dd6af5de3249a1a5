"""CreateTopics, CreatePartitions, DeleteTopics, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs.

One node: a topic's replication factor is 1 (-1 means the default, also 1); more
is INVALID_REPLICATION_FACTOR, as Kafka answers when brokers are missing. In a cluster
the factor may be 1..number of nodes (-1: ``default.replication.factor``, unset:
min(3, nodes)); the controller assigns the replicas (`cluster.assign_replicas`), or
CreateTopics names them per partition (distinct node ids, the same count each). Topic configs
use Kafka's topic-level names (`reference_broker.config`); an unknown key or a bad
value is INVALID_CONFIG with a message naming it. Config changes apply to live logs at
once (retention passes and segment rolls use the new values). `__consumer_offsets` is
the group coordinator's: it cannot be created, deleted or reconfigured here.
Broker resources can be described but not altered (no dynamic broker configs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from reference_broker import cluster as _cluster
from reference_broker.cluster import assign_replicas
from reference_broker.config import (
    ConfigError,
    apply_topic_overrides,
    describe_topic_defaults,
    validate_topic_configs,
)
from reference_broker.protocol import codec, errors
from reference_broker.protocol.handlers import ApiKey, BrokerContext, RequestHeader, handler
from reference_broker.topics import INTERNAL_TOPICS, topic_name_error

log = logging.getLogger(__name__)

MAX_PARTITIONS = 10000
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
RESOURCE_BROKER_LOGGER = 8
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def _topic_config_entries(ctx: BrokerContext, overrides: Mapping[str, str]
                          ) -> list[tuple[str, str, int]]:
    """(name, value, source) of every topic-level config of a topic."""
    defaults = describe_topic_defaults(ctx.config.log)
    static = {k for k in ctx.config.raw}
    broker_name = {
        "segment.bytes": "log.segment.bytes", "segment.ms": "log.roll.ms",
        "retention.ms": "log.retention.ms", "retention.bytes": "log.retention.bytes",
        "max.message.bytes": "message.max.bytes", "flush.policy": "log.flush.policy",
        "flush.ms": "log.flush.interval.ms", "min.insync.replicas": "min.insync.replicas",
    }
    out = []
    for key, value in sorted(defaults.items()):
        if key in overrides:
            out.append((key, overrides[key], SOURCE_DYNAMIC_TOPIC))
        elif broker_name.get(key) in static:
            out.append((key, value, SOURCE_STATIC_BROKER))
        else:
            out.append((key, value, SOURCE_DEFAULT))
    return out


# -- CreateTopics --------------------------------------------------------------------

_CRESP = codec.response_class(ApiKey.CREATE_TOPICS)
_CTOPIC = _CRESP.CreatableTopicResult
_CCONF = _CTOPIC.CreatableTopicConfigs


@handler(ApiKey.CREATE_TOPICS, 0, 7)
async def create_topics(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    validate_only = v >= 1 and bool(request.validate_only)
    names = [t.name for t in request.topics]
    out = []
    for t in request.topics:
        code, msg, count, replicas = _check_create(ctx, t, names.count(t.name) > 1)
        if code:
            out.append(_CTOPIC(name=t.name, error_code=code, error_message=msg,
                               num_partitions=-1, replication_factor=-1, configs=None))
            continue
        configs = {c.name: c.value for c in t.configs if c.value is not None}
        topic_id = None
        replicated = _cluster.of(ctx)
        if not validate_only and replicated is not None:
            topic = await replicated.create_topic(t.name, count, configs,
                                                  timeout_s=max(1, request.timeout_ms) / 1000,
                                                  replicas=replicas)
            if topic is None:
                out.append(_CTOPIC(name=t.name, error_code=errors.REQUEST_TIMED_OUT,
                                   error_message="the controller did not commit the topic "
                                                 "in time", num_partitions=-1,
                                   replication_factor=-1, configs=None))
                continue
            topic_id = topic.topic_id
        elif not validate_only:
            topic = ctx.topics.create(t.name, count, configs, ctx.now_ms())
            topic_id = topic.topic_id
        entries = [_CCONF(name=k, value=val, read_only=False, config_source=src,
                          is_sensitive=False)
                   for k, val, src in _topic_config_entries(ctx, configs)]
        rf = len(replicas[0])
        out.append(_CTOPIC(name=t.name, topic_id=topic_id, error_code=errors.NONE,
                           error_message=None, num_partitions=count, replication_factor=rf,
                           configs=entries))
    return _CRESP(version=v, throttle_time_ms=0, topics=out)


def _check_create(ctx: BrokerContext, t: Any, duplicated: bool
                  ) -> tuple[int, str | None, int, list[list[int]]]:
    """(error, message, partition count, replicas per partition) of one new topic."""
    name = t.name
    if duplicated:
        return errors.INVALID_REQUEST, f"topic {name!r} appears twice in the request", 0, []
    problem = topic_name_error(name)
    if problem:
        return errors.INVALID_TOPIC_EXCEPTION, problem, 0, []
    if name in INTERNAL_TOPICS:
        return errors.INVALID_REQUEST, f"{name} is an internal topic of the broker", 0, []
    if ctx.topics.get(name) is not None:
        return errors.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists", 0, []
    replicated = _cluster.of(ctx)
    nodes = replicated.voters if replicated is not None else (ctx.node_id,)
    count = t.num_partitions
    rf = t.replication_factor
    replicas: list[list[int]] = []
    if t.assignments:
        if count != -1 or rf != -1:
            return (errors.INVALID_REQUEST, "give either assignments or num_partitions and "
                    "replication_factor, not both", 0, [])
        by_index = {a.partition_index: list(a.broker_ids) for a in t.assignments}
        if sorted(by_index) != list(range(len(t.assignments))):
            return errors.INVALID_REPLICA_ASSIGNMENT, "partitions must be 0..n-1", 0, []
        replicas = [by_index[i] for i in range(len(by_index))]
        for i, r in enumerate(replicas):
            if not r or len(set(r)) != len(r) or not set(r) <= set(nodes) \
                    or len(r) != len(replicas[0]):
                return (errors.INVALID_REPLICA_ASSIGNMENT,
                        f"partition {i}: replicas {r} must be distinct brokers among "
                        f"{list(nodes)}, as many as for partition 0", 0, [])
        count = len(replicas)
    if count == -1:
        count = ctx.config.num_partitions
    if not 1 <= count <= MAX_PARTITIONS:
        return (errors.INVALID_PARTITIONS,
                f"number of partitions {count} must be in 1..{MAX_PARTITIONS}", 0, [])
    if not replicas:
        if rf == -1:
            rf = replicated.default_replication_factor() if replicated is not None else 1
        if rf < 1:
            return (errors.INVALID_REPLICATION_FACTOR,
                    f"replication factor {rf} must be >= 1", 0, [])
        if rf > len(nodes):
            return (errors.INVALID_REPLICATION_FACTOR,
                    f"replication factor {rf} larger than available brokers: {len(nodes)}",
                    0, [])
        replicas = assign_replicas(nodes, count, rf)
    try:
        validate_topic_configs({c.name: c.value for c in t.configs})
    except ConfigError as exc:
        return errors.INVALID_CONFIG, str(exc), 0, []
    return errors.NONE, None, count, replicas


# -- CreatePartitions ----------------------------------------------------------------

_PRESP = codec.response_class(ApiKey.CREATE_PARTITIONS)
_PRES = _PRESP.CreatePartitionsTopicResult


@handler(ApiKey.CREATE_PARTITIONS, 0, 3)
async def create_partitions(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    out = []
    names = [t.name for t in request.topics]
    for t in request.topics:
        topic = ctx.topics.get(t.name)
        code, msg = errors.NONE, None
        if names.count(t.name) > 1:
            code, msg = errors.INVALID_REQUEST, f"topic {t.name!r} appears twice"
        elif topic is None:
            code, msg = errors.UNKNOWN_TOPIC_OR_PARTITION, f"no topic {t.name!r}"
        elif not len(topic.partitions) < t.count <= MAX_PARTITIONS:
            code, msg = errors.INVALID_PARTITIONS, (
                f"topic {t.name!r} has {len(topic.partitions)} partitions; the new count "
                f"{t.count} must be larger and at most {MAX_PARTITIONS}")
        elif _cluster.of(ctx) is not None:
            code, msg = errors.INVALID_REQUEST, ("adding partitions is not supported by the "
                                                 "replicated reference broker yet")
        elif t.assignments is not None and any(
                list(a.broker_ids) != [ctx.node_id] for a in t.assignments):
            code, msg = errors.INVALID_REPLICA_ASSIGNMENT, (
                f"the only broker is {ctx.node_id}")
        elif not request.validate_only:
            ctx.topics.add_partitions(t.name, t.count, ctx.now_ms())
        out.append(_PRES(name=t.name, error_code=code, error_message=msg))
    return _PRESP(version=header.api_version, throttle_time_ms=0, results=out)


# -- DeleteTopics --------------------------------------------------------------------

_DRESP = codec.response_class(ApiKey.DELETE_TOPICS)
_DTOPIC = _DRESP.DeletableTopicResult


@handler(ApiKey.DELETE_TOPICS, 0, 6)
async def delete_topics(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    if v >= 6:
        wanted = [(t.name, t.topic_id) for t in request.topics]
    else:
        wanted = [(n, None) for n in request.topic_names]
    out = []
    for name, topic_id in wanted:
        topic = ctx.topics.get(name) if name is not None else ctx.topics.by_id(topic_id)
        if topic is None:
            code = errors.UNKNOWN_TOPIC_ID if name is None else errors.UNKNOWN_TOPIC_OR_PARTITION
            out.append(_DTOPIC(name=name, topic_id=topic_id, error_code=code,
                               error_message="no such topic"))
            continue
        if _cluster.of(ctx) is not None:
            out.append(_DTOPIC(name=topic.name, topic_id=topic.topic_id,
                               error_code=errors.INVALID_REQUEST,
                               error_message="deleting topics is not supported by the "
                                             "replicated reference broker yet"))
            continue
        await _all_idle(topic.partitions)
        if ctx.topics.get(topic.name) is topic:
            ctx.topics.delete(topic.name)
        out.append(_DTOPIC(name=topic.name, topic_id=topic.topic_id, error_code=errors.NONE))
    return _DRESP(version=v, throttle_time_ms=0, responses=out)


# -- DescribeConfigs -----------------------------------------------------------------

_DCRESP = codec.response_class(ApiKey.DESCRIBE_CONFIGS)
_DCRES = _DCRESP.DescribeConfigsResult
_DCENT = _DCRES.DescribeConfigsResourceResult


@handler(ApiKey.DESCRIBE_CONFIGS, 0, 4)
async def describe_configs(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    v = header.api_version
    results = []
    for res in request.resources:
        keys = set(res.configuration_keys) if res.configuration_keys is not None else None
        if res.resource_type == RESOURCE_TOPIC:
            topic = ctx.topics.get(res.resource_name)
            if topic is None:
                results.append(_DCRES(error_code=errors.UNKNOWN_TOPIC_OR_PARTITION,
                                      error_message=f"no topic {res.resource_name!r}",
                                      resource_type=res.resource_type,
                                      resource_name=res.resource_name, configs=[]))
                continue
            entries = _topic_config_entries(ctx, topic.configs)
        elif res.resource_type == RESOURCE_BROKER and res.resource_name in (
                "", str(ctx.node_id)):
            entries = [(k, val, SOURCE_STATIC_BROKER) for k, val in sorted(ctx.config.raw.items())]
        else:
            results.append(_DCRES(error_code=errors.INVALID_REQUEST,
                                  error_message=f"cannot describe resource type "
                                                f"{res.resource_type} {res.resource_name!r}",
                                  resource_type=res.resource_type,
                                  resource_name=res.resource_name, configs=[]))
            continue
        configs = [_DCENT(name=k, value=val, read_only=res.resource_type != RESOURCE_TOPIC,
                          config_source=src, is_default=src == SOURCE_DEFAULT,
                          is_sensitive=False, synonyms=[], config_type=0, documentation=None)
                   for k, val, src in entries if keys is None or k in keys]
        results.append(_DCRES(error_code=errors.NONE, error_message=None,
                              resource_type=res.resource_type,
                              resource_name=res.resource_name, configs=configs))
    return _DCRESP(version=v, throttle_time_ms=0, results=results)


# -- AlterConfigs / IncrementalAlterConfigs ------------------------------------------


def _alter(ctx: BrokerContext, res: Any, new: dict[str, str], validate_only: bool
           ) -> tuple[int, str | None]:
    if res.resource_type != RESOURCE_TOPIC:
        return (errors.INVALID_REQUEST,
                "only topic configs can be altered on this broker (no dynamic broker configs)")
    topic = ctx.topics.get(res.resource_name)
    if topic is None:
        return errors.UNKNOWN_TOPIC_OR_PARTITION, f"no topic {res.resource_name!r}"
    try:
        validate_topic_configs(new)
        apply_topic_overrides(ctx.config.log, new)
    except ConfigError as exc:
        return errors.INVALID_CONFIG, str(exc)
    if not validate_only:
        ctx.topics.set_configs(topic.name, new)
    return errors.NONE, None


async def _idle(ctx: BrokerContext, res: Any) -> None:
    """Wait for running fsyncs of a topic before its logs are reconfigured."""
    if res.resource_type == RESOURCE_TOPIC:
        topic = ctx.topics.get(res.resource_name)
        if topic is not None:
            await _all_idle(topic.partitions)


async def _all_idle(partitions: list[Any]) -> None:
    """Return when no fsync runs on any of `partitions` (then change them at once)."""
    while any(part.busy for part in partitions):
        for part in partitions:
            await part.idle()


_ARESP = codec.response_class(ApiKey.ALTER_CONFIGS)
_ARES = _ARESP.AlterConfigsResourceResponse


@handler(ApiKey.ALTER_CONFIGS, 0, 2)
async def alter_configs(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
    out = []
    for res in request.resources:
        new = {c.name: c.value for c in res.configs if c.value is not None}
        await _idle(ctx, res)
        code, msg = _alter(ctx, res, new, bool(request.validate_only))
        out.append(_ARES(error_code=code, error_message=msg, resource_type=res.resource_type,
                         resource_name=res.resource_name))
    return _ARESP(version=header.api_version, throttle_time_ms=0, responses=out)


_IRESP = codec.response_class(ApiKey.INCREMENTAL_ALTER_CONFIGS)
_IRES = _IRESP.AlterConfigsResourceResponse


@handler(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1)
async def incremental_alter_configs(ctx: BrokerContext, header: RequestHeader,
                                    request: Any) -> Any:
    out = []
    for res in request.resources:
        await _idle(ctx, res)
        topic = ctx.topics.get(res.resource_name) if res.resource_type == RESOURCE_TOPIC else None
        new = dict(topic.configs) if topic is not None else {}
        code, msg = errors.NONE, None
        for c in res.configs:
            if c.config_operation == OP_SET:
                if c.value is None:
                    code, msg = errors.INVALID_CONFIG, f"{c.name}: SET needs a value"
                    break
                new[c.name] = c.value
            elif c.config_operation == OP_DELETE:
                new.pop(c.name, None)
            else:
                code, msg = errors.INVALID_CONFIG, (
                    f"{c.name}: operation {c.config_operation} is only for list-valued "
                    "configs; none are supported here")
                break
        if not code:
            code, msg = _alter(ctx, res, new, bool(request.validate_only))
        out.append(_IRES(error_code=code, error_message=msg, resource_type=res.resource_type,
                         resource_name=res.resource_name))
    return _IRESP(version=header.api_version, throttle_time_ms=0, responses=out)
