"""A tiny raw Kafka client for protocol-level tests (kafka-python's message classes)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from kafka.protocol.api_header import ResponseHeader


class Wire:
    """One blocking connection; `call` sends a request object and decodes the answer."""

    def __init__(self, address: tuple[str, int], timeout_s: float = 10) -> None:
        self.sock = socket.create_connection(address, timeout=timeout_s)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, request: Any, correlation_id: int | None = None) -> int:
        if correlation_id is None:
            self.correlation_id += 1
            correlation_id = self.correlation_id
        request.with_header(correlation_id=correlation_id, client_id="wire-test")
        self.sock.sendall(bytes(request.encode(header=True, framed=True)))
        return correlation_id

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._read(4))[0]
        return self._read(size)

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            buf += chunk
        return bytes(buf)

    def recv(self, request: Any, correlation_id: int | None = None) -> Any:
        """Read one response to `request` (same API and version)."""
        frame = self.read_frame()
        cls = type(request)
        resp_cls = _response_class(cls.API_KEY)
        version = request.API_VERSION
        flexible = resp_cls.flexible_version_q(version) and cls.API_KEY != 18
        import io
        hdr_buf = io.BytesIO(frame)
        header = ResponseHeader.decode(hdr_buf, flexible=flexible)
        if correlation_id is not None:
            assert header.correlation_id == correlation_id, (header, correlation_id)
        return resp_cls.decode(frame[hdr_buf.tell():], version=version)

    def call(self, request: Any) -> Any:
        cid = self.send(request)
        return self.recv(request, cid)

    def is_closed(self, timeout_s: float = 5) -> bool:
        """Whether the broker closed the connection (EOF or reset) within the timeout."""
        self.sock.settimeout(timeout_s)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def _response_class(api_key: int) -> Any:
    from reference_broker.protocol.codec import response_class

    return response_class(api_key)


# -- helpers shared by the protocol-level tests ---------------------------------------


def make_batch(n: int, *, pid: int = -1, epoch: int = -1, seq: int = -1,
               ts: int | None = None, value: bytes = b"v", transactional: bool = False
               ) -> bytes:
    """One v2 batch of `n` records (values `value` + index)."""
    import time

    from reference_broker import records

    now = int(time.time() * 1000) if ts is None else ts
    recs = [records.Record(key=None, value=value + b"%d" % i, timestamp=now) for i in range(n)]
    return records.build_batch(recs, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                               transactional=transactional)


def produce(w: Wire, topic: str, batch: bytes, *, partition: int = 0, version: int = 9,
            acks: int = -1, transactional_id: str | None = None) -> tuple[int, int]:
    """(error code, base offset) of producing `batch`."""
    from kafka.protocol.producer import ProduceRequest

    TD = ProduceRequest.TopicProduceData
    req = ProduceRequest(version=version, transactional_id=transactional_id, acks=acks,
                         timeout_ms=5000,
                         topic_data=[TD(name=topic, partition_data=[
                             TD.PartitionProduceData(index=partition, records=batch)])])
    pr = w.call(req).responses[0].partition_responses[0]
    return int(pr.error_code), int(pr.base_offset)


def fetch(w: Wire, topic: str, offset: int, *, partition: int = 0, max_wait_ms: int = 0,
          min_bytes: int = 1, max_bytes: int = 1 << 20, version: int = 11,
          isolation_level: int = 0) -> Any:
    """The partition part of a Fetch response (isolation_level 1: read_committed)."""
    from kafka.protocol.consumer import FetchRequest

    FT = FetchRequest.FetchTopic
    req = FetchRequest(version=version, replica_id=-1, max_wait_ms=max_wait_ms,
                       min_bytes=min_bytes, max_bytes=max_bytes,
                       isolation_level=isolation_level,
                       session_id=0, session_epoch=-1,
                       topics=[FT(topic=topic, partitions=[FT.FetchPartition(
                           partition=partition, fetch_offset=offset,
                           partition_max_bytes=max_bytes, current_leader_epoch=-1,
                           log_start_offset=-1)])],
                       forgotten_topics_data=[], rack_id="")
    return w.call(req).responses[0].partitions[0]


def list_offset(w: Wire, topic: str, ts: int, *, partition: int = 0,
                isolation_level: int = 0) -> int:
    """ListOffsets v7 answer for one partition (-1 latest, -2 earliest, or a timestamp;
    isolation_level 1: read_committed, whose latest is the last stable offset)."""
    from kafka.protocol.consumer import ListOffsetsRequest

    LT = ListOffsetsRequest.ListOffsetsTopic
    req = ListOffsetsRequest(version=7, replica_id=-1, isolation_level=isolation_level, topics=[
        LT(name=topic, partitions=[LT.ListOffsetsPartition(
            partition_index=partition, timestamp=ts, current_leader_epoch=-1)])])
    p = w.call(req).topics[0].partitions[0]
    assert p.error_code == 0, p
    return int(p.offset)


def create_topic(w: Wire, name: str, partitions: int = 1,
                 configs: dict[str, str] | None = None) -> None:
    from kafka.protocol.admin import CreateTopicsRequest

    T = CreateTopicsRequest.CreatableTopic
    cfgs = [T.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()]
    resp = w.call(CreateTopicsRequest(version=7, topics=[T(
        name=name, num_partitions=partitions, replication_factor=1, configs=cfgs)],
        timeout_ms=5000))
    assert resp.topics[0].error_code == 0, resp
