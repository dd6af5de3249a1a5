"""The transaction APIs at the wire level: every served version, and the error codes
clients act on (fencing by version, bad timeouts, unknown partitions, produce outside
the transaction), against a real broker process."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.protocol.admin import DescribeProducersRequest
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.metadata import ApiVersionsRequest
from kafka.protocol.producer import (
    AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest,
    EndTxnRequest,
    InitProducerIdRequest,
    ProduceRequest,
    TxnOffsetCommitRequest,
)

from reference_broker import records

from ._wire import Wire, create_topic, fetch, make_batch, produce
from .conftest import BrokerProcess

TOPIC = "wt"
AP = AddPartitionsToTxnRequest.AddPartitionsToTxnTopic


def init(w: Wire, tid: str, *, version: int = 4, timeout_ms: int = 60000) -> Any:
    return w.call(InitProducerIdRequest(version=version, transactional_id=tid,
                                        transaction_timeout_ms=timeout_ms, producer_id=-1,
                                        producer_epoch=-1))


def add(w: Wire, tid: str, pid: int, epoch: int, partitions: list[int], *,
        topic: str = TOPIC, version: int = 3) -> dict[int, int]:
    resp = w.call(AddPartitionsToTxnRequest(
        version=version, v3_and_below_transactional_id=tid, v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[AP(name=topic, partitions=partitions)]))
    return {r.partition_index: r.partition_error_code
            for t in resp.results_by_topic_v3_and_below for r in t.results_by_partition}


def end(w: Wire, tid: str, pid: int, epoch: int, commit: bool, *, version: int = 3) -> int:
    return int(w.call(EndTxnRequest(version=version, transactional_id=tid, producer_id=pid,
                                    producer_epoch=epoch, committed=commit)).error_code)


def produce_txn(w: Wire, tid: str, pid: int, epoch: int, seq: int, n: int = 2) -> int:
    batch = make_batch(n, pid=pid, epoch=epoch, seq=seq, ts=1000, value=b"x",
                       transactional=True)
    return produce(w, TOPIC, batch, transactional_id=tid)[0]


def fetch_committed(w: Wire, offset: int = 0) -> Any:
    return fetch(w, TOPIC, offset, min_bytes=0, isolation_level=1)


@pytest.fixture
def w(broker: BrokerProcess) -> Any:
    with Wire(broker.address) as wire:
        create_topic(wire, TOPIC, partitions=2)
        yield wire


def test_txn_apis_are_advertised(w: Wire) -> None:
    resp = w.call(ApiVersionsRequest(version=3, client_software_name="t",
                                     client_software_version="1"))
    ranges = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    assert ranges[24] == ranges[25] == ranges[26] == ranges[28] == (0, 3)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_version_runs_a_transaction(w: Wire, version: int) -> None:
    tid = f"v{version}"
    r = init(w, tid, version=min(version + 1, 4))
    assert r.error_code == 0 and r.producer_epoch == 0
    pid = r.producer_id
    assert add(w, tid, pid, 0, [0], version=version) == {0: 0}
    assert produce_txn(w, tid, pid, 0, 0) == 0
    group_resp = w.call(AddOffsetsToTxnRequest(version=version, transactional_id=tid,
                                               producer_id=pid, producer_epoch=0,
                                               group_id="g"))
    assert group_resp.error_code == 0
    TT = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
    commit = w.call(TxnOffsetCommitRequest(
        version=version, transactional_id=tid, group_id="g", producer_id=pid,
        producer_epoch=0, generation_id=-1, member_id="", group_instance_id=None,
        topics=[TT(name=TOPIC, partitions=[TT.TxnOffsetCommitRequestPartition(
            partition_index=0, committed_offset=1, committed_leader_epoch=-1,
            committed_metadata="")])]))
    assert [p.error_code for t in commit.topics for p in t.partitions] == [0]
    assert end(w, tid, pid, 0, True, version=version) == 0
    assert end(w, tid, pid, 0, True, version=version) == 0  # a retry
    assert end(w, tid, pid, 0, False, version=version) == 48  # INVALID_TXN_STATE


@pytest.mark.parametrize(("version", "code"), [(0, 47), (1, 47), (2, 90), (3, 90)])
def test_fenced_producers_get_the_error_their_version_knows(w: Wire, version: int,
                                                            code: int) -> None:
    r = init(w, "f")
    assert init(w, "f").producer_epoch == 1
    assert end(w, "f", r.producer_id, 0, True, version=version) == code
    assert set(add(w, "f", r.producer_id, 0, [0], version=version).values()) == {code}


def test_init_errors(w: Wire) -> None:
    assert init(w, "t", timeout_ms=900001).error_code == 50  # INVALID_TRANSACTION_TIMEOUT
    assert init(w, "t", timeout_ms=0).error_code == 50
    r = init(w, "t")
    stale = w.call(InitProducerIdRequest(version=4, transactional_id="t",
                                         transaction_timeout_ms=1000,
                                         producer_id=r.producer_id, producer_epoch=5))
    assert stale.error_code == 90
    assert end(w, "nobody", r.producer_id, 0, True) == 49  # INVALID_PRODUCER_ID_MAPPING


def test_unknown_partition_adds_nothing(w: Wire) -> None:
    r = init(w, "u")
    assert add(w, "u", r.producer_id, 0, [0, 7]) == {0: 55, 7: 3}
    assert produce_txn(w, "u", r.producer_id, 0, 0) == 48  # partition 0 was not added


def test_produce_outside_the_transaction_and_control_batches_are_refused(w: Wire) -> None:
    r = init(w, "p")
    pid = r.producer_id
    assert produce_txn(w, "p", pid, 0, 0) == 48  # no AddPartitionsToTxn
    assert add(w, "p", pid, 0, [0]) == {0: 0}
    assert produce_txn(w, "p", pid, 0, 0) == 0
    init(w, "p")  # fences epoch 0 and aborts its transaction
    assert produce_txn(w, "p", pid, 0, 2) == 47  # INVALID_PRODUCER_EPOCH
    control = records.build_batch([records.Record(b"\x00\x00\x00\x01", b"", 0)],
                                  producer_id=pid, producer_epoch=1, control=True,
                                  transactional=True)
    TD = ProduceRequest.TopicProduceData
    resp = w.call(ProduceRequest(version=9, transactional_id="p", acks=-1, timeout_ms=5000,
                                 topic_data=[TD(name=TOPIC, partition_data=[
                                     TD.PartitionProduceData(index=0, records=control)])]))
    assert resp.responses[0].partition_responses[0].error_code == 87  # INVALID_RECORD


def test_read_committed_fetch_lso_and_aborted_transactions(w: Wire) -> None:
    plain = make_batch(1)
    TD = ProduceRequest.TopicProduceData
    w.call(ProduceRequest(version=9, transactional_id=None, acks=-1, timeout_ms=5000,
                          topic_data=[TD(name=TOPIC, partition_data=[
                              TD.PartitionProduceData(index=0, records=plain)])]))  # 0
    r = init(w, "a")
    pid = r.producer_id
    add(w, "a", pid, 0, [0])
    assert produce_txn(w, "a", pid, 0, 0) == 0  # offsets 1-2
    part = fetch_committed(w)
    assert (part.high_watermark, part.last_stable_offset) == (3, 1)
    assert [h.base_offset for _, h in records.iter_batches(part.records)] == [0]
    described = w.call(DescribeProducersRequest(version=0, topics=[
        DescribeProducersRequest.TopicRequest(name=TOPIC, partition_indexes=[0])]))
    states = described.topics[0].partitions[0].active_producers
    assert [(s.producer_id, s.current_txn_start_offset) for s in states] == [(pid, 1)]
    LT = ListOffsetsRequest.ListOffsetsTopic
    lo = w.call(ListOffsetsRequest(version=5, replica_id=-1, isolation_level=1, topics=[
        LT(name=TOPIC, partitions=[LT.ListOffsetsPartition(
            partition_index=0, current_leader_epoch=-1, timestamp=-1)])]))
    assert lo.topics[0].partitions[0].offset == 1
    assert end(w, "a", pid, 0, False) == 0  # marker at 3
    part = fetch_committed(w)
    assert (part.high_watermark, part.last_stable_offset) == (4, 4)
    assert [(a.producer_id, a.first_offset) for a in part.aborted_transactions] == [(pid, 1)]
    batches = [h for _, h in records.iter_batches(part.records)]
    assert [(h.base_offset, h.is_control) for h in batches] == [(0, False), (1, False),
                                                                 (3, True)]
    assert fetch_committed(w, 4).aborted_transactions == []  # past the abort
