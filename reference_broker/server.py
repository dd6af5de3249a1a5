"""The asyncio driver: listener, one task per connection, housekeeping, shutdown.

Per connection the server reads `int32 size` first and refuses (closes) a size below a
header or above `socket.request.max.bytes` BEFORE reading the body, so a lying length
costs nothing. Requests are handled one at a time in arrival order (Kafka mutes a
channel the same way), so pipelined requests are answered in order and an idempotent
producer's in-flight batches are appended in the order sent; later frames wait in the
socket buffer. A frame that cannot be parsed, an unknown API key or an unsupported
version closes the connection, as Kafka does; ApiVersions is the exception: a version
we lack gets the v0-format UNSUPPORTED_VERSION answer listing our ranges. A handler
that raises is a broker bug: it is logged with its traceback and only that connection
is closed. Other connections never wait on one another except through the event loop.

Housekeeping every 100 ms: the group coordinator's `tick`, interval fsyncs, and the
retention pass every `log.retention.check.interval.ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

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
_WRITE_HIGH_WATER = 4 << 20


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class BrokerServer:
    """Serves the Kafka protocol for one BrokerContext."""

    def __init__(self, ctx: BrokerContext, registry: Registry) -> None:
        self.ctx = ctx
        self.registry = registry
        self.max_frame = ctx.config.socket_request_max_bytes
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._versions_table = api_version_table()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port,
                                                  reuse_address=True, limit=1 << 20)
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        ctx = self.ctx
        handlers = self.registry.handlers
        max_frame = self.max_frame
        transport = writer.transport
        while True:
            try:
                head = await reader.readexactly(4)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            size = int.from_bytes(head, "big", signed=True)
            if size < 10 or size > max_frame:
                log.info("%s: frame size %d outside [10, socket.request.max.bytes=%d]; "
                         "closing", peer, size, max_frame)
                return
            try:
                frame = await reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            try:
                api_key, api_version, correlation_id = codec.peek_header(frame)
                entry = handlers.get(api_key)
                rng = served_range(api_key)
                if entry is None or rng is None:
                    log.info("%s: unknown api key %d; closing", peer, api_key)
                    return
                if not rng[0] <= api_version <= rng[1]:
                    if api_key == ApiKey.API_VERSIONS:
                        writer.write(codec.api_versions_unsupported(correlation_id,
                                                                    self._versions_table))
                        continue
                    log.info("%s: api key %d version %d not served (%d-%d); closing",
                             peer, api_key, api_version, rng[0], rng[1])
                    return
                header, body_offset = codec.parse_header(frame, peer)
                request = codec.decode_request(header, frame, body_offset)
            except codec.FrameError as exc:
                log.info("%s: bad request: %s; closing", peer, exc)
                return
            del frame
            try:
                response = await entry.fn(ctx, header, request)
                if response is None:
                    continue
                out = codec.encode_response(header, response)
            except asyncio.CancelledError:
                raise
            except CloseConnection as exc:
                log.info("%s: closing: %s", peer, exc)
                return
            except Exception:
                log.exception("%s: handler of api key %d v%d failed; closing the connection",
                              peer, api_key, api_version)
                return
            writer.write(out)
            if transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
                try:
                    await writer.drain()
                except ConnectionError:
                    return

    async def _housekeep(self) -> None:
        ctx = self.ctx
        next_retention = ctx.now_ms() + ctx.config.retention_check_interval_ms
        while True:
            await asyncio.sleep(TICK_S)
            now = ctx.now_ms()
            try:
                if ctx.groups is not None:
                    ctx.groups.tick(now)
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
