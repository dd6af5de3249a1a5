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
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from typing import Any

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
MAX_QUEUED = 4096  # frames held for a slow peer; the oldest are dropped beyond
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
    """The outgoing connection to one peer: (re)connects, says hello, sends frames."""

    def __init__(self, peer_id: int, host: str, port: int, hello: bytes) -> None:
        self.peer_id = peer_id
        self.host, self.port = host, port
        self._hello = hello
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self.connected = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"peer-{self.peer_id}")

    async def stop(self) -> None:
        """Cancel the link and wait (bounded) for it. Python 3.11's ``asyncio.wait_for``
        can swallow a cancellation that races with its inner future (a clean shutdown
        once hung here in CI), so the loop also checks ``_stopped`` at every step."""
        self._stopped = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=2.0)
            if not done:
                log.warning("link to peer %d did not stop within 2 s", self.peer_id)

    def send(self, data: bytes) -> None:
        if not self.connected:
            return  # Raft retries; stale messages would only be a burst later
        if len(self._queue) >= MAX_QUEUED:
            self._queue.popleft()
        self._queue.append(data)
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopped:
            writer = None
            eof: asyncio.Future[bytes] | None = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), timeout=2.0)
                writer.write(MAGIC + self._hello)
                # The peer never answers on this connection: a read returns only when
                # it is gone (e.g. a proxy that could not reach it closes at once).
                eof = asyncio.ensure_future(reader.read(1))
                self.connected = True
                log.info("connected to peer %d at %s:%d", self.peer_id, self.host, self.port)
                while not self._stopped:
                    if eof.done():
                        raise ConnectionError("closed by the peer")
                    if not self._queue:
                        self._wake.clear()
                        wake = asyncio.ensure_future(self._wake.wait())
                        await asyncio.wait({wake, eof}, return_when=asyncio.FIRST_COMPLETED)
                        wake.cancel()
                        continue
                    batch = b"".join(self._queue)
                    self._queue.clear()
                    writer.write(batch)
                    await asyncio.wait_for(writer.drain(), timeout=5.0)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, ConnectionError) as exc:
                if self.connected:
                    log.info("lost peer %d: %s", self.peer_id, exc)
            finally:
                self.connected = False
                self._queue.clear()
                if eof is not None:
                    eof.cancel()
                if writer is not None:
                    writer.close()
            if not self._stopped:
                await asyncio.sleep(RECONNECT_S)
