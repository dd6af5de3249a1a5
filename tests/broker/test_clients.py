"""Real clients (kafka-python 3.0.12 and confluent-kafka) against a real broker process."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CTP
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType
from kafka.admin import NewTopic as KNewTopic

from .conftest import BrokerProcess

N_KEYED = 300
N_KEYLESS = 300
PARTITIONS = 3


def _kp_consume_all(bootstrap: str, topic: str, n: int) -> dict[int, list[Any]]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest")
    tps = [TopicPartition(topic, i) for i in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning()
    got: dict[int, list[Any]] = defaultdict(list)
    deadline = time.monotonic() + 30
    while sum(len(v) for v in got.values()) < n and time.monotonic() < deadline:
        for tp, msgs in c.poll(500).items():
            got[tp.partition].extend(msgs)
    c.close()
    return got


def test_kafka_python_produce_consume_offsets(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bs)
    admin.create_topics([KNewTopic("kp", PARTITIONS, 1)])
    p = KafkaProducer(bootstrap_servers=bs, acks="all", enable_idempotence=True, linger_ms=5)
    t_before = int(time.time() * 1000)
    futs = []
    for i in range(N_KEYED):
        futs.append(p.send("kp", key=b"k%d" % (i % 10), value=b"keyed-%d" % i))
    for i in range(N_KEYLESS):
        futs.append(p.send("kp", value=b"free-%d" % i))
    p.flush()
    acked = [(f.get(10).partition, f.get(10).offset) for f in futs]
    p.close()
    assert len(set(acked)) == N_KEYED + N_KEYLESS  # no offset given twice

    got = _kp_consume_all(bs, "kp", N_KEYED + N_KEYLESS)
    values = {m.value for msgs in got.values() for m in msgs}
    assert len(values) == N_KEYED + N_KEYLESS
    for msgs in got.values():  # offsets dense from 0 in each partition
        assert [m.offset for m in msgs] == list(range(len(msgs)))
    # every acked (partition, offset) holds the value that was sent
    by_pos = {(part, m.offset): m.value for part, msgs in got.items() for m in msgs}
    for i, pos in enumerate(acked):
        want = b"keyed-%d" % i if i < N_KEYED else b"free-%d" % (i - N_KEYED)
        assert by_pos[pos] == want
    # keyed records: one partition per key; keyless: spread over several partitions
    key_parts: dict[bytes, set[int]] = defaultdict(set)
    for part, msgs in got.items():
        for m in msgs:
            if m.key is not None:
                key_parts[m.key].add(part)
    assert all(len(s) == 1 for s in key_parts.values())
    keyless_parts = {part for part, msgs in got.items() for m in msgs if m.key is None}
    assert len(keyless_parts) > 1

    c = KafkaConsumer(bootstrap_servers=bs)
    tps = [TopicPartition("kp", i) for i in range(PARTITIONS)]
    ends = c.end_offsets(tps)
    assert sum(ends.values()) == N_KEYED + N_KEYLESS
    assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
    found = c.offsets_for_times({tp: t_before for tp in tps})
    assert all(found[tp] is not None and found[tp].offset == 0 for tp in tps if ends[tp])
    future = c.offsets_for_times({tp: int(time.time() * 1000) + 3_600_000 for tp in tps})
    assert all(v is None for v in future.values())
    c.close()
    admin.close()


def test_confluent_produce_consume_offsets(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic("ck", PARTITIONS, 1)]).values():
        f.result(10)
    # sticky.partitioning.linger.ms=0: keyless records get a random partition each, as
    # with kafka-python (librdkafka's default sends a short burst to one partition).
    p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True,
                  "sticky.partitioning.linger.ms": 0})
    acked: list[tuple[int, int, bytes]] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.value()))

    t_before = int(time.time() * 1000)
    for i in range(N_KEYED):
        p.produce("ck", key=b"k%d" % (i % 10), value=b"keyed-%d" % i, on_delivery=on_delivery)
    for i in range(N_KEYLESS):
        p.produce("ck", value=b"free-%d" % i, on_delivery=on_delivery)
    assert p.flush(30) == 0
    assert not errors
    assert len(acked) == N_KEYED + N_KEYLESS

    c = Consumer({"bootstrap.servers": bs, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([CTP("ck", i, 0) for i in range(PARTITIONS)])
    got: dict[Any, Any] = {}
    deadline = time.monotonic() + 30
    while len(got) < len(acked) and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            assert not m.error(), m.error()
            got[(m.partition(), m.offset())] = (m.key(), m.value())
    assert {pos: v for pos, (_, v) in got.items()} == {(p_, o): v for p_, o, v in acked}
    key_parts: dict[bytes, set[int]] = defaultdict(set)
    for (part, _), (key, _) in got.items():
        if key is not None:
            key_parts[key].add(part)
    assert all(len(s) == 1 for s in key_parts.values())
    assert len({part for (part, _), (key, _) in got.items() if key is None}) > 1
    ends = [c.get_watermark_offsets(CTP("ck", i), timeout=10) for i in range(PARTITIONS)]
    assert sum(hi for _, hi in ends) == N_KEYED + N_KEYLESS
    assert all(lo == 0 for lo, _ in ends)
    times = c.offsets_for_times([CTP("ck", i, t_before) for i in range(PARTITIONS)], 10)
    assert all(tp.offset == 0 for tp, (_, hi) in zip(times, ends) if hi)
    c.close()


def test_configs_describe_and_alter(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic("cfg", 1, 1,
                                           config={"retention.ms": "3600000"})]).values():
        f.result(10)
    res = ConfigResource("topic", "cfg")
    desc = admin.describe_configs([res])[res].result(10)
    assert desc["retention.ms"].value == "3600000"
    assert desc["segment.bytes"].value == str(1 << 30)
    fut = admin.incremental_alter_configs([ConfigResource(
        "topic", "cfg", incremental_configs=[
            ConfigEntry("retention.ms", "7200000",
                        incremental_operation=AlterConfigOpType.SET)])])
    for f in fut.values():
        f.result(10)
    desc = admin.describe_configs([res])[res].result(10)
    assert desc["retention.ms"].value == "7200000"
    # an unknown key is refused with INVALID_CONFIG
    bad = admin.create_topics([NewTopic("cfg2", 1, 1, config={"no.such": "1"})])
    with pytest.raises(Exception, match=r"(?i)config"):
        bad["cfg2"].result(10)
    # kafka-python's admin sees the same
    kadmin = KafkaAdminClient(bootstrap_servers=bs)
    out = kadmin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "cfg")])
    text = repr(out)
    assert "7200000" in text
    kadmin.close()


def test_create_errors_delete_and_recreate(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic("gone", 2, 1)]).values():
        f.result(10)
    again = admin.create_topics([NewTopic("gone", 2, 1)])
    with pytest.raises(Exception, match=r"(?i)exist"):
        again["gone"].result(10)
    rf3 = admin.create_topics([NewTopic("rf3", 1, 3)])
    with pytest.raises(Exception, match=r"(?i)replication"):
        rf3["rf3"].result(10)
    p = Producer({"bootstrap.servers": bs})
    p.produce("gone", value=b"x", partition=1)
    assert p.flush(10) == 0
    for f in admin.delete_topics(["gone"]).values():
        f.result(10)
    assert "gone" not in admin.list_topics(timeout=10).topics
    assert not list(broker.data_dir.glob("gone-*"))
    for f in admin.create_topics([NewTopic("gone", 1, 1)]).values():
        f.result(10)
    c = Consumer({"bootstrap.servers": bs, "group.id": "x"})
    assert c.get_watermark_offsets(CTP("gone", 0), timeout=10) == (0, 0)
    c.close()


def test_auto_create_only_when_enabled(broker_factory: Any) -> None:
    on = broker_factory({"num.partitions": "2"})
    p = KafkaProducer(bootstrap_servers=on.bootstrap)
    assert p.send("auto", b"x").get(10).offset == 0
    p.close()
    assert len(KafkaConsumer(bootstrap_servers=on.bootstrap).partitions_for_topic("auto")) == 2
    off = broker_factory({"auto.create.topics.enable": "false"})
    admin = AdminClient({"bootstrap.servers": off.bootstrap})
    md = admin.list_topics("missing", timeout=10)
    assert md.topics["missing"].error is not None
    assert "missing" not in admin.list_topics(timeout=10).topics


def test_create_partitions(broker: BrokerProcess) -> None:
    from confluent_kafka.admin import NewPartitions

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("grow", 1, 1)]).values():
        f.result(10)
    for f in admin.create_partitions([NewPartitions("grow", 4)]).values():
        f.result(10)
    assert len(admin.list_topics("grow", timeout=10).topics["grow"].partitions) == 4
    shrink = admin.create_partitions([NewPartitions("grow", 2)])
    with pytest.raises(Exception, match=r"(?i)partitions"):
        shrink["grow"].result(10)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("grow", value=b"x", partition=3)
    assert p.flush(10) == 0
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert len(admin.list_topics("grow", timeout=10).topics["grow"].partitions) == 4
