"""Protocol-level behaviour of a running broker, driven byte by byte (no client library).

Idempotence is checked here at the wire: the same batch sent twice gets the same
offsets; gaps, fenced epochs and bad CRCs get Kafka's error codes.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from kafka.protocol.admin import CreateTopicsRequest
from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest

from reference_broker import records
from reference_broker.protocol import errors

from ._wire import Wire
from .conftest import BrokerProcess

TOPIC = "wire"


def _create(w: Wire, name: str = TOPIC, partitions: int = 1) -> None:
    T = CreateTopicsRequest.CreatableTopic
    resp = w.call(CreateTopicsRequest(version=7, topics=[T(name=name, num_partitions=partitions,
                                                             replication_factor=1)],
                                      timeout_ms=5000))
    assert resp.topics[0].error_code == 0, resp


def _batch(n: int, *, pid: int = -1, epoch: int = -1, seq: int = -1, ts: int | None = None,
           value: bytes = b"v") -> bytes:
    now = int(time.time() * 1000) if ts is None else ts
    recs = [records.Record(key=None, value=value + b"%d" % i, timestamp=now) for i in range(n)]
    return records.build_batch(recs, producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def _produce(w: Wire, batch: bytes, version: int = 9, partition: int = 0,
             acks: int = -1) -> tuple[int, int]:
    TD = ProduceRequest.TopicProduceData
    req = ProduceRequest(version=version, transactional_id=None, acks=acks, timeout_ms=5000,
                         topic_data=[TD(name=TOPIC, partition_data=[
                             TD.PartitionProduceData(index=partition, records=batch)])])
    resp = w.call(req)
    pr = resp.responses[0].partition_responses[0]
    return pr.error_code, pr.base_offset


def _init_pid(w: Wire) -> tuple[int, int]:
    resp = w.call(InitProducerIdRequest(version=4, transactional_id=None,
                                        transaction_timeout_ms=60000, producer_id=-1,
                                        producer_epoch=-1))
    assert resp.error_code == 0
    return resp.producer_id, resp.producer_epoch


@pytest.fixture
def wire(broker: BrokerProcess) -> Wire:
    w = Wire(broker.address)
    _create(w)
    return w


def test_api_versions_lists_what_clients_need(broker: BrokerProcess) -> None:
    with Wire(broker.address) as w:
        for v in (0, 1, 2, 3, 4):
            resp = w.call(ApiVersionsRequest(version=v, client_software_name="t",
                                             client_software_version="1"))
            assert resp.error_code == 0
            table = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
            assert table[0] == (3, 13)      # Produce
            assert table[1] == (4, 18)      # Fetch
            assert table[3] == (0, 13)      # Metadata
            assert table[18] == (0, 4)      # ApiVersions
            assert table[22][1] >= 4        # InitProducerId


def test_api_versions_unsupported_version_gets_v0_error(broker: BrokerProcess) -> None:
    with Wire(broker.address) as w:
        # ApiVersions v9 does not exist: header v2 (flexible) with an opaque body.
        body = struct.pack(">hhih", 18, 9, 77, 1) + b"x" + b"\x00" + b"\x00"
        w.send_raw(struct.pack(">i", len(body)) + body)
        frame = w.read_frame()
        cid, err, n = struct.unpack_from(">ihi", frame, 0)
        assert cid == 77
        assert err == errors.UNSUPPORTED_VERSION
        keys = {struct.unpack_from(">hhh", frame, 10 + 6 * i)[0]: struct.unpack_from(
            ">hhh", frame, 10 + 6 * i)[1:] for i in range(n)}
        assert keys[18] == (0, 4)
        assert len(frame) == 10 + 6 * n  # v0 format: nothing after the array
        # the connection stays usable: the client retries with a lower version
        resp = w.call(ApiVersionsRequest(version=0))
        assert resp.error_code == 0


def test_same_batch_twice_gets_the_same_offsets(wire: Wire) -> None:
    pid, epoch = _init_pid(wire)
    b0 = _batch(3, pid=pid, epoch=epoch, seq=0)
    b1 = _batch(2, pid=pid, epoch=epoch, seq=3)
    assert _produce(wire, b0) == (0, 0)
    assert _produce(wire, b1) == (0, 3)
    # retries of either of the last five batches: the original offsets, no error
    assert _produce(wire, b0) == (0, 0)
    assert _produce(wire, b1) == (0, 3)
    # the log holds each record once
    assert _end_offset(wire) == 5


def test_sequence_gap_is_out_of_order(wire: Wire) -> None:
    pid, epoch = _init_pid(wire)
    assert _produce(wire, _batch(1, pid=pid, epoch=epoch, seq=0)) == (0, 0)
    err, _ = _produce(wire, _batch(1, pid=pid, epoch=epoch, seq=5))
    assert err == errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert _produce(wire, _batch(1, pid=pid, epoch=epoch, seq=1)) == (0, 1)


def test_old_epoch_is_fenced_and_new_epoch_must_start_at_zero(wire: Wire) -> None:
    pid, _ = _init_pid(wire)
    assert _produce(wire, _batch(1, pid=pid, epoch=1, seq=0))[0] == 0
    err, _ = _produce(wire, _batch(1, pid=pid, epoch=0, seq=1))
    assert err == errors.INVALID_PRODUCER_EPOCH
    err, _ = _produce(wire, _batch(1, pid=pid, epoch=2, seq=7))
    assert err == errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert _produce(wire, _batch(1, pid=pid, epoch=2, seq=0))[0] == 0


def test_init_producer_id_never_repeats(wire: Wire) -> None:
    ids = {_init_pid(wire)[0] for _ in range(20)}
    assert len(ids) == 20


def test_bad_crc_is_corrupt_message(wire: Wire) -> None:
    b = bytearray(_batch(2))
    b[-1] ^= 0xFF
    err, _ = _produce(wire, bytes(b))
    assert err == errors.CORRUPT_MESSAGE
    assert _end_offset(wire) == 0


def test_unknown_topic_and_bad_acks(wire: Wire) -> None:
    TD = ProduceRequest.TopicProduceData
    req = ProduceRequest(version=9, transactional_id=None, acks=-1, timeout_ms=5000,
                         topic_data=[TD(name="nope", partition_data=[
                             TD.PartitionProduceData(index=0, records=_batch(1))])])
    resp = wire.call(req)
    assert resp.responses[0].partition_responses[0].error_code == \
        errors.UNKNOWN_TOPIC_OR_PARTITION
    assert _produce(wire, _batch(1), acks=2)[0] == errors.INVALID_REQUIRED_ACKS


def test_pipelined_requests_are_answered_in_order(wire: Wire) -> None:
    sent = []
    for i in range(20):
        TD = ProduceRequest.TopicProduceData
        req = ProduceRequest(version=7, transactional_id=None, acks=1, timeout_ms=5000,
                             topic_data=[TD(name=TOPIC, partition_data=[
                                 TD.PartitionProduceData(index=0, records=_batch(1))])])
        sent.append((req, wire.send(req)))
        if i % 4 == 0:
            meta = MetadataRequest(version=1, topics=None)
            sent.append((meta, wire.send(meta)))
    offsets = []
    for req, cid in sent:
        resp = wire.recv(req, cid)  # asserts the correlation id
        if isinstance(req, ProduceRequest):
            offsets.append(resp.responses[0].partition_responses[0].base_offset)
    assert offsets == list(range(20))


def test_acks_zero_gets_no_answer_but_is_appended(wire: Wire) -> None:
    TD = ProduceRequest.TopicProduceData
    req = ProduceRequest(version=9, transactional_id=None, acks=0, timeout_ms=5000,
                         topic_data=[TD(name=TOPIC, partition_data=[
                             TD.PartitionProduceData(index=0, records=_batch(4))])])
    wire.send(req)
    # the next answer on the connection is the one for ListOffsets
    assert _end_offset(wire) == 4


def _end_offset(w: Wire, ts: int = -1) -> int:
    LT = ListOffsetsRequest.ListOffsetsTopic
    req = ListOffsetsRequest(version=7, replica_id=-1, isolation_level=0, topics=[
        LT(name=TOPIC, partitions=[LT.ListOffsetsPartition(partition_index=0, timestamp=ts,
                                                           current_leader_epoch=-1)])])
    resp = w.call(req)
    p = resp.topics[0].partitions[0]
    assert p.error_code == 0
    return int(p.offset)


def _fetch(w: Wire, offset: int, max_wait_ms: int = 0, min_bytes: int = 1,
           version: int = 11) -> Any:
    FT = FetchRequest.FetchTopic
    req = FetchRequest(version=version, replica_id=-1, max_wait_ms=max_wait_ms,
                       min_bytes=min_bytes, max_bytes=1 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1,
                       topics=[FT(topic=TOPIC, partitions=[FT.FetchPartition(
                           partition=0, fetch_offset=offset, partition_max_bytes=1 << 20,
                           current_leader_epoch=-1, log_start_offset=-1)])],
                       forgotten_topics_data=[], rack_id="")
    return w.call(req).responses[0].partitions[0]


def test_fetch_out_of_range_and_long_poll(broker: BrokerProcess, wire: Wire) -> None:
    assert _produce(wire, _batch(2))[0] == 0
    p = _fetch(wire, 0)
    assert p.error_code == 0 and p.high_watermark == 2 and p.log_start_offset == 0
    assert [r.offset for r in records.iter_records(p.records)] == [0, 1]
    assert _fetch(wire, 3).error_code == errors.OFFSET_OUT_OF_RANGE
    # an empty long poll waits max_wait_ms ...
    t0 = time.monotonic()
    p = _fetch(wire, 2, max_wait_ms=600)
    assert time.monotonic() - t0 >= 0.5 and p.records in (b"", None)
    # ... and an append by another connection wakes it early
    import threading

    def later() -> None:
        time.sleep(0.3)
        with Wire(broker.address) as other:
            _produce(other, _batch(1))

    th = threading.Thread(target=later)
    th.start()
    t0 = time.monotonic()
    p = _fetch(wire, 2, max_wait_ms=10000)
    th.join()
    assert time.monotonic() - t0 < 5
    assert [r.offset for r in records.iter_records(p.records)] == [2]


def test_list_offsets_by_timestamp(wire: Wire) -> None:
    for i, ts in enumerate((1000, 2000, 3000)):
        assert _produce(wire, _batch(2, ts=ts)) == (0, 2 * i)
    assert _end_offset(wire, -2) == 0
    assert _end_offset(wire, -1) == 6
    assert _end_offset(wire, 1500) == 2
    assert _end_offset(wire, 3000) == 4
    assert _end_offset(wire, 3001) == -1


def test_oversize_frame_closes_before_the_body(broker_factory: Any) -> None:
    b = broker_factory({"socket.request.max.bytes": "4096"})
    with Wire(b.address) as w:
        w.send_raw(struct.pack(">i", 1 << 30))  # no body follows: must not wait for it
        assert w.is_closed()
    with Wire(b.address) as w:
        assert w.call(ApiVersionsRequest(version=3)).error_code == 0


def test_unknown_api_key_and_garbage_close_the_connection(broker: BrokerProcess) -> None:
    with Wire(broker.address) as w:
        body = struct.pack(">hhih", 999, 0, 1, -1)
        w.send_raw(struct.pack(">i", len(body)) + body)
        assert w.is_closed()
    with Wire(broker.address) as w:
        w.send_raw(struct.pack(">i", 12) + b"\x00\x03\x00\x05garbage!")
        assert w.is_closed()
    with Wire(broker.address) as w:
        assert w.call(ApiVersionsRequest(version=3)).error_code == 0



def test_failed_acks_zero_produce_closes_the_connection(wire: Wire) -> None:
    TD = ProduceRequest.TopicProduceData
    req = ProduceRequest(version=9, transactional_id=None, acks=0, timeout_ms=5000,
                         topic_data=[TD(name="nope", partition_data=[
                             TD.PartitionProduceData(index=0, records=_batch(1))])])
    wire.send(req)
    assert wire.is_closed()


def test_concurrent_pipelined_producers_get_dense_distinct_offsets(broker: BrokerProcess,
                                                                   wire: Wire) -> None:
    import threading

    from ._wire import fetch

    per_conn, conns = 40, 4
    results: dict[int, list[tuple[int, int]]] = {}

    def run(k: int) -> None:
        with Wire(broker.address) as w:
            TD = ProduceRequest.TopicProduceData
            sent = []
            for i in range(per_conn):
                batch = _batch(3, value=b"c%d-%d-" % (k, i))
                req = ProduceRequest(version=9, transactional_id=None, acks=-1,
                                     timeout_ms=5000, topic_data=[TD(name=TOPIC, partition_data=[
                                         TD.PartitionProduceData(index=0, records=batch)])])
                sent.append((req, w.send(req)))
            out = []
            for req, cid in sent:
                pr = w.recv(req, cid).responses[0].partition_responses[0]
                out.append((pr.error_code, pr.base_offset))
            results[k] = out

    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    offsets = sorted(off for out in results.values() for err, off in out if err == 0)
    assert len(offsets) == per_conn * conns
    assert offsets == list(range(0, 3 * per_conn * conns, 3))
    for out in results.values():  # each connection's batches in the order it sent them
        assert [o for _, o in out] == sorted(o for _, o in out)
    # every acknowledged batch is readable at its offset
    got: dict[int, Any] = {}
    off = 0
    while off < 3 * per_conn * conns:
        p = fetch(wire, TOPIC, off)
        for r in records.iter_records(p.records):
            got[r.offset] = r.value
        off = max(got) + 1
    for k, out in results.items():
        for i, (_, base) in enumerate(out):
            assert got[base] == b"c%d-%d-0" % (k, i)


def test_describe_producers_shows_the_dedupe_state(wire: Wire) -> None:
    from kafka.protocol.admin import DescribeProducersRequest

    pid, epoch = _init_pid(wire)
    assert _produce(wire, _batch(3, pid=pid, epoch=epoch, seq=0))[0] == 0
    assert _produce(wire, _batch(2, pid=pid, epoch=epoch, seq=3))[0] == 0
    T = DescribeProducersRequest.TopicRequest
    resp = wire.call(DescribeProducersRequest(version=0, topics=[
        T(name=TOPIC, partition_indexes=[0, 7])]))
    ok, missing = resp.topics[0].partitions
    assert [(s.producer_id, s.producer_epoch, s.last_sequence)
            for s in ok.active_producers] == [(pid, epoch, 4)]
    assert missing.error_code == errors.UNKNOWN_TOPIC_OR_PARTITION
