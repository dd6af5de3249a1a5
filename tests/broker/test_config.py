"""Kafka-named configuration parsing (`reference_broker.config`)."""

from __future__ import annotations

import re

import pytest

from reference_broker.config import (
    ConfigError,
    broker_config,
    parse_pairs,
    validate_topic_configs,
)


def test_defaults_and_overrides() -> None:
    c = broker_config({})
    assert c.num_partitions == 1 and c.auto_create_topics_enable
    assert c.log.retention_ms == 604800000 and c.log.flush_policy == "always"
    c = broker_config(parse_pairs(["num.partitions=3", "log.segment.bytes=2048",
                                   "log.flush.policy=never", "auto.create.topics.enable=false",
                                   "default.replication.factor=1"]))
    assert c.num_partitions == 3 and c.log.segment_bytes == 2048
    assert c.log.flush_policy == "never" and not c.auto_create_topics_enable
    t = c.topic_config({"retention.ms": "1000", "segment.bytes": "4096"})
    assert t.retention_ms == 1000 and t.segment_bytes == 4096 and t.flush_policy == "never"


def test_retention_hours_and_minutes() -> None:
    assert broker_config({"log.retention.hours": "2"}).log.retention_ms == 7200000
    assert broker_config({"log.retention.minutes": "3"}).log.retention_ms == 180000
    assert broker_config({"log.retention.minutes": "3",
                          "log.retention.ms": "5"}).log.retention_ms == 5


@pytest.mark.parametrize(("pairs", "fragment"), [
    (["nope=1"], "unknown broker config 'nope'"),
    (["num.partitions=zero"], "expected an integer"),
    (["num.partitions=0"], ">= 1"),
    (["log.flush.policy=sometimes"], "always, interval, never"),
    (["auto.create.topics.enable=maybe"], "true or false"),
    (["log.segment.bytes=4294967296"], "<= 2147483647"),
    (["novalue"], "expected KEY=VALUE"),
])
def test_bad_settings_say_what_is_wrong(pairs: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        broker_config(parse_pairs(pairs))


def test_topic_config_validation() -> None:
    validate_topic_configs({"retention.ms": "-1", "cleanup.policy": "delete"})
    with pytest.raises(ConfigError, match="unknown topic config"):
        validate_topic_configs({"log.retention.ms": "1"})
    with pytest.raises(ConfigError, match=r"segment\.bytes"):
        validate_topic_configs({"segment.bytes": "1"})
