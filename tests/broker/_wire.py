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
