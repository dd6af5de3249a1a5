"""Conformance: Kafka's transactional guarantees (KIP-98), against any ``--target``.

Each test's docstring names the guarantee (Kafka's documentation, "Design: message
delivery semantics" and the producer's and consumer's ``transactional.id`` /
``isolation.level`` configs). The clients are kafka-python's, as in the other suites;
each transaction call is bounded (kafka-python waits on commit and abort without a
limit), so a target that never answers fails the test instead of hanging it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from harness.workload import call_bounded
from suites.conformance._kafka import new_topic, read_all

pytestmark = pytest.mark.conformance

CALL_TIMEOUT_S = 15.0


def _bounded(fn: Callable[[], Any], what: str) -> Any:
    """kafka-python's transaction calls wait without a limit: bound them."""
    return call_bounded(what, fn, CALL_TIMEOUT_S)


def _txn_producer(bootstrap: str, txn_id: str | None = None) -> KafkaProducer:
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                      enable_idempotence=True,
                      transactional_id=txn_id or f"conf-{uuid.uuid4().hex[:10]}",
                      max_block_ms=int(CALL_TIMEOUT_S * 1000))
    p.init_transactions()
    return p


def _committed_reader(bootstrap: str, topic: str, partitions: int = 1) -> KafkaConsumer:
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                      auto_offset_reset="earliest", isolation_level="read_committed")
    c.assign([TopicPartition(topic, p) for p in range(partitions)])
    return c


def _read_committed(bootstrap: str, topic: str, partitions: int, until: Callable[
        [list[tuple[int, int, int]]], bool], timeout_s: float = 30.0) -> list[
        tuple[int, int, int]]:
    """Poll a fresh read_committed consumer from the start until ``until(read)``."""
    c = _committed_reader(bootstrap, topic, partitions)
    out: list[tuple[int, int, int]] = []
    try:
        end = time.monotonic() + timeout_s
        while not until(out) and time.monotonic() < end:
            for tp, recs in c.poll(timeout_ms=200).items():
                out.extend((tp.partition, r.offset, int(r.value)) for r in recs)
        return out
    finally:
        c.close()


def test_committed_transaction_is_atomically_visible(bootstrap: str) -> None:
    """Guarantee: a committed transaction's records, across partitions, all become
    visible to read_committed consumers, in each partition's order, with the offsets
    their sends were acknowledged at; none is lost or returned twice."""
    topic = new_topic(bootstrap, partitions=2)
    p = _txn_producer(bootstrap)
    try:
        p.begin_transaction()
        futures = [p.send(topic, value=str(i).encode(), partition=i % 2) for i in range(20)]
        _bounded(p.flush, "flush")
        acked = sorted((f.get(1).partition, f.get(1).offset, i) for i, f in enumerate(futures))
        _bounded(p.commit_transaction, "commit_transaction")
    finally:
        p.close(timeout=2)
    got = _read_committed(bootstrap, topic, 2, lambda r: len(r) >= 20)
    assert sorted(got) == acked


def test_aborted_records_are_never_returned_to_read_committed(bootstrap: str) -> None:
    """Guarantee: records of an aborted transaction are never returned to a
    read_committed consumer (they are skipped, and records committed after them are
    returned). A read_uncommitted consumer still sees them, so they were written."""
    topic = new_topic(bootstrap)
    p = _txn_producer(bootstrap)
    try:
        p.begin_transaction()
        aborted = [p.send(topic, value=str(v).encode(), partition=0) for v in (1, 2, 3)]
        _bounded(p.flush, "flush")
        for f in aborted:
            f.get(1)
        _bounded(p.abort_transaction, "abort_transaction")
        p.begin_transaction()
        p.send(topic, value=b"100", partition=0)
        p.send(topic, value=b"101", partition=0)
        _bounded(p.commit_transaction, "commit_transaction")
    finally:
        p.close(timeout=2)
    uncommitted = [int(r.value) for r in read_all(bootstrap, topic, 0, 5)]
    assert {1, 2, 3} <= set(uncommitted), "the aborted records were written"
    got = _read_committed(bootstrap, topic, 1, lambda r: any(v == 101 for _, _, v in r))
    assert [v for _, _, v in got] == [100, 101]


def test_read_committed_stops_at_an_open_transaction(bootstrap: str) -> None:
    """Guarantee: a read_committed consumer reads no further than the last stable
    offset (LSO): the first offset of a still-open transaction. Records appended after
    it, even committed non-transactional ones, wait until that transaction ends, and
    ListOffsets(latest) under read_committed answers the LSO, not the log end."""
    topic = new_topic(bootstrap)
    tp = TopicPartition(topic, 0)
    plain = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all")
    p = _txn_producer(bootstrap)
    try:
        plain.send(topic, value=b"0", partition=0).get(CALL_TIMEOUT_S)
        p.begin_transaction()
        first_open = p.send(topic, value=b"1", partition=0)
        _bounded(p.flush, "flush")
        lso = first_open.get(1).offset
        after = plain.send(topic, value=b"2", partition=0).get(CALL_TIMEOUT_S).offset
        assert after > lso
        reader = _committed_reader(bootstrap, topic)
        try:
            seen = [(tp2.partition, r.offset, int(r.value))
                    for _ in range(10) for tp2, recs in reader.poll(timeout_ms=200).items()
                    for r in recs]
            assert [v for _, _, v in seen] == [0], "nothing at or after the LSO is returned"
            ends = reader.end_offsets([tp])
            assert ends[tp] == lso, f"read_committed end offset {ends[tp]}, LSO {lso}"
            _bounded(p.commit_transaction, "commit_transaction")
            end = time.monotonic() + 30
            while len(seen) < 3 and time.monotonic() < end:
                seen.extend((tp2.partition, r.offset, int(r.value))
                            for tp2, recs in reader.poll(timeout_ms=200).items() for r in recs)
        finally:
            reader.close()
        assert [v for _, _, v in seen] == [0, 1, 2]
    finally:
        p.close(timeout=2)
        plain.close(timeout=2)


def test_a_new_producer_fences_the_zombie_with_its_transactional_id(bootstrap: str) -> None:
    """Guarantee (zombie fencing): when a producer initialises with a transactional
    id, the coordinator aborts the open transaction of any older producer with that id
    and fences it: the zombie can neither commit nor write any more, so none of its
    records become visible to read_committed consumers, and the new producer's do."""
    topic = new_topic(bootstrap)
    txn_id = f"conf-zombie-{uuid.uuid4().hex[:8]}"
    zombie = _txn_producer(bootstrap, txn_id)
    heir: KafkaProducer | None = None
    try:
        zombie.begin_transaction()
        zombie.send(topic, value=b"1", partition=0)
        _bounded(zombie.flush, "flush")
        heir = _txn_producer(bootstrap, txn_id)  # fences the zombie, aborts its txn
        try:
            late: Any = zombie.send(topic, value=b"2", partition=0)
        except Exception:  # refused at once: as good as a failed future
            late = None
        with pytest.raises(KafkaError):  # fenced (any refusal will do)
            _bounded(zombie.commit_transaction, "zombie commit_transaction")
        if late is not None:
            with pytest.raises(KafkaError):
                late.get(CALL_TIMEOUT_S)
        heir.begin_transaction()
        heir.send(topic, value=b"3", partition=0)
        _bounded(heir.commit_transaction, "heir commit_transaction")
    finally:
        zombie.close(timeout=2)
        if heir is not None:
            heir.close(timeout=2)
    got = _read_committed(bootstrap, topic, 1, lambda r: any(v == 3 for _, _, v in r))
    assert [v for _, _, v in got] == [3]
