"""OffsetFetch with require_stable (KIP-447) against a real single-node broker.

A transaction that staged offsets for a group (TxnOffsetCommit) is about to move them;
a consumer that reads committed (kafka-python and librdkafka then send require_stable)
must not resume from the offset being replaced, or it processes again what the
transaction's producer already processed. The broker answers UNSTABLE_OFFSET_COMMIT
(88, retriable, per partition) until the transaction ends; without the flag it answers
the committed offset as before. Raw wire calls where the codes matter, real
kafka-python and confluent-kafka consumers for what a joining member sees."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.protocol.consumer import OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.producer import (
    AddOffsetsToTxnRequest,
    EndTxnRequest,
    InitProducerIdRequest,
    TxnOffsetCommitRequest,
)
from kafka.structs import OffsetAndMetadata

from ._wire import Wire, create_topic, make_batch, produce
from .conftest import BrokerProcess

WAIT_S = 30.0  # liveness bound for what must eventually happen
UNSTABLE = 88  # UNSTABLE_OFFSET_COMMIT
TOPIC = "in"
GROUP = "g"
CT = OffsetCommitRequest.OffsetCommitRequestTopic
FT = OffsetFetchRequest.OffsetFetchRequestTopic
FG = OffsetFetchRequest.OffsetFetchRequestGroup
TT = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic

#: (partition, committed offset, error code) per partition
Fetched = list[tuple[int, int, int]]


def commit(w: Wire, group: str, offsets: dict[int, int]) -> None:
    """A plain (non-transactional) commit of a simple consumer group."""
    resp = w.call(OffsetCommitRequest(
        version=8, group_id=group, generation_id_or_member_epoch=-1, member_id="",
        group_instance_id=None, topics=[CT(name=TOPIC, partitions=[
            CT.OffsetCommitRequestPartition(partition_index=p, committed_offset=o,
                                            committed_leader_epoch=-1, committed_metadata="")
            for p, o in offsets.items()])]))
    assert [p.error_code for t in resp.topics for p in t.partitions] == [0] * len(offsets)


def stage(w: Wire, tid: str, group: str, offsets: dict[int, int]) -> tuple[int, int]:
    """InitProducerId, AddOffsetsToTxn and TxnOffsetCommit: an open transaction holding
    ``offsets`` for ``group``; returns (producer id, epoch)."""
    r = w.call(InitProducerIdRequest(version=4, transactional_id=tid,
                                     transaction_timeout_ms=60000, producer_id=-1,
                                     producer_epoch=-1))
    assert r.error_code == 0, r
    pid, epoch = int(r.producer_id), int(r.producer_epoch)
    assert w.call(AddOffsetsToTxnRequest(version=3, transactional_id=tid, producer_id=pid,
                                         producer_epoch=epoch,
                                         group_id=group)).error_code == 0
    resp = w.call(TxnOffsetCommitRequest(
        version=3, transactional_id=tid, group_id=group, producer_id=pid,
        producer_epoch=epoch, generation_id=-1, member_id="", group_instance_id=None,
        topics=[TT(name=TOPIC, partitions=[TT.TxnOffsetCommitRequestPartition(
            partition_index=p, committed_offset=o, committed_leader_epoch=-1,
            committed_metadata="") for p, o in offsets.items()])]))
    assert [p.error_code for t in resp.topics for p in t.partitions] == [0] * len(offsets)
    return pid, epoch


def end(w: Wire, tid: str, pid: int, epoch: int, commit: bool) -> None:
    assert w.call(EndTxnRequest(version=3, transactional_id=tid, producer_id=pid,
                                producer_epoch=epoch, committed=commit)).error_code == 0


def offset_fetch(w: Wire, version: int, *, stable: bool, group: str = GROUP,
                 partitions: list[int] | None = None) -> Fetched:
    """One group's answer at ``version`` (v7 top-level form, v8+ per group);
    ``partitions`` None asks for all the group's committed partitions."""
    if version >= 8:
        topics = (None if partitions is None else
                  [FG.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=partitions)])
        resp = w.call(OffsetFetchRequest(version=version, require_stable=stable,
                                         groups=[FG(group_id=group, topics=topics)]))
        (g,) = resp.groups
        assert g.error_code == 0, g
        parts = [p for t in g.topics for p in t.partitions]
    else:
        kw: dict[str, Any] = {"require_stable": stable} if version >= 7 else {}
        resp = w.call(OffsetFetchRequest(
            version=version, group_id=group,
            topics=None if partitions is None else [
                FT(name=TOPIC, partition_indexes=partitions)], **kw))
        assert resp.error_code == 0, resp  # UNSTABLE is per partition, never top-level
        parts = [p for t in resp.topics for p in t.partitions]
    return sorted((int(p.partition_index), int(p.committed_offset), int(p.error_code))
                  for p in parts)


@pytest.mark.parametrize("version", [7, 8, 9])
def test_require_stable_answers_unstable_while_a_transaction_holds_offsets(
        broker: BrokerProcess, version: int) -> None:
    with Wire(broker.address) as w:
        create_topic(w, TOPIC, partitions=2)
        commit(w, GROUP, {0: 3, 1: 3})
        pid, epoch = stage(w, "eos", GROUP, {0: 10})

        # Only the staged partition is unstable; the other answers its offset.
        assert offset_fetch(w, version, stable=True, partitions=[0, 1]) == [
            (0, -1, UNSTABLE), (1, 3, 0)]
        assert offset_fetch(w, version, stable=True) == [(0, -1, UNSTABLE), (1, 3, 0)]
        # Without the flag: the last committed offset, as before.
        assert offset_fetch(w, version, stable=False, partitions=[0, 1]) == [
            (0, 3, 0), (1, 3, 0)]
        # Another group's offsets are not held by this transaction.
        commit(w, "other", {0: 1})
        assert offset_fetch(w, version, stable=True, group="other", partitions=[0]) == [
            (0, 1, 0)]

        end(w, "eos", pid, epoch, True)
        assert offset_fetch(w, version, stable=True, partitions=[0, 1]) == [
            (0, 10, 0), (1, 3, 0)]

        # An aborted transaction holds the offset until its end, then leaves it as it was.
        pid, epoch = stage(w, "eos", GROUP, {0: 20, 1: 20})
        assert offset_fetch(w, version, stable=True, partitions=[0, 1]) == [
            (0, -1, UNSTABLE), (1, -1, UNSTABLE)]
        end(w, "eos", pid, epoch, False)
        assert offset_fetch(w, version, stable=True, partitions=[0, 1]) == [
            (0, 10, 0), (1, 3, 0)]


def test_unstable_without_any_committed_offset_and_versions_without_the_flag(
        broker: BrokerProcess) -> None:
    with Wire(broker.address) as w:
        create_topic(w, TOPIC, partitions=1)
        # A group whose only offset is the pending one (Kafka checks pending first).
        pid, epoch = stage(w, "eos", "fresh", {0: 5})
        assert offset_fetch(w, 8, stable=True, group="fresh", partitions=[0]) == [
            (0, -1, UNSTABLE)]
        # Versions before 7 have no flag: the committed offset (none), no error.
        assert offset_fetch(w, 6, stable=False, group="fresh", partitions=[0]) == [
            (0, -1, 0)]
        end(w, "eos", pid, epoch, True)
        assert offset_fetch(w, 7, stable=True, group="fresh", partitions=[0]) == [(0, 5, 0)]


def test_read_committed_consumer_joining_during_a_transaction_resumes_from_its_offsets(
        broker: BrokerProcess) -> None:
    # The consume-transform-produce hand-over of KIP-447: a new member joins while the
    # previous owner's transaction holds offset 7. It must wait (retrying 88) and then
    # start at 7; starting at the old offset 2 would process 2..6 a second time.
    bs = broker.bootstrap
    src = TopicPartition(TOPIC, 0)
    with Wire(broker.address) as w:
        create_topic(w, TOPIC, partitions=1)
        assert produce(w, TOPIC, make_batch(10)) == (0, 0)
        commit(w, GROUP, {0: 2})
    producer = KafkaProducer(bootstrap_servers=bs, transactional_id="owner")
    consumer: KafkaConsumer | None = None
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send_offsets_to_transaction({src: OffsetAndMetadata(7, "", -1)}, GROUP)

        consumer = KafkaConsumer(TOPIC, bootstrap_servers=bs, group_id=GROUP,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 isolation_level="read_committed", retry_backoff_ms=50)
        deadline = time.monotonic() + WAIT_S
        early: list[int] = []
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer was never assigned"
            early += [m.offset for ms in consumer.poll(timeout_ms=100).values() for m in ms]
        # Assigned, so it has asked for its committed offset: it must still be waiting.
        for _ in range(10):
            early += [m.offset for ms in consumer.poll(timeout_ms=100).values() for m in ms]
        assert early == [], "consumed from the offset the transaction was replacing"

        producer.commit_transaction()
        got: list[int] = []
        while len(got) < 3:
            assert time.monotonic() < deadline + WAIT_S, f"consumed only {got}"
            got += [m.offset for ms in consumer.poll(timeout_ms=100).values() for m in ms]
        assert got == [7, 8, 9]
    finally:
        if consumer is not None:
            consumer.close()
        producer.close()


def test_confluent_consumer_joining_during_a_transaction_resumes_from_its_offsets(
        broker: BrokerProcess) -> None:
    # The same hand-over with librdkafka, which also sends require_stable when
    # isolation.level=read_committed and retries the offset fetch on 88.
    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as CTP

    bs = broker.bootstrap
    with Wire(broker.address) as w:
        create_topic(w, TOPIC, partitions=1)
        assert produce(w, TOPIC, make_batch(10)) == (0, 0)
        commit(w, GROUP, {0: 2})
    producer = Producer({"bootstrap.servers": bs, "transactional.id": "owner"})
    producer.init_transactions(WAIT_S)
    producer.begin_transaction()
    producer.send_offsets_to_transaction([CTP(TOPIC, 0, 7)], _group_metadata(bs), WAIT_S)
    consumer = Consumer({"bootstrap.servers": bs, "group.id": GROUP,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    try:
        consumer.subscribe([TOPIC])
        deadline = time.monotonic() + WAIT_S
        early: list[int] = []
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer was never assigned"
            m = consumer.poll(0.1)
            if m is not None and m.error() is None:
                early.append(m.offset())
        for _ in range(10):
            m = consumer.poll(0.1)
            if m is not None and m.error() is None:
                early.append(m.offset())
        assert early == [], "consumed from the offset the transaction was replacing"

        producer.commit_transaction(WAIT_S)
        got: list[int] = []
        while len(got) < 3:
            assert time.monotonic() < deadline + WAIT_S, f"consumed only {got}"
            m = consumer.poll(0.1)
            if m is not None:
                assert m.error() is None, m.error()
                got.append(m.offset())
        assert got == [7, 8, 9]
    finally:
        consumer.close()


def _group_metadata(bootstrap: str) -> Any:
    """The group's metadata for send_offsets_to_transaction, from a consumer that never
    joins (librdkafka takes a consumer's metadata object, not a group id)."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        return c.consumer_group_metadata()
    finally:
        c.close()
