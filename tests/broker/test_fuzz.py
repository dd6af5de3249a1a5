"""Malformed input: at least 10,000 generated bad frames, then a normal client.

Hypothesis generates connections, each carrying four frames: valid requests, raw garbage,
framed garbage, absurd (negative, zero, huge) lengths, unknown API keys and versions,
valid requests with flipped bytes, truncated requests, Produce requests whose batches
have bad CRCs or random bytes, and frames over `socket.request.max.bytes`. After each
connection the test half-closes its side and waits (bounded) for the broker to close.
Afterwards the broker must still be alive, must not have logged a handler failure, must
serve kafka-python producing and consuming, and its RSS must have stayed bounded.

`LOGTRIAL_FUZZ_FRAMES` raises the number of frames (default 10,000; ~30 s here).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.protocol.admin import DescribeConfigsRequest
from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest

from ._wire import Wire, create_topic, make_batch

FRAMES = int(os.environ.get("LOGTRIAL_FUZZ_FRAMES", "10000"))
PER_CONNECTION = 4
MAX_FRAME = 65536
TOPIC = "fz"
RSS_GROWTH_MAX_KIB = 96 * 1024


def _frame(req: Any, version: int) -> bytes:
    req.with_header(correlation_id=7, client_id="fuzz")
    return bytes(req.encode(header=True, framed=True))


def _templates() -> list[bytes]:
    out = []
    for v in range(5):
        out.append(_frame(ApiVersionsRequest(version=v, client_software_name="f",
                                             client_software_version="1"), v))
    for v in (0, 1, 4, 9, 12, 13):
        out.append(_frame(MetadataRequest(version=v, topics=[
            MetadataRequest.MetadataRequestTopic(name=TOPIC)]), v))
    TD = ProduceRequest.TopicProduceData
    for v in (3, 7, 9):
        part = TD.PartitionProduceData(index=0, records=make_batch(3))
        out.append(_frame(ProduceRequest(version=v, transactional_id=None, acks=1,
                                         timeout_ms=1000,
                                         topic_data=[TD(name=TOPIC, partition_data=[part])]), v))
    FT = FetchRequest.FetchTopic
    for v in (4, 11, 12):
        out.append(_frame(FetchRequest(
            version=v, replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=4096,
            isolation_level=0, session_id=0, session_epoch=-1,
            topics=[FT(topic=TOPIC, partitions=[FT.FetchPartition(
                partition=0, fetch_offset=0, partition_max_bytes=4096,
                current_leader_epoch=-1, log_start_offset=-1)])],
            forgotten_topics_data=[], rack_id=""), v))
    LT = ListOffsetsRequest.ListOffsetsTopic
    for v in (0, 1, 7):
        out.append(_frame(ListOffsetsRequest(version=v, replica_id=-1, isolation_level=0, topics=[
            LT(name=TOPIC, partitions=[LT.ListOffsetsPartition(
                partition_index=0, timestamp=-1, current_leader_epoch=-1,
                max_num_offsets=1)])]), v))
    OT = OffsetForLeaderEpochRequest.OffsetForLeaderTopic
    out.append(_frame(OffsetForLeaderEpochRequest(version=3, replica_id=-1, topics=[
        OT(topic=TOPIC, partitions=[OT.OffsetForLeaderPartition(
            partition=0, current_leader_epoch=-1, leader_epoch=0)])]), 3))
    out.append(_frame(InitProducerIdRequest(version=4, transactional_id=None,
                                            transaction_timeout_ms=1000, producer_id=-1,
                                            producer_epoch=-1), 4))
    R = DescribeConfigsRequest.DescribeConfigsResource
    out.append(_frame(DescribeConfigsRequest(version=4, resources=[
        R(resource_type=2, resource_name=TOPIC, configuration_keys=None)],
        include_synonyms=False, include_documentation=False), 4))
    return out


TEMPLATES = _templates()


def _framed(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def _mutate(t: bytes, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(t)
    for pos, val in flips:
        b[4 + pos % max(1, len(b) - 4)] = val
    return bytes(b)


def _truncate(t: bytes, cut: int) -> bytes:
    body = t[4:]
    body = body[: cut % max(1, len(body))]
    return _framed(body)  # a consistent length around an incomplete request


def _unknown(key: int, version: int, tail: bytes) -> bytes:
    return _framed(struct.pack(">hhih", key, version, 1, 4) + b"fuzz" + tail)


def _bad_produce(kind: int, noise: bytes, version: int) -> bytes:
    batch = bytearray(make_batch(2))
    if kind == 0:
        batch[-1] ^= 0xFF  # CRC mismatch
    elif kind == 1:
        batch = bytearray(noise)  # not a batch at all
    elif kind == 2:
        batch[8:12] = struct.pack(">i", 1 << 30)  # batch length past the end
    else:
        batch[16] = 1  # magic 1
    TD = ProduceRequest.TopicProduceData
    return _frame(ProduceRequest(version=version, transactional_id=None, acks=-1,
                                 timeout_ms=1000, topic_data=[TD(name=TOPIC, partition_data=[
                                     TD.PartitionProduceData(index=0, records=bytes(batch))])]),
                  version)


frames = st.one_of(
    st.sampled_from(TEMPLATES),  # valid requests, so that bad ones follow good ones
    st.binary(min_size=1, max_size=64),
    st.binary(max_size=256).map(_framed),
    st.tuples(st.integers(-(2**31), 2**31 - 1), st.binary(max_size=16)).map(
        lambda t: struct.pack(">i", t[0]) + t[1]),
    st.builds(_unknown, st.integers(-(2**15), 2**15 - 1), st.integers(-(2**15), 2**15 - 1),
              st.binary(max_size=32)),
    st.builds(_mutate, st.sampled_from(TEMPLATES),
              st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                       min_size=1, max_size=4)),
    st.builds(_truncate, st.sampled_from(TEMPLATES), st.integers(0, 1 << 16)),
    st.builds(_bad_produce, st.integers(0, 3), st.binary(min_size=1, max_size=80),
              st.sampled_from([3, 7, 9])),
    st.integers(MAX_FRAME + 1, 2**31 - 1).map(lambda n: struct.pack(">i", n) + b"\0" * 64),
)


def _send_connection(address: tuple[str, int], data: list[bytes]) -> None:
    s = socket.create_connection(address, timeout=5)
    try:
        try:
            for f in data:
                s.sendall(f)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the broker closed first (reset, broken pipe, not connected)
            return
        s.settimeout(2)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    finally:
        s.close()


def test_malformed_frames_never_break_the_broker(broker_factory: Any) -> None:
    b = broker_factory({"socket.request.max.bytes": str(MAX_FRAME),
                        "auto.create.topics.enable": "false", "log.flush.policy": "never"})
    with Wire(b.address) as w:
        create_topic(w, TOPIC)
    rss_before = b.rss_kib()
    sent = {"frames": 0, "connections": 0}

    @settings(max_examples=(FRAMES + PER_CONNECTION - 1) // PER_CONNECTION, deadline=None,
              database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(frames, min_size=PER_CONNECTION, max_size=PER_CONNECTION))
    def throw(data: list[bytes]) -> None:
        _send_connection(b.address, data)
        sent["frames"] += len(data)
        sent["connections"] += 1
        assert b.proc is not None and b.proc.poll() is None, "broker died"

    t0 = time.monotonic()
    throw()
    elapsed = time.monotonic() - t0
    assert sent["frames"] >= FRAMES
    assert b.proc is not None and b.proc.poll() is None
    text = b.stderr_text()
    assert "failed; closing the connection" not in text, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
    rss_after = b.rss_kib()
    assert rss_after - rss_before < RSS_GROWTH_MAX_KIB, (rss_before, rss_after)
    # a normal client is still served
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", enable_idempotence=True)
    # auto-create is off: use an explicit topic
    with Wire(b.address) as w:
        create_topic(w, "after")
    futs = [p.send("after", value=b"ok%d" % i) for i in range(10)]
    p.flush()
    assert [f.get(10).offset for f in futs] == list(range(10))
    p.close()
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, auto_offset_reset="earliest")
    c.assign([TopicPartition("after", 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(got) < 10 and time.monotonic() < deadline:
        for msgs in c.poll(500).values():
            got.extend(m.value for m in msgs)
    c.close()
    assert got == [b"ok%d" % i for i in range(10)]
    print(f"fuzz: {sent['frames']} frames on {sent['connections']} connections in "
          f"{elapsed:.1f}s; RSS {rss_before} -> {rss_after} KiB")
