"""Broker settings (Kafka's names) -> the coordinator's GroupConfig."""

from __future__ import annotations

from pathlib import Path

from reference_broker.config import BrokerConfig, broker_config
from reference_broker.protocol.handlers import BrokerContext
from reference_broker.protocol.handlers.groups import group_config


def ctx_with(config: BrokerConfig) -> BrokerContext:
    return BrokerContext(config=config, node_id=1, advertised_host="127.0.0.1",
                         advertised_port=9092, data_dir=Path("/nonexistent"),
                         clock_ms=lambda: 0)


def test_kafka_names_reach_the_coordinator() -> None:
    cfg = broker_config({
        "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "100",
        "group.max.session.timeout.ms": "9000", "group.max.size": "7",
        "offset.metadata.max.bytes": "10", "offsets.retention.minutes": "2",
        "offsets.retention.check.interval.ms": "500"})
    g = group_config(ctx_with(cfg))
    assert (g.initial_rebalance_delay_ms, g.min_session_timeout_ms, g.max_session_timeout_ms,
            g.max_size, g.offset_metadata_max_bytes, g.offsets_retention_ms,
            g.offsets_retention_check_interval_ms) == (0, 100, 9000, 7, 10, 120000, 500)
    assert g.bugs == frozenset()


def test_defaults_are_kafkas() -> None:
    g = group_config(ctx_with(broker_config({})))
    assert (g.initial_rebalance_delay_ms, g.min_session_timeout_ms, g.max_session_timeout_ms,
            g.offset_metadata_max_bytes, g.offsets_retention_ms) == (
        3000, 6000, 1800000, 4096, 7 * 24 * 3600 * 1000)


def test_planted_bugs_from_logtrial_run() -> None:
    cfg = BrokerConfig(raw={"logtrial.bugs": "ack-before-commit, lost-group-commits"})
    assert group_config(ctx_with(cfg)).bugs == frozenset({"lost-group-commits"})
