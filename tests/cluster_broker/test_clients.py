"""A 3-node cluster serves unmodified Kafka clients: metadata, routing, acks=all."""

from __future__ import annotations

import time
import uuid

from tests.broker._wire import Wire, fetch, make_batch, produce
from tests.cluster_broker.conftest import RaftCluster

NOT_LEADER_OR_FOLLOWER = 6


def test_metadata_reports_brokers_leader_replicas_and_isr(cluster: RaftCluster) -> None:
    cluster.create_topic("meta", partitions=2)
    answers = [cluster.metadata(n, ["meta"]) for n in (1, 2, 3)]
    for md in answers:
        assert sorted((b.node_id, b.port) for b in md.brokers) == \
            sorted(cluster.ports.items())
        (topic,) = md.topics
        assert topic.error_code == 0 and len(topic.partitions) == 2
        for p in topic.partitions:
            assert sorted(p.replica_nodes) == [1, 2, 3]
            assert p.leader_id in (1, 2, 3) and p.leader_epoch >= 1
    for index in (0, 1):
        leaders = {md.topics[0].partitions[index].leader_id for md in answers}
        assert len(leaders) == 1, f"nodes disagree on the leader of meta-{index}: {leaders}"
        leader = leaders.pop()
        (part,) = [p for p in answers[leader - 1].topics[0].partitions
                   if p.partition_index == index]
        assert leader in part.isr_nodes
    assert {md.controller_id for md in answers} <= {1, 2, 3}


def test_non_leaders_refuse_produce_and_fetch(cluster: RaftCluster) -> None:
    cluster.create_topic("route")
    leader = cluster.wait_leader("route")
    for n in (1, 2, 3):
        with Wire(cluster.address(n)) as w:
            code, _ = produce(w, "route", make_batch(2), acks=-1)
            part = fetch(w, "route", 0)
        if n == leader:
            assert code == 0 and part.error_code == 0
        else:
            assert code == NOT_LEADER_OR_FOLLOWER
            assert part.error_code == NOT_LEADER_OR_FOLLOWER


def test_high_watermark_is_the_commit_and_reads_stop_there(cluster: RaftCluster) -> None:
    cluster.create_topic("hw")
    leader = cluster.wait_leader("hw")
    with Wire(cluster.address(leader)) as w:
        code, base = produce(w, "hw", make_batch(3), acks=-1)
        assert code == 0
        part = fetch(w, "hw", base)
        assert part.error_code == 0
        assert part.high_watermark == base + 3  # acks=all: committed before the answer
        assert part.records


def test_kafka_python_and_confluent_produce_acks_all_and_consume(cluster: RaftCluster) -> None:
    import confluent_kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = "clients-" + uuid.uuid4().hex[:6]
    cluster.create_topic(topic, partitions=2)
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap.split(","), acks="all",
                       enable_idempotence=True)
    futures = [kp.send(topic, value=b"kp-%d" % i, partition=i % 2) for i in range(100)]
    kp.flush(30)
    assert all(f.get(10).offset >= 0 for f in futures)
    kp.close()
    cp = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                                   "enable.idempotence": True})
    errors: list[object] = []
    for i in range(100):
        cp.produce(topic, value=b"ck-%d" % i, partition=i % 2,
                   on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert cp.flush(30) == 0 and not errors
    want = sorted([b"kp-%d" % i for i in range(100)] + [b"ck-%d" % i for i in range(100)])

    kc = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                       enable_auto_commit=False, consumer_timeout_ms=3000)
    kc.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    kc.seek_to_beginning()
    assert sorted(m.value for m in kc) == want
    kc.close()

    cc = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap,
                                   "group.id": "g-" + topic, "enable.auto.commit": False,
                                   "auto.offset.reset": "earliest"})
    cc.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
               for p in (0, 1)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < len(want) and time.monotonic() < deadline:
        m = cc.poll(0.5)
        value = m.value() if m is not None and m.error() is None else None
        if value is not None:
            got.append(value)
    cc.close()
    assert sorted(got) == want


def test_produce_request_with_acks_1_is_answered(cluster: RaftCluster) -> None:
    cluster.create_topic("acks1")
    leader = cluster.wait_leader("acks1")
    with Wire(cluster.address(leader)) as w:
        code, base = produce(w, "acks1", make_batch(1), acks=1)
    assert code == 0 and base >= 0

