"""Broker-to-broker RPC: length-prefixed msgpack frames on the Kafka listener.

A peer connection starts with the 4 bytes ``RAFT`` (read as a Kafka frame size that
is far above any ``socket.request.max.bytes``, so a Kafka client can never send it);
the server then hands the connection to the cluster instead of the Kafka codec. After
the magic, every frame is ``uint32 length`` + a msgpack array:

- ``[0, node_id, host, port]``: hello, the first frame: who connects and the address
  its Kafka clients use (listed in Metadata).
- ``[1, group, kind, *fields]``: one Raft message for the Raft group ``group``
  (a partition ``topic-n`` or the controller); ``kind`` indexes `KINDS`, the fields
  follow the dataclass's field order, entries as ``[index, term, data]``.
- ``[2, command]``: a controller command forwarded to the controller's leader.
- ``[3, group, term, leader_id, isr]``: a partition leader's announcement, sent to
  every peer now and then, so that nodes which do not replicate the partition know
  its leader and every node reports the leader's ISR.

Connections are one-way: a node sends on the connection it opened and only reads
on the ones it accepted, so every link can be cut per direction (the proxy backend
relies on that). Messages to an unreachable peer are dropped: Raft copes with loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any, cast

import msgspec

from reference_broker.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    Message,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)

log = logging.getLogger(__name__)

MAGIC = b"RAFT"
HELLO, RAFT, FORWARD, LEADER = 0, 1, 2, 3
MAX_FRAME = 64 << 20
MAX_BUFFERED = 16 << 20  # bytes held for a peer that does not read; more are dropped
STALL_S = 5.0  # a peer that reads nothing for this long is reconnected
RECONNECT_S = 0.2

KINDS: tuple[type, ...] = (PreVote, PreVoteResponse, RequestVote, RequestVoteResponse,
                           AppendEntries, AppendEntriesResponse, TimeoutNow, InstallSnapshot)
_KIND_OF = {t: i for i, t in enumerate(KINDS)}
_FIELDS = {t: tuple(f.name for f in fields(t)) for t in KINDS}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class BadFrame(ValueError):
    """A peer sent something this RPC does not define."""


def frame(payload: list[Any]) -> bytes:
    body = _encoder.encode(payload)
    return len(body).to_bytes(4, "big") + body


def encode_raft(group: str, msg: Message) -> bytes:
    t = type(msg)
    out: list[Any] = [RAFT, group, _KIND_OF[t]]
    for name in _FIELDS[t]:
        v = getattr(msg, name)
        if name == "entries":
            v = [[e.index, e.term, e.data] for e in v]
        out.append(v)
    return frame(out)


def decode_raft(parts: list[Any]) -> tuple[str, Message]:
    try:
        group, kind = parts[1], parts[2]
        t = KINDS[kind]
        kw = dict(zip(_FIELDS[t], parts[3:], strict=True))
        if t is AppendEntries:
            kw["entries"] = tuple(Entry(index=i, term=tm, data=d) for i, tm, d in kw["entries"])
        return str(group), t(**kw)
    except (IndexError, TypeError, ValueError) as exc:
        raise BadFrame(f"malformed raft frame: {exc}") from None


class FrameReader:
    """Cuts a peer's byte stream (after the magic) into decoded frames."""

    def __init__(self, sink: Callable[[list[Any]], None]) -> None:
        self._buf = bytearray()
        self._sink = sink

    def feed(self, data: bytes | bytearray) -> None:
        buf = self._buf
        buf += data
        start = 0
        while len(buf) - start >= 4:
            size = int.from_bytes(buf[start:start + 4], "big")
            if size > MAX_FRAME:
                raise BadFrame(f"peer frame of {size} bytes > {MAX_FRAME}")
            end = start + 4 + size
            if end > len(buf):
                break
            try:
                parts = _decoder.decode(buf[start + 4:end])
            except msgspec.DecodeError as exc:
                raise BadFrame(str(exc)) from None
            if not isinstance(parts, list) or not parts:
                raise BadFrame("peer frame is not a non-empty array")
            start = end
            self._sink(parts)
        if start:
            del buf[:start]


class PeerLink:
    """The outgoing connection to one peer: (re)connects, says hello, sends frames.

    Frames go straight to the transport: those sent during one event-loop iteration
    are joined and written once at its end (one syscall per peer per iteration, no
    writer task to wake per batch). A peer that stops reading (paused, hung) fills
    the transport's buffer: beyond `MAX_BUFFERED` bytes new frames are dropped, and a
    link whose writing stays paused for `STALL_S` is cut and reconnected, so stale
    messages do not pile up (Raft resends what matters)."""

    def __init__(self, peer_id: int, host: str, port: int, hello: bytes) -> None:
        self.peer_id = peer_id
        self.host, self.port = host, port
        self._hello = hello
        self._conn: _Outgoing | None = None  # the open connection
        self._pending: list[bytes] = []  # frames of this loop iteration
        self._flush_due = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"peer-{self.peer_id}")

    async def stop(self) -> None:
        """Cancel the link and wait (bounded) for it. Python 3.11's ``asyncio.wait_for``
        can swallow a cancellation that races with its inner future (a clean shutdown
        once hung here in CI), so the loop also checks ``_stopped`` at every step."""
        self._stopped = True
        if self._conn is not None:
            self._conn.transport.abort()
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=2.0)
            if not done:
                log.warning("link to peer %d did not stop within 2 s", self.peer_id)

    def send(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            return  # Raft retries; stale messages would only be a burst later
        if conn.paused and conn.transport.get_write_buffer_size() > MAX_BUFFERED:
            return  # the peer does not read: drop, as if lost
        self._pending.append(data)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        pending, self._pending = self._pending, []
        if self._conn is not None and pending:
            self._conn.transport.write(pending[0] if len(pending) == 1
                                       else b"".join(pending))

    def _lost(self, conn: _Outgoing, exc: Exception | None) -> None:
        if self._conn is conn:
            if not self._stopped:
                log.info("lost peer %d: %s", self.peer_id, exc or "closed")
            self._conn = None
            self._pending = []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopped:
            conn = None
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: _Outgoing(self), self.host, self.port),
                    timeout=2.0)
                if self._stopped:
                    break
                conn.transport.write(MAGIC + self._hello)
                self._conn = conn
                log.info("connected to peer %d at %s:%d", self.peer_id, self.host, self.port)
                await conn.closed
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, ConnectionError):
                pass  # peer down or unreachable: retried below; a lost link is logged once
            finally:
                if conn is not None:
                    self._lost(conn, None)
                    conn.transport.abort()
            if not self._stopped:
                await asyncio.sleep(RECONNECT_S)


class _Outgoing(asyncio.Protocol):
    """One connection of a `PeerLink` (a reconnect makes a new one, so callbacks of a
    dropped connection cannot touch its successor)."""

    transport: asyncio.Transport

    def __init__(self, link: PeerLink) -> None:
        self.link = link
        self.paused = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stall: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        pass  # the peer never answers on this connection

    def eof_received(self) -> bool:
        # The peer never answers: EOF means it is gone (e.g. a proxy that could not
        # reach it closes at once). False: close our side too.
        return False

    def pause_writing(self) -> None:
        self.paused = True
        if self._stall is None:
            self._stall = asyncio.get_running_loop().call_later(STALL_S, self._stalled)

    def resume_writing(self) -> None:
        self.paused = False
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        if self.paused:
            log.info("peer %d has not read for %.0f s; reconnecting", self.link.peer_id,
                     STALL_S)
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()
        self.link._lost(self, exc)
        if not self.closed.done():
            self.closed.set_result(None)
