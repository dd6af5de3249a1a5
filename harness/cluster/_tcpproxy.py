"""A userspace TCP fault proxy: one asyncio loop in a thread, one listener per link.

A *link* ``(src, dst, service)`` listens on a loopback port and forwards each accepted
connection to ``dst``'s real address. Bytes on a link belong to two *flows*: those
sent by ``src`` (flow ``src -> dst``) and the replies (flow ``dst -> src``). Faults act
on flows, so a one-way partition is one blocked flow:

- ``blocked``: the flow's bytes are held (not discarded) until the flow opens again,
  as TCP retransmits across a partition; reading stops when 64 chunks are queued, so
  the sender sees backpressure.
- ``loss``: each chunk is "lost" with that probability and costs one retransmission
  timeout (``rto_ms``), which is what packet loss does to a TCP stream.
- ``latency_ms`` +- ``jitter_ms`` per chunk, keeping the stream's order.
- ``rate_bytes_s``: a throttle.
- `reset`: abort every connection touching an endpoint with an RST.

Randomness (jitter, loss) comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Flow:
    """Fault settings of the bytes going from one endpoint to another."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    loss: float = 0.0
    rate_bytes_s: float | None = None

    def __post_init__(self) -> None:
        self.open.set()


@dataclass(eq=False)
class _Conn:
    src: str
    dst: str
    writers: list[asyncio.StreamWriter]


class ProxyHub:
    """Owns the proxy loop thread, its listeners, connections and flow settings."""

    def __init__(self, rng: random.Random, *, rto_ms: float = 200.0) -> None:
        self.rng = rng
        self.rto_ms = rto_ms
        self.latency_ms = 0.0
        self.jitter_ms = 0.0
        self._flows: dict[tuple[str, str], Flow] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: set[_Conn] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="logtrial-proxy", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, fn: Callable[[], Awaitable[T]], timeout_s: float = 10.0) -> T:
        async def wrapper() -> T:
            return await fn()
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout_s)

    def _flow(self, src: str, dst: str) -> Flow:
        f = self._flows.get((src, dst))
        if f is None:
            f = self._flows[(src, dst)] = Flow()
        return f

    # control (called from other threads) ----------------------------------------

    def add_link(self, src: str, dst: str, upstream: tuple[str, int]) -> int:
        """Listen for ``src``'s connections to ``dst``; returns the loopback port."""
        async def start() -> int:
            self._flow(src, dst)
            self._flow(dst, src)
            server = await asyncio.start_server(
                lambda r, w: self._serve(src, dst, upstream, r, w), "127.0.0.1", 0)
            self._servers.append(server)
            port: int = server.sockets[0].getsockname()[1]
            return port
        return self._call(start)

    def set_blocked(self, pairs: Collection[tuple[str, str]]) -> None:
        """Block exactly the flows ``(from, to)`` in ``pairs``; open all others."""
        wanted = set(pairs)

        async def apply() -> None:
            for key in wanted:
                self._flow(*key)
            for key, flow in self._flows.items():
                if key in wanted:
                    flow.open.clear()
                else:
                    flow.open.set()
        self._call(apply)

    def set_loss(self, into: Collection[str], probability: float) -> None:
        """Lose chunks flowing into the endpoints ``into`` with ``probability``."""
        async def apply() -> None:
            for (_, dst), flow in self._flows.items():
                if dst in into:
                    flow.loss = probability
        self._call(apply)

    def set_rate(self, endpoints: Collection[str], bytes_s: float | None) -> None:
        """Throttle the flows out of ``endpoints`` (None: unlimited)."""
        async def apply() -> None:
            for (src, _), flow in self._flows.items():
                if src in endpoints:
                    flow.rate_bytes_s = bytes_s
        self._call(apply)

    def set_latency(self, latency_ms: float, jitter_ms: float) -> None:
        async def apply() -> None:
            self.latency_ms = latency_ms
            self.jitter_ms = jitter_ms
        self._call(apply)

    def reset(self, endpoints: Collection[str]) -> int:
        """Abort (RST) every connection touching ``endpoints``; returns how many."""
        async def apply() -> int:
            n = 0
            for c in list(self._conns):
                if c.src in endpoints or c.dst in endpoints:
                    n += 1
                    for w in c.writers:
                        _abort(w)
            return n
        return self._call(apply)

    def heal(self) -> None:
        async def apply() -> None:
            self.latency_ms = self.jitter_ms = 0.0
            for flow in self._flows.values():
                flow.open.set()
                flow.loss = 0.0
                flow.rate_bytes_s = None
        self._call(apply)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            for s in self._servers:
                s.close()
            for c in list(self._conns):
                for w in c.writers:
                    _abort(w)
            for s in self._servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(s.wait_closed(), 1.0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self._call(stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        with contextlib.suppress(Exception):
            self._loop.close()

    # data path (loop thread) ---------------------------------------------------

    async def _serve(self, src: str, dst: str, upstream: tuple[str, int],
                     creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        # Returns normally even when cancelled at close: asyncio's stream callback
        # would log a cancelled connection task as an error.
        try:
            await self._serve_inner(src, dst, upstream, creader, cwriter)
        except asyncio.CancelledError:
            _abort(cwriter)

    async def _serve_inner(self, src: str, dst: str, upstream: tuple[str, int],
                           creader: asyncio.StreamReader,
                           cwriter: asyncio.StreamWriter) -> None:
        try:
            ureader, uwriter = await asyncio.wait_for(asyncio.open_connection(*upstream), 5.0)
        except (TimeoutError, OSError):
            _abort(cwriter)
            return
        conn = _Conn(src, dst, [cwriter, uwriter])
        self._conns.add(conn)
        try:
            await asyncio.gather(
                self._pump(creader, uwriter, self._flow(src, dst)),
                self._pump(ureader, cwriter, self._flow(dst, src)),
                return_exceptions=True)
        finally:
            self._conns.discard(conn)
            for w in conn.writers:
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    flow: Flow) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=64)

        async def rx() -> None:
            last = 0.0
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    delay_ms = self.latency_ms
                    if self.jitter_ms:
                        delay_ms += self.rng.uniform(-self.jitter_ms, self.jitter_ms)
                    if flow.loss and self.rng.random() < flow.loss:
                        delay_ms += self.rto_ms
                    release = max(last, loop.time() + max(delay_ms, 0.0) / 1000.0)
                    last = release
                    await queue.put((release, data))
            finally:
                await queue.put(None)

        async def tx() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                release, data = item
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await flow.open.wait()
                if flow.rate_bytes_s:
                    await asyncio.sleep(len(data) / flow.rate_bytes_s)
                writer.write(data)
                await writer.drain()

        rx_task = asyncio.ensure_future(rx())
        try:
            await tx()
        finally:
            rx_task.cancel()
            with contextlib.suppress(BaseException):
                await rx_task


def _abort(writer: asyncio.StreamWriter) -> None:
    sock: Any = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
