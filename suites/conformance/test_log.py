"""Conformance: Kafka's per-partition log guarantees, against any ``--target``.

Each test's docstring names the guarantee it checks (Kafka's documentation, "Design"
and "Producer/Consumer configs" sections).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CTopicPartition
from kafka import KafkaConsumer, TopicPartition

from suites.conformance._kafka import new_topic, producer, read_all

pytestmark = pytest.mark.conformance


def test_partition_total_order_and_dense_offsets(bootstrap: str) -> None:
    """Guarantee: records sent by one producer to one partition are appended in send
    order, and offsets within a partition are consecutive (never skipped or reused)."""
    topic = new_topic(bootstrap)
    p = producer(bootstrap, max_in_flight_requests_per_connection=1)
    metas = [p.send(topic, value=str(i).encode(), partition=0) for i in range(300)]
    offsets = [m.get(timeout=30).offset for m in metas]
    p.close()
    assert offsets == list(range(offsets[0], offsets[0] + 300)), "acknowledged offsets"
    recs = read_all(bootstrap, topic, 0, 300)
    assert [r.offset for r in recs] == offsets
    assert [int(r.value) for r in recs] == list(range(300))


def test_end_offsets_equal_records_produced(bootstrap: str) -> None:
    """Guarantee: the log end offset minus the log start offset of a partition that
    never deleted anything equals the number of records appended."""
    topic = new_topic(bootstrap, partitions=2)
    p = producer(bootstrap)
    for i in range(120):
        p.send(topic, value=b"x", partition=i % 2)
    p.flush(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    end, start = c.end_offsets(tps), c.beginning_offsets(tps)
    c.close()
    assert {tp.partition: end[tp] - start[tp] for tp in tps} == {0: 60, 1: 60}


def test_list_offsets_by_timestamp(bootstrap: str) -> None:
    """Guarantee: ListOffsets by timestamp returns the earliest offset whose timestamp
    is >= the one asked for (and nothing when every record is older)."""
    topic = new_topic(bootstrap)
    p = producer(bootstrap)
    t0 = int(time.time() * 1000) - 60_000
    for i in range(5):
        p.send(topic, value=str(i).encode(), partition=0, timestamp_ms=t0 + i * 1000).get(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    tp = TopicPartition(topic, 0)
    first = read_all(bootstrap, topic, 0, 5)[0].offset
    got = c.offsets_for_times({tp: t0 + 1500})[tp]
    later = c.offsets_for_times({tp: t0 + 10_000})[tp]
    c.close()
    assert got is not None and got.offset == first + 2 and got.timestamp == t0 + 2000
    assert later is None


def test_same_key_same_partition_keyless_spread(bootstrap: str) -> None:
    """Guarantee: with the default partitioner every record of one key lands on one
    partition; records without a key are spread over the partitions."""
    topic = new_topic(bootstrap, partitions=4)
    p = producer(bootstrap)
    keyed = [p.send(topic, key=f"k{i % 10}".encode(), value=b"v") for i in range(200)]
    parts_of: dict[str, set[int]] = defaultdict(set)
    for i, m in enumerate(keyed):
        parts_of[f"k{i % 10}"].add(m.get(30).partition)
    keyless = []
    for _ in range(40):
        keyless.append(p.send(topic, value=b"v"))
        p.flush(30)  # the sticky partitioner changes partition per batch
    spread = Counter(m.get(30).partition for m in keyless)
    p.close()
    assert all(len(ps) == 1 for ps in parts_of.values()), dict(parts_of)
    assert len(set().union(*parts_of.values())) >= 2
    assert len(spread) >= 2, spread


def test_reads_do_not_consume(bootstrap: str) -> None:
    """Guarantee: a log is not a queue; reading does not remove records, so consumers in
    different groups (and repeated reads) see the same records."""
    topic = new_topic(bootstrap)
    p = producer(bootstrap)
    for i in range(50):
        p.send(topic, value=str(i).encode(), partition=0)
    p.flush(30)
    p.close()
    a = [r.value for r in read_all(bootstrap, topic, 0, 50, group_id="reader-a")]
    b = [r.value for r in read_all(bootstrap, topic, 0, 50, group_id="reader-b")]
    again = [r.value for r in read_all(bootstrap, topic, 0, 50)]
    assert a == b == again and len(a) == 50


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks_semantics_without_faults(bootstrap: str, acks: str) -> None:
    """Guarantee: without faults, records sent with acks=0, 1 or all are all appended;
    acks=1 and acks=all acknowledgements carry the record's offset."""
    topic = new_topic(bootstrap)
    pr = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5})
    reports: list[int] = []

    def on_delivery(err: object, msg: object) -> None:
        assert err is None, err
        reports.append(msg.offset())  # type: ignore[attr-defined]

    for i in range(100):
        pr.produce(topic, value=str(i).encode(), partition=0, on_delivery=on_delivery)
    assert pr.flush(30) == 0
    recs = read_all(bootstrap, topic, 0, 100)
    assert sorted(int(r.value) for r in recs) == list(range(100))
    if acks != "0":
        assert sorted(reports) == [r.offset for r in recs]


def test_idempotent_producer_writes_each_record_once(bootstrap: str) -> None:
    """Guarantee: an idempotent producer (enable.idempotence) writes every record exactly
    once and in order per partition, retries included."""
    topic = new_topic(bootstrap)
    pr = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                   "linger.ms": 2, "batch.num.messages": 50})
    for i in range(2000):
        pr.produce(topic, value=str(i).encode(), partition=0)
        if i % 500 == 0:
            pr.poll(0)
    assert pr.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"idem-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([CTopicPartition(topic, 0, 0)])
    values: list[int] = []
    end = time.monotonic() + 30
    while len(values) < 2000 and time.monotonic() < end:
        for m in c.consume(500, 0.5):
            if m.error() is None:
                values.append(int(m.value()))
    c.close()
    assert values == list(range(2000))
