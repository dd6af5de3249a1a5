"""The interpreter: the one place that owns threads, time and history recording.

It asks a pure generator for the next invocation, hands it to the idle worker thread
of that process, and records the invocation and its completion in the `Recorder`.
A ``txn`` the generator wants aborted is recorded with ``extra["abort"]`` on its
invocation. Completions of ``poll``, ``txn``, ``commit`` and ``committed`` by a subscribed
consumer carry its group
membership in ``extra["membership"]`` (see `Client.membership`): the groups checker
reads ownership per generation from it. An ``ok`` or ``info`` ``txn`` that added the
member's positions to its transaction carries them in ``extra["offsets"]``
(``{key: offset}``, `Client.txn_offsets`): the group's committed offsets if it
committed, as an ``ok`` ``commit``'s value is. A completion of type ``info`` means the client
may be broken: the worker closes it and
takes a new process id (old id + concurrency), as Jepsen does, so every process's ops
stay sequential in the history.

What it must not do: decide what to send (the generator does) or judge anything (the
checkers do).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import History, JsonlWriter, Op, Pairer
from harness.workload._clients import Client, ClientError
from harness.workload._generator import Context, Invocation, KafkaGenerator, Pending

log = logging.getLogger(__name__)


class Recorder:
    """Thread-safe history recorder: stamps index and monotonic time, keeps the ops in
    memory and streams them to ``history.jsonl``."""

    def __init__(self, path: Path | None, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock_ns
        self._t0 = clock_ns()
        self._lock = threading.Lock()
        self.ops: list[Op] = []
        self._writer = JsonlWriter(path) if path is not None else None
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

    def now_ns(self) -> int:
        return self._clock() - self._t0

    def record(self, process: int | str, type: str, f: str, value: Any,
               error: Any = None, extra: dict[str, Any] | None = None) -> Op:
        extra = dict(extra) if extra else {}
        if error is not None:
            extra["error"] = error
        with self._lock:
            op = Op(index=len(self.ops), time=self._clock() - self._t0, process=process,
                    type=type, f=f, value=value, extra=extra)
            self.ops.append(op)
            self.counts[type] = self.counts.get(type, 0) + 1
            if self._writer is not None:
                self._writer.write(op)
        return op

    def flush(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.flush()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def history(self) -> History:
        with self._lock:
            ops = list(self.ops)
        pairer = Pairer()
        for op in ops:
            pairer.add(op)
        return History(ops, pairer.partner)


ClientFactory = Callable[[int], Client]


def apply(client: Client, f: str, value: Any, abort: bool = False) -> Any:
    """Run one workload op on a client; returns the completion value. ``abort``: a
    ``txn`` the client is to abort instead of committing (it then raises a ``fail``)."""
    if f == "txn":
        return client.txn([list(mop) for mop in value], abort)
    if f == "send":
        out = []
        for mop in value:
            _, key, v = mop
            out.append(["send", key, [client.send(key, v), v]])
        return out
    if f == "poll":
        return [["poll", client.poll()]]
    if f == "assign":
        client.assign(list(value))
        return value
    if f == "subscribe":
        client.subscribe(list(value))
        return value
    if f == "commit":
        return client.commit()
    if f == "committed":
        return client.committed(list(value))
    if f == "offsets":
        return client.offsets(list(value))
    raise ValueError(f"the kafka workload has no op {f!r}")


def _membership(client: Client | None, f: str, outcome: str = "ok") -> dict[str, Any] | None:
    """The extras of a completion: ``{"membership": ...}`` for a poll, txn, commit or
    committed of a subscribed consumer, and for an ``ok`` or ``info`` txn that added
    positions to its transaction ``{"offsets": {key: offset}}`` (committed for the
    group if the txn was; a ``fail`` txn's were not, so they are not recorded)."""
    if client is None or f not in ("poll", "txn", "commit", "committed"):
        return None
    get = getattr(client, "membership", None)
    m = get() if get is not None else None
    out = {"membership": m} if m is not None else {}
    if f == "txn" and outcome != "fail":
        sent = getattr(client, "txn_offsets", None)
        offsets = sent() if sent is not None else None
        if offsets:
            out["offsets"] = offsets
    return out or None


@dataclass
class _Slot:
    process: int
    busy: bool = False
    client: Client | None = None
    inbox: queue.Queue[Invocation | None] = field(default_factory=queue.Queue)


class Interpreter:
    """Drives ``concurrency`` client threads from a generator for ``time_limit_s``."""

    def __init__(self, recorder: Recorder, client_factory: ClientFactory, concurrency: int,
                 on_crash: Callable[[int], None] | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.recorder = recorder
        self.factory = client_factory
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._slots = [_Slot(process=i) for i in range(concurrency)]
        self._threads: list[threading.Thread] = []
        self.stop_event = threading.Event()
        self._on_crash = on_crash

    def _worker(self, slot: _Slot) -> None:
        rec = self.recorder
        while True:
            inv = slot.inbox.get()
            if inv is None:
                break
            if inv.f == "crash":  # Jepsen's client crash: the slot's client is discarded
                rec.record(inv.process, "info", "crash", None,
                           error=["crash", "client closed by the workload"])
                self._done(slot, crashed=True)
                continue
            try:
                if slot.client is None:
                    slot.client = self.factory(slot.process)
                done = apply(slot.client, inv.f, inv.value, inv.abort)
                rec.record(inv.process, "ok", inv.f, done,
                           extra=_membership(slot.client, inv.f))
                crashed = False
            except ClientError as e:
                rec.record(inv.process, e.outcome, inv.f,
                           inv.value if e.value is None else e.value, error=e.error,
                           extra=_membership(slot.client, inv.f, e.outcome))
                crashed = e.outcome == "info"
            except Exception as e:  # a client bug: outcome unknown, never "ok"
                log.exception("client raised unexpectedly")
                rec.record(inv.process, "info", inv.f, inv.value,
                           error=["client-crash", type(e).__name__, str(e)[:200]])
                crashed = True
            self._done(slot, crashed)

    def _done(self, slot: _Slot, crashed: bool) -> None:
        """The slot is free again; after an ``info`` its client is closed and its next
        op belongs to a new process (old id + concurrency), as in Jepsen. The client
        closes before the lock is taken: closing a group member or a transactional
        producer can take seconds, which would stall every other process's next op."""
        if crashed and slot.client is not None:
            slot.client.close()
            slot.client = None
        with self._cond:
            if crashed:
                slot.process += self.concurrency
            slot.busy = False
            self._cond.notify_all()

    def run(self, gen: KafkaGenerator, time_limit_s: float,
            progress: Callable[[], None] | None = None) -> KafkaGenerator:
        """Run until the time limit, the generator ends, or `stop_event` is set."""
        rec = self.recorder
        for slot in self._slots:
            t = threading.Thread(target=self._worker, args=(slot,), daemon=True,
                                 name=f"logtrial-worker-{slot.process}")
            t.start()
            self._threads.append(t)
        deadline = rec.now_ns() + int(time_limit_s * 1e9)
        next_progress = 0
        while not self.stop_event.is_set():
            now = rec.now_ns()
            if now >= deadline:
                break
            if progress is not None and now >= next_progress:
                progress()
                next_progress = now + 250_000_000
            with self._cond:
                free = tuple(s.process for s in self._slots if not s.busy)
                res, gen = gen.op(Context(now, free))
                if res is None:
                    break
                if isinstance(res, Pending):
                    wait_ns = deadline - now if res.until_ns is None else res.until_ns - now
                    self._cond.wait(timeout=max(0.0, min(wait_ns / 1e9, 0.25)))
                    continue
                slot = next(s for s in self._slots if s.process == res.process)
                slot.busy = True
            rec.record(res.process, "invoke", res.f, res.value,
                       extra={"abort": True} if res.abort else None)
            slot.inbox.put(res)
        return gen

    def drain(self, timeout_s: float) -> None:
        """Let in-flight ops finish (up to ``timeout_s``), then stop the workers."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while any(s.busy for s in self._slots):
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=min(left, 0.2))
        for slot in self._slots:
            slot.inbox.put(None)
        for t in self._threads:
            t.join(timeout=max(0.0, end - time.monotonic()) + 1.0)
        for slot in self._slots:
            if slot.client is not None and not slot.busy:
                slot.client.close()
                slot.client = None

    @property
    def processes(self) -> list[int]:
        return [s.process for s in self._slots]


def _acked_offsets(recorder: Recorder) -> dict[str, int]:
    """Per key, the highest offset an ``ok`` send (or committed txn) acknowledged so
    far."""
    targets: dict[str, int] = {}
    for op in recorder.history().ops:
        if op.type == "ok" and op.f in ("send", "txn"):
            for mop in op.value:
                if mop[0] != "send":
                    continue
                k, (off, _) = mop[1], mop[2]
                if off is not None and off > targets.get(k, -1):
                    targets[k] = off
    return targets


def final_reads(recorder: Recorder, client: Client, process: int, keys: list[str],
                timeout_s: float, stop: threading.Event | None = None, *,
                reopen: Callable[[int], Client] | None = None,
                stall_s: float = 5.0) -> dict[str, int]:
    """Jepsen's final phase: assign every key from the start and poll until every
    acknowledged offset is reached or ``timeout_s`` passes. Returns, per key, the
    highest offset read. Every op is recorded like any other. The acknowledged offsets
    are looked up again before stopping, so an ack recorded late (a worker that
    outlived the drain) is read too.

    A reader can fail to make progress: a poll or assign that ends ``info`` (e.g. a
    timeout while the healed cluster still elects leaders), or ``stall_s`` seconds of
    polls that return nothing new while offsets remain unread (seen: a kafka-python
    consumer whose first offset lookup never completed returned nothing for 30 s from
    a healthy cluster). With ``reopen`` a fresh reader (next process id,
    ``reopen(process)``) then starts over from offset 0, until the timeout, instead of
    leaving acknowledged offsets unread, which the log checker would call ``unseen``.
    Readers it opened, it closes."""
    targets = _acked_offsets(recorder)
    seen: dict[str, int] = {}
    end = time.monotonic() + timeout_s
    opened: Client | None = None
    assign = True
    try:
        while True:
            done = _final_pass(recorder, client, process, keys, targets, seen, end, stop,
                               stall_s if reopen is not None else None, assign)
            assign = True
            if done and time.monotonic() < end and not (stop is not None
                                                        and stop.is_set()):
                targets = _acked_offsets(recorder)  # a late ack: the same reader goes on
                done = all(seen.get(k, -1) >= off for k, off in targets.items())
                if not done:
                    assign = False
                    continue
            if done or reopen is None or time.monotonic() >= end or (
                    stop is not None and stop.is_set()):
                break
            if opened is not None:
                opened.close()
                opened = None
            process += 1
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            try:
                opened = client = reopen(process)
            except Exception:  # no broker reachable yet: try again until the timeout
                log.debug("final reader %d could not start", process, exc_info=True)
                continue
    finally:
        if opened is not None:
            opened.close()
    return seen


def _final_pass(recorder: Recorder, client: Client, process: int, keys: list[str],
                targets: dict[str, int], seen: dict[str, int], end: float,
                stop: threading.Event | None, stall_s: float | None,
                assign: bool = True) -> bool:
    """One reader's assign (unless it goes on) and polls; True once ``targets`` are
    reached (or the deadline or ``stop``), False if it crashed (an ``info`` op) or
    stalled, so that a new reader should take over."""
    if assign:
        recorder.record(process, "invoke", "assign", keys)
        try:
            client.assign(keys)
            recorder.record(process, "ok", "assign", keys)
        except ClientError as e:
            recorder.record(process, e.outcome, "assign", keys, error=e.error)
            return e.outcome != "info"
    progress_at = time.monotonic()
    while time.monotonic() < end and not (stop is not None and stop.is_set()):
        if all(seen.get(k, -1) >= off for k, off in targets.items()):
            return True
        if stall_s is not None and time.monotonic() - progress_at > stall_s:
            log.info("final reader %d read nothing new for %.1f s: replacing it",
                     process, stall_s)
            return False
        recorder.record(process, "invoke", "poll", [["poll"]])
        try:
            polled = client.poll()
        except ClientError as e:
            recorder.record(process, e.outcome, "poll", [["poll"]], error=e.error)
            if e.outcome == "info":
                return False
            continue
        recorder.record(process, "ok", "poll", [["poll", polled]])
        for k, pairs in polled.items():
            if pairs:
                if pairs[-1][0] > seen.get(k, -1):
                    progress_at = time.monotonic()
                seen[k] = max(seen.get(k, -1), pairs[-1][0])
    return True
