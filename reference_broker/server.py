"""The asyncio driver: listener, connections, group commit, housekeeping, shutdown.

Each connection is an `asyncio.Protocol` that cuts the byte stream into frames and a
task that handles them. The frame size (`int32` prefix) is checked as soon as its four
bytes arrive: below a header or above `socket.request.max.bytes` closes the
connection BEFORE any of the body is buffered, so a lying length costs nothing. Frames
that arrive while earlier ones are handled wait in a bounded queue (reading pauses
above `MAX_QUEUED_BYTES`).

Requests are handled one at a time in arrival order (Kafka mutes a channel the same
way), so pipelined requests are answered in order and an idempotent producer's
in-flight batches are appended in the order sent. Group commit: before any answer
goes out, every partition written under flush.policy=always is fsynced once
(`TopicStore.sync_dirty`); answers to consecutive Produce requests are held while more
Produce requests are queued or partly received (up to `MAX_HELD` answers, at most
`MAX_HOLD_S` after the first), so that pipelined requests share one fsync.

In a cluster, peers connect to the same listener: a connection whose first four
bytes are `reference_broker.cluster.rpc.MAGIC` (as a Kafka frame size, far above the
limit) is handed to the cluster's frame reader instead (`BrokerServer.peer_reader`);
without a cluster such a connection is closed like any oversized frame.

A frame that cannot be parsed, an unknown API key or an unsupported version closes the
connection, as Kafka does; ApiVersions is the exception: a version we lack gets the
v0-format UNSUPPORTED_VERSION answer listing our ranges. A handler that raises is a
broker bug: it is logged with its traceback and only that connection is closed.

The fsyncs run in worker threads (`Partition.sync`), so while one partition syncs the
loop keeps reading, answering fetches and appending elsewhere; appends to a syncing
partition wait and are covered by its next fsync.

Housekeeping every 100 ms: the group coordinator's `tick`, pending fsyncs (acks=0
appends), interval fsyncs, and the retention pass every
`log.retention.check.interval.ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from reference_broker.protocol import codec
from reference_broker.protocol.handlers import (
    ApiKey,
    BrokerContext,
    CloseConnection,
    Registry,
)
from reference_broker.protocol.handlers.core import api_version_table, served_range

log = logging.getLogger(__name__)

TICK_S = 0.1
MIN_FRAME = 10  # api key, version, correlation id, client id length
MAX_QUEUED_BYTES = 32 << 20
MAX_HELD = 16
MAX_HOLD_S = 0.005
_WRITE_HIGH_WATER = 4 << 20
_PRODUCE_PREFIX = ApiKey.PRODUCE.to_bytes(2, "big")
PEER_MAGIC = b"RAFT"  # reference_broker.cluster.rpc.MAGIC (kept here: no import cycle)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _Connection(asyncio.Protocol):
    """Byte stream -> queue of frames; flow control both ways."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        self.max_frame = server.max_frame
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buf = bytearray()
        self.frames: deque[bytes] = deque()
        self.queued_bytes = 0
        self.reading_paused = False
        self.closed = False
        self._wakeup: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.peer_feed: Callable[[bytes], None] | None = None  # a cluster peer's stream
        self.fresh = True  # no frame seen yet

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.task = asyncio.get_running_loop().create_task(self.server._handle(self))
        self.server._conns.add(self.task)
        self.task.add_done_callback(self.server._conns.discard)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.peer_feed is not None:
            self._feed_peer(data)
            return
        buf = self.buf
        buf += data
        start = 0
        n = len(buf)
        while n - start >= 4:
            size = int.from_bytes(buf[start:start + 4], "big", signed=True)
            if self.fresh and start == 0 and self.server.peer_reader is not None \
                    and buf[:4] == PEER_MAGIC:
                self.peer_feed = self.server.peer_reader()
                rest = bytes(buf[4:])
                buf.clear()
                self._feed_peer(rest)
                return
            self.fresh = False
            if size < MIN_FRAME or size > self.max_frame:
                log.info("%s: frame size %d outside [%d, socket.request.max.bytes=%d]; "
                         "closing", self.peer, size, MIN_FRAME, self.max_frame)
                self.close()
                return
            end = start + 4 + size
            if end > n:
                break
            self.frames.append(bytes(buf[start + 4:end]))
            self.queued_bytes += size
            start = end
        if start:
            del buf[:start]
            self._wake()
        if self.queued_bytes + len(buf) > MAX_QUEUED_BYTES and not self.reading_paused:
            self.reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def _feed_peer(self, data: bytes) -> None:
        assert self.peer_feed is not None
        try:
            self.peer_feed(data)
        except Exception as exc:  # a broken peer: drop its connection, it reconnects
            log.warning("%s: bad peer stream: %s; closing", self.peer, exc)
            self.close()

    def eof_received(self) -> bool | None:
        self.closed = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- used by the handling task ---------------------------------------------------

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def wait_for_frames(self, timeout_s: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup = fut = loop.create_future()
        timer = None
        if timeout_s is not None:
            timer = loop.call_later(timeout_s, self._wake)
        try:
            await fut
        finally:
            if timer is not None:
                timer.cancel()

    def produce_arriving(self) -> bool:
        """Whether a Produce request is partly received (its header is buffered)."""
        return len(self.buf) >= 6 and self.buf[4:6] == _PRODUCE_PREFIX

    def pop(self) -> bytes:
        frame = self.frames.popleft()
        self.queued_bytes -= len(frame)
        if self.reading_paused and self.queued_bytes + len(self.buf) < MAX_QUEUED_BYTES // 2:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return frame

    async def write(self, data: bytes | bytearray) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(data)
        if self._writable is not None and not self._writable.done():
            await self._writable

    def close(self) -> None:
        self.closed = True
        self.frames.clear()
        self.buf.clear()
        if self.transport is not None:
            self.transport.close()
        self._wake()


class BrokerServer:
    """Serves the Kafka protocol for one BrokerContext."""

    def __init__(self, ctx: BrokerContext, registry: Registry) -> None:
        self.ctx = ctx
        self.registry = registry
        self.max_frame = ctx.config.socket_request_max_bytes
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._versions_table = api_version_table()
        # In a cluster: makes the byte sink for one accepted peer connection.
        self.peer_reader: Callable[[], Callable[[bytes], None]] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port,
                                                reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="housekeeping")
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(self._conns, timeout=5)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)

    async def _handle(self, conn: _Connection) -> None:
        held: list[bytes | bytearray] = []
        loop = asyncio.get_running_loop()
        hold_until = 0.0
        appended = False  # a Produce ran since the last release
        try:
            while True:
                # Every await below is followed by `continue`, so the queue is checked
                # again before the task sleeps (no lost wake-up).
                if not conn.frames:
                    if (held and conn.produce_arriving() and not conn.closed
                            and loop.time() < hold_until):
                        # The next Produce is on its way: append it before the fsync.
                        await conn.wait_for_frames(hold_until - loop.time())
                        continue
                    if held or appended:
                        appended = False
                        await self._release(conn, held)
                        continue
                    if conn.closed:
                        return
                    await conn.wait_for_frames()
                    continue
                is_produce = conn.frames[0].startswith(_PRODUCE_PREFIX)
                if not is_produce and (held or appended):
                    # Answers held so far go first, and reads see every append made.
                    appended = False
                    await self._release(conn, held)
                    continue
                appended = appended or is_produce
                out = await self._serve_one(conn, conn.pop())
                if out is None:
                    continue
                if out is _CLOSE:
                    await self._release(conn, held)
                    conn.close()
                    return
                assert isinstance(out, bytes | bytearray)
                if not held:
                    hold_until = loop.time() + MAX_HOLD_S
                held.append(out)
                if len(held) >= MAX_HELD:
                    appended = False
                    await self._release(conn, held)
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception:
            log.exception("%s: connection failed", conn.peer)
            conn.close()

    async def _release(self, conn: _Connection, held: list[bytes | bytearray]) -> None:
        """Make every append durable (group commit), then send the held answers."""
        topics = self.ctx.topics
        if topics.dirty:
            await topics.sync_dirty(self.ctx.now_ms())
        for out in held:
            await conn.write(out)
        held.clear()

    async def _serve_one(self, conn: _Connection, frame: bytes) -> Any:
        """The encoded answer to one frame, None for no answer, or _CLOSE."""
        peer = conn.peer
        try:
            api_key, api_version, correlation_id = codec.peek_header(frame)
            entry = self.registry.handlers.get(api_key)
            rng = served_range(api_key)
            if entry is None or rng is None:
                log.info("%s: unknown api key %d; closing", peer, api_key)
                return _CLOSE
            if not rng[0] <= api_version <= rng[1]:
                if api_key == ApiKey.API_VERSIONS:
                    return codec.api_versions_unsupported(correlation_id,
                                                          self._versions_table)
                log.info("%s: api key %d version %d not served (%d-%d); closing",
                         peer, api_key, api_version, rng[0], rng[1])
                return _CLOSE
            header, body_offset = codec.parse_header(frame, peer)
            request = codec.decode_request(header, frame, body_offset)
        except codec.FrameError as exc:
            log.info("%s: bad request: %s; closing", peer, exc)
            return _CLOSE
        del frame
        try:
            response = await entry.fn(self.ctx, header, request)
            if response is None:
                return None
            return codec.encode_response(header, response)
        except asyncio.CancelledError:
            raise
        except CloseConnection as exc:
            log.info("%s: closing: %s", peer, exc)
            return _CLOSE
        except Exception:
            log.exception("%s: handler of api key %d v%d failed; closing the connection",
                          peer, api_key, api_version)
            return _CLOSE

    async def _housekeep(self) -> None:
        ctx = self.ctx
        next_retention = ctx.now_ms() + ctx.config.retention_check_interval_ms
        while True:
            await asyncio.sleep(TICK_S)
            now = ctx.now_ms()
            try:
                if ctx.topics.dirty:
                    ctx.topics.start_sync_dirty(now)
                if ctx.groups is not None:
                    ctx.groups.tick(now)
                if "txn" in ctx.extras:  # reference_broker.txn: timeouts, recovery
                    ctx.extras["txn"].tick(now)
                ctx.topics.maybe_flush(now)
                if now >= next_retention:
                    next_retention = now + ctx.config.retention_check_interval_ms
                    deleted = ctx.topics.apply_retention(now)
                    if deleted:
                        log.info("retention deleted %d segments", deleted)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")


_CLOSE: Any = object()
