"""Broker and topic configuration, under Kafka's own property names.

`--config KEY=VALUE` on the command line sets broker properties; topics created with
configs (CreateTopics, IncrementalAlterConfigs) override the matching `log.*` defaults
with the topic-level names Kafka uses:

| broker property                   | topic property      | default        |
|-----------------------------------|---------------------|----------------|
| log.segment.bytes                 | segment.bytes       | 1073741824     |
| log.roll.ms                       | segment.ms          | 604800000      |
| log.retention.ms                  | retention.ms        | 604800000      |
| log.retention.bytes               | retention.bytes     | -1 (unbounded) |
| message.max.bytes                 | max.message.bytes   | 1048588        |
| log.flush.policy                  | flush.policy        | always         |
| log.flush.interval.ms             | flush.ms            | 1000           |
| min.insync.replicas               | min.insync.replicas | 1              |

`log.flush.policy` is ours (Kafka expresses it as flush.messages / flush.ms):
`always` fsyncs before acknowledging, `interval` every `log.flush.interval.ms`,
`never` leaves it to the OS. Other broker properties: num.partitions (1),
auto.create.topics.enable (true), log.retention.check.interval.ms (300000),
socket.request.max.bytes (104857600), log.index.interval.bytes (4096), the
replication settings of a cluster: default.replication.factor (min(3, nodes)) and
replica.lag.time.max.ms (30000: a follower that has not held the leader's whole log
for that long leaves the ISR; min.insync.replicas only gates acks=all in a cluster),
and the group coordinator's group.initial.rebalance.delay.ms (3000), group.min.session.timeout.ms
(6000), group.max.session.timeout.ms (1800000), offsets.retention.minutes (10080).
An unknown key or a malformed value is a ConfigError naming the key and what it
expected; the CLI turns it into exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

FLUSH_POLICIES = ("always", "interval", "never")


class ConfigError(ValueError):
    """A configuration key or value is not acceptable (the message says how to fix it)."""


_INT32_MAX = (1 << 31) - 1


def _int(key: str, raw: str, lo: int | None = None, hi: int = (1 << 63) - 1) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{key}={raw!r}: expected an integer") from None
    if lo is not None and value < lo:
        raise ConfigError(f"{key}={raw!r}: expected an integer >= {lo}")
    if value > hi:
        raise ConfigError(f"{key}={raw!r}: expected an integer <= {hi}")
    return value


def _bool(key: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ConfigError(f"{key}={raw!r}: expected true or false")


def _only(key: str, raw: str, supported: str) -> str:
    if raw.strip() != supported:
        raise ConfigError(f"{key}={raw!r}: only {supported!r} is supported by this broker")
    return supported


def _policy(key: str, raw: str) -> str:
    low = raw.strip().lower()
    if low not in FLUSH_POLICIES:
        raise ConfigError(f"{key}={raw!r}: expected one of {', '.join(FLUSH_POLICIES)}")
    return low


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicConfig:
    """Effective per-topic log settings (broker defaults overridden by topic configs)."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    retention_ms: int = 604800000
    retention_bytes: int = -1
    max_message_bytes: int = 1048588
    flush_policy: str = "always"
    flush_ms: int = 1000
    cleanup_policy: str = "delete"
    message_timestamp_type: str = "CreateTime"
    min_insync_replicas: int = 1  # acks=all needs an ISR this large (cluster only)


# topic property -> (TopicConfig field, parser)
_TOPIC_KEYS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "segment.bytes": ("segment_bytes", lambda k, v: _int(k, v, 14, _INT32_MAX)),
    "segment.ms": ("segment_ms", lambda k, v: _int(k, v, 1)),
    "retention.ms": ("retention_ms", lambda k, v: _int(k, v, -1)),
    "retention.bytes": ("retention_bytes", lambda k, v: _int(k, v, -1)),
    "max.message.bytes": ("max_message_bytes", lambda k, v: _int(k, v, 0)),
    "flush.policy": ("flush_policy", _policy),
    "flush.ms": ("flush_ms", lambda k, v: _int(k, v, 0)),
    "cleanup.policy": ("cleanup_policy", lambda k, v: _only(k, v, "delete")),
    "message.timestamp.type": ("message_timestamp_type",
                               lambda k, v: _only(k, v, "CreateTime")),
    "min.insync.replicas": ("min_insync_replicas", lambda k, v: _int(k, v, 1)),
}
TOPIC_KEYS = frozenset(_TOPIC_KEYS) | {"compression.type"}


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """Broker-wide settings; `log` holds the defaults every topic starts from."""

    num_partitions: int = 1
    auto_create_topics_enable: bool = True
    retention_check_interval_ms: int = 300000
    socket_request_max_bytes: int = 104857600
    index_interval_bytes: int = 4096
    group_initial_rebalance_delay_ms: int = 3000
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    offsets_retention_minutes: int = 10080
    default_replication_factor: int | None = None  # None: min(3, number of nodes)
    replica_lag_time_max_ms: int = 30000
    transaction_max_timeout_ms: int = 900000  # larger transaction.timeout.ms is refused
    log: TopicConfig = field(default_factory=TopicConfig)
    raw: Mapping[str, str] = field(default_factory=dict)

    @property
    def message_max_bytes(self) -> int:
        return self.log.max_message_bytes

    def topic_config(self, overrides: Mapping[str, str]) -> TopicConfig:
        """The effective settings of a topic with these topic-level overrides."""
        return apply_topic_overrides(self.log, overrides)


# broker property -> (BrokerConfig field or "log.<TopicConfig field>", parser)
_BROKER_KEYS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "num.partitions": ("num_partitions", lambda k, v: _int(k, v, 1)),
    "auto.create.topics.enable": ("auto_create_topics_enable", _bool),
    "log.retention.check.interval.ms": ("retention_check_interval_ms", lambda k, v: _int(k, v, 1)),
    "socket.request.max.bytes": ("socket_request_max_bytes", lambda k, v: _int(k, v, 64)),
    "log.index.interval.bytes": ("index_interval_bytes", lambda k, v: _int(k, v, 0)),
    "group.initial.rebalance.delay.ms": (
        "group_initial_rebalance_delay_ms", lambda k, v: _int(k, v, 0)),
    "group.min.session.timeout.ms": ("group_min_session_timeout_ms", lambda k, v: _int(k, v, 0)),
    "group.max.session.timeout.ms": ("group_max_session_timeout_ms", lambda k, v: _int(k, v, 0)),
    "offsets.retention.minutes": ("offsets_retention_minutes", lambda k, v: _int(k, v, 1)),
    "log.segment.bytes": ("log.segment_bytes", lambda k, v: _int(k, v, 14, _INT32_MAX)),
    "log.roll.ms": ("log.segment_ms", lambda k, v: _int(k, v, 1)),
    "log.retention.ms": ("log.retention_ms", lambda k, v: _int(k, v, -1)),
    "log.retention.bytes": ("log.retention_bytes", lambda k, v: _int(k, v, -1)),
    "message.max.bytes": ("log.max_message_bytes", lambda k, v: _int(k, v, 0)),
    "log.flush.policy": ("log.flush_policy", _policy),
    "log.flush.interval.ms": ("log.flush_ms", lambda k, v: _int(k, v, 0)),
    "min.insync.replicas": ("log.min_insync_replicas", lambda k, v: _int(k, v, 1)),
    "default.replication.factor": ("default_replication_factor", lambda k, v: _int(k, v, 1)),
    "replica.lag.time.max.ms": ("replica_lag_time_max_ms", lambda k, v: _int(k, v, 1)),
    "transaction.max.timeout.ms": ("transaction_max_timeout_ms",
                                   lambda k, v: _int(k, v, 1, _INT32_MAX)),
}
# Accepted but not interpreted here: replication settings (no effect on one node) and
# settings the group coordinator reads from `BrokerConfig.raw`.
_IGNORED_BROKER_KEYS = frozenset({
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
    "offsets.topic.num.partitions", "log.retention.hours",
    "log.retention.minutes",
    # read by the group coordinator from BrokerConfig.raw
    "group.max.size", "offset.metadata.max.bytes", "offsets.topic.segment.bytes",
    "offsets.retention.check.interval.ms",
    # planted bugs (reference_broker.bugs), validated in broker_config
    "logtrial.bugs",
})
BROKER_KEYS = frozenset(_BROKER_KEYS) | _IGNORED_BROKER_KEYS


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`["k=v", ...]` -> dict; a pair without `=` is a ConfigError."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--config {pair!r}: expected KEY=VALUE, e.g. num.partitions=3")
        out[key] = value.strip()
    return out


def broker_config(settings: Mapping[str, str]) -> BrokerConfig:
    """Build a BrokerConfig from Kafka-named properties (unknown key -> ConfigError)."""
    top: dict[str, Any] = {}
    log: dict[str, Any] = {}
    if "logtrial.bugs" in settings:
        from reference_broker.bugs import parse_bugs

        try:
            parse_bugs(settings["logtrial.bugs"].split(","))
        except ValueError as e:
            raise ConfigError(f"logtrial.bugs: {e}") from None
    for key, raw in settings.items():
        if key in _IGNORED_BROKER_KEYS:
            continue
        spec = _BROKER_KEYS.get(key)
        if spec is None:
            known = ", ".join(sorted(BROKER_KEYS))
            raise ConfigError(f"unknown broker config {key!r}; known keys: {known}")
        name, parse = spec
        value = parse(key, raw)
        if name.startswith("log."):
            log[name[4:]] = value
        else:
            top[name] = value
    # Kafka also accepts retention in hours / minutes when .ms is absent.
    if "log.retention.ms" not in settings:
        if "log.retention.minutes" in settings:
            log["retention_ms"] = _int("log.retention.minutes",
                                       settings["log.retention.minutes"], -1) * 60000
        elif "log.retention.hours" in settings:
            log["retention_ms"] = _int("log.retention.hours",
                                       settings["log.retention.hours"], -1) * 3600000
    return BrokerConfig(log=TopicConfig(**log), raw=dict(settings), **top)


def validate_topic_configs(overrides: Mapping[str, str | None]) -> None:
    """Raise ConfigError if a topic-level key is unknown or its value malformed."""
    for key, raw in overrides.items():
        if key not in TOPIC_KEYS:
            raise ConfigError(f"unknown topic config {key!r}")
        spec = _TOPIC_KEYS.get(key)
        if spec is not None and raw is not None:
            spec[1](key, raw)


def apply_topic_overrides(base: TopicConfig, overrides: Mapping[str, str]) -> TopicConfig:
    """`base` with the valid topic-level overrides applied (others ignored)."""
    changes: dict[str, Any] = {}
    for key, raw in overrides.items():
        spec = _TOPIC_KEYS.get(key)
        if spec is not None:
            changes[spec[0]] = spec[1](key, raw)
    return replace(base, **changes) if changes else base


def describe_topic_defaults(base: TopicConfig) -> dict[str, str]:
    """Topic-level key -> default value string, for DescribeConfigs."""
    out: dict[str, str] = {}
    for key, (name, _) in _TOPIC_KEYS.items():
        out[key] = str(getattr(base, name))
    return out


def topic_config_field_names() -> list[str]:
    return [f.name for f in fields(TopicConfig)]
