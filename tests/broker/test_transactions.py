"""Kafka transactions against a real single-node broker, with real clients.

kafka-python and confluent-kafka transactional producers; what a read_committed
consumer may see (kafka-python's, which drops aborted records by the fetch's
`aborted_transactions`); fencing; offsets committed with a transaction; crash recovery;
the refusal in cluster mode; and the planted bug ``aborted-read``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as CTP
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TransactionalIdAuthorizationFailedError
from kafka.protocol.metadata import ApiVersionsRequest
from kafka.structs import OffsetAndMetadata

from tests.cluster_broker.conftest import RaftCluster, cluster_factory  # noqa: F401

from ._reading import WAIT_S, read_values, wait_for
from ._wire import Wire
from .conftest import BrokerProcess


def _topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def kp(bootstrap: str, tid: str, **extra: Any) -> KafkaProducer:
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, **extra)
    p.init_transactions()
    return p


def test_kafka_python_commit_abort_and_the_lso(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    _topic(bs, "t")
    p = kp(bs, "kp-1")
    p.begin_transaction()
    for i in range(3):
        p.send("t", b"c%d" % i, partition=0)
    p.flush()
    # sent but not committed: invisible to read_committed, which stops at its start
    assert read_values(bs, "t") == ([], 0)
    assert read_values(bs, "t", committed=False)[0] == [b"c0", b"c1", b"c2"]
    p.commit_transaction()
    values, lso = read_values(bs, "t")
    assert values == [b"c0", b"c1", b"c2"] and lso == 4  # 3 records and the marker

    p.begin_transaction()
    for i in range(3):
        p.send("t", b"a%d" % i, partition=0)
    p.flush()  # else abort drops them unsent
    p.abort_transaction()
    assert read_values(bs, "t")[0] == [b"c0", b"c1", b"c2"]
    assert read_values(bs, "t", committed=False)[0] == [b"c0", b"c1", b"c2", b"a0", b"a1",
                                                       b"a2"]

    # a plain (non-transactional) record after an open transaction waits for it
    p.begin_transaction()
    p.send("t", b"open", partition=0)
    p.flush()
    plain = KafkaProducer(bootstrap_servers=bs, acks="all")
    plain.send("t", b"plain", partition=0)
    plain.close()
    values, lso = read_values(bs, "t")
    assert values == [b"c0", b"c1", b"c2"] and lso == 8  # the open transaction's start
    p.commit_transaction()
    p.close()
    assert read_values(bs, "t")[0] == [b"c0", b"c1", b"c2", b"open", b"plain"]


def test_commit_across_partitions_is_all_or_nothing(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    _topic(bs, "m", 3)
    p = kp(bs, "kp-m")
    p.begin_transaction()
    for i in range(30):
        p.send("m", b"%d" % i, partition=i % 3)
    p.flush()
    assert [read_values(bs, "m", i)[0] for i in range(3)] == [[], [], []]
    p.commit_transaction()
    p.close()
    assert sorted(int(v) for i in range(3) for v in read_values(bs, "m", i)[0]) == \
        list(range(30))


def test_confluent_commit_and_abort(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    _topic(bs, "cf")
    p = Producer({"bootstrap.servers": bs, "transactional.id": "cf-1"})
    p.init_transactions(10)
    p.begin_transaction()
    for i in range(5):
        p.produce("cf", b"c%d" % i, partition=0)
    p.commit_transaction(10)
    p.begin_transaction()
    for i in range(5):
        p.produce("cf", b"a%d" % i, partition=0)
    p.flush(10)
    assert read_values(bs, "cf")[0] == [b"c%d" % i for i in range(5)]  # LSO before a0
    p.abort_transaction(10)
    p.begin_transaction()
    p.produce("cf", b"last", partition=0)
    p.commit_transaction(10)
    assert read_values(bs, "cf")[0] == [b"c%d" % i for i in range(5)] + [b"last"]
    assert len(read_values(bs, "cf", committed=False)[0]) == 11
    # librdkafka's read_committed consumer skips the aborted records too
    c = Consumer({"bootstrap.servers": bs, "group.id": "cfg", "isolation.level":
                  "read_committed", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.assign([CTP("cf", 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while b"last" not in got:
            assert time.monotonic() < deadline, f"read only {got}"
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert got == [b"c%d" % i for i in range(5)] + [b"last"]
    finally:
        c.close()


def test_a_new_producer_fences_the_old_one(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    _topic(bs, "f")
    zombie = kp(bs, "shared")
    zombie.begin_transaction()
    zombie.send("f", b"zombie", partition=0)
    zombie.flush()
    # confluent takes the id over: the zombie's open transaction is aborted
    fresh = Producer({"bootstrap.servers": bs, "transactional.id": "shared"})
    fresh.init_transactions(10)
    with pytest.raises(KafkaError):
        zombie.commit_transaction()
    zombie.close(timeout=1)
    fresh.begin_transaction()
    fresh.produce("f", b"fresh", partition=0)
    fresh.commit_transaction(10)
    assert read_values(bs, "f")[0] == [b"fresh"]
    # and a third producer fences confluent's in turn
    third = kp(bs, "shared")
    fresh.begin_transaction()
    fresh.produce("f", b"late", partition=0)
    with pytest.raises(KafkaException):
        fresh.commit_transaction(10)
    third.close()
    assert read_values(bs, "f")[0] == [b"fresh"]


def test_offsets_sent_to_a_transaction_count_only_on_commit(broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    _topic(bs, "in")
    _topic(bs, "out")
    src = TopicPartition("in", 0)
    feeder = KafkaProducer(bootstrap_servers=bs, acks="all")
    for i in range(10):
        feeder.send("in", b"%d" % i, partition=0)
    feeder.close()
    consumer = KafkaConsumer("in", bootstrap_servers=bs, group_id="g",
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level="read_committed")
    try:
        seen = []
        deadline = time.monotonic() + WAIT_S
        while len(seen) < 10:
            assert time.monotonic() < deadline, f"consumed only {seen}"
            for msgs in consumer.poll(timeout_ms=200).values():
                seen.extend(msgs)
        meta = consumer.group_metadata()
        p = kp(bs, "ctp")
        p.begin_transaction()
        p.send("out", b"x", partition=0)
        p.send_offsets_to_transaction({src: OffsetAndMetadata(5, "", -1)}, meta)
        p.abort_transaction()
        assert consumer.committed(src) is None
        p.begin_transaction()
        p.send("out", b"y", partition=0)
        p.send_offsets_to_transaction({src: OffsetAndMetadata(10, "", -1)}, meta)
        p.commit_transaction()
        p.close()
        assert consumer.committed(src) == 10
    finally:
        consumer.close()
    assert read_values(bs, "out")[0] == [b"y"]


def test_sigkill_keeps_decided_transactions_and_aborts_the_open_one(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory({"log.flush.policy": "always"})
    bs = b.bootstrap
    _topic(bs, "k")
    p = kp(bs, "crash", transaction_timeout_ms=3000)
    p.begin_transaction()
    p.send("k", b"committed", partition=0)
    p.commit_transaction()
    p.begin_transaction()
    p.send("k", b"aborted", partition=0)
    p.flush()
    p.abort_transaction()
    p.begin_transaction()
    p.send("k", b"open", partition=0)
    p.flush()
    p.close(timeout=0)  # the producer dies with its transaction open
    b.restart()  # SIGKILL, then start on the same data dir
    bs = b.bootstrap
    # the aborted index was rebuilt: aborted records stay hidden
    assert read_values(bs, "k", committed=False)[0] == [b"committed", b"aborted", b"open"]
    values, lso = read_values(bs, "k")
    assert values == [b"committed"] and lso in (4, 6)  # 4: still open; 6: timed out
    # the coordinator remembered the open transaction and aborts it at its timeout
    wait_for("the open transaction is aborted", lambda: read_values(bs, "k")[1] == 6)
    assert read_values(bs, "k")[0] == [b"committed"]
    assert "timed out: aborting" in b.stderr_text()
    # the id carries on with a higher epoch
    again = kp(bs, "crash")
    again.begin_transaction()
    again.send("k", b"after", partition=0)
    again.commit_transaction()
    again.close()
    assert read_values(bs, "k")[0] == [b"committed", b"after"]


def test_planted_bug_aborted_read_shows_aborted_records(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory({"log.flush.policy": "always", "logtrial.bugs": "aborted-read"})
    bs = b.bootstrap
    _topic(bs, "bug")
    p = kp(bs, "bug")
    p.begin_transaction()
    p.send("bug", b"aborted", partition=0)
    p.flush()
    p.abort_transaction()
    p.begin_transaction()
    p.send("bug", b"open", partition=0)
    p.flush()
    assert read_values(bs, "bug")[0] == [b"aborted", b"open"]
    p.close(timeout=0)


def test_cluster_mode_refuses_transactions(
        cluster_factory: Callable[..., RaftCluster]) -> None:  # noqa: F811
    c = cluster_factory()
    c.create_topic("ct")
    with Wire(c.address(1)) as w:
        resp = w.call(ApiVersionsRequest(version=3, client_software_name="t",
                                         client_software_version="1"))
    assert {24, 25, 26, 28}.isdisjoint(k.api_key for k in resp.api_keys)
    assert 22 in {k.api_key for k in resp.api_keys}  # idempotence stays
    p = KafkaProducer(bootstrap_servers=c.bootstrap.split(","), transactional_id="c",
                      max_block_ms=10000)
    try:
        # kafka-python shows only the error (FindCoordinator's message is not surfaced)
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            p.init_transactions()
    finally:
        p.close(timeout=1)
    cp = Producer({"bootstrap.servers": c.bootstrap, "transactional.id": "c2"})
    with pytest.raises(KafkaException) as info:
        cp.init_transactions(10)
    assert "not supported by the reference broker in cluster mode" in str(info.value)
