"""Clients hosted in child processes, so that a run's clients use every core.

Why: kafka-python spends 0.5-0.7 ms of CPU per op in Python (measured on this
project's 2-core box, send and poll against the reference broker), and ten clients
in one interpreter also fight over one GIL: the harness process, not the broker,
capped chaos runs at ~600 ops/s. One child process per interpreter slot removes the
GIL from the path; the parent keeps everything that must stay in one place.

The split keeps Jepsen's design intact: the parent's interpreter still owns the
generator, the clock and the history. It records an invocation before handing it to
the child and the completion when the child's answer arrives; both stamps bracket
the real call, so a recorded op's interval contains the real one (what checkers need).

Protocol (pickled over a `multiprocessing` pipe), one request at a time:
``("open", process)`` (a fresh client for a new process id), ``("call", method,
args)`` -> ``("ok", result, membership, txn_offsets)`` | ``("err", outcome, error,
value, membership, txn_offsets)`` | ``("crash", type, message)``, ``("close",)``,
``("exit",)``; ``txn_offsets`` is the client's after a ``txn`` call, else None.
The child ignores SIGINT (Ctrl-C reaches the whole process group; the parent decides
when clients stop) and dies with its parent (``PR_SET_PDEATHSIG``), so no client
process outlives a run. A child that dies is reported as an indefinite client crash
and replaced on the next op.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import multiprocessing as mp
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from harness.workload._clients import CLIENTS, Client, ClientError, ClientOptions

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_LIBRARY = {"kafka-python": "kafka", "confluent": "confluent_kafka"}
_CTX = mp.get_context("spawn")  # the parent has threads (nemesis, proxy): never fork


def _serve(conn: Connection, client_name: str, opts: ClientOptions,
           netns: str | None) -> None:
    """The child's loop: one client at a time, one request at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if netns is not None:
        from harness.workload._netns import enter_netns

        enter_netns(netns, allow_main_thread=True)  # this whole process is a client
    cls = CLIENTS[client_name]
    with contextlib.suppress(ImportError):  # pay the library's import before the run
        importlib.import_module(_LIBRARY.get(client_name, "json"))
    client: Client | None = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        kind = msg[0]
        if kind == "exit":
            break
        if kind == "ping":
            conn.send(("ok", None, None))
        elif kind == "open":
            if client is not None:
                client.close()
            try:
                client = cls(opts, msg[1])
            except Exception as e:
                client = None
                conn.send(("crash", type(e).__name__, str(e)[:200]))
            else:
                conn.send(("ok", None, None))
        elif kind == "close":
            if client is not None:
                client.close()
                client = None
            conn.send(("ok", None, None))
        elif client is None:
            conn.send(("crash", "RuntimeError", "call before open"))
        else:
            conn.send(_call(client, msg[1], msg[2]))
    if client is not None:
        client.close()


def _call(client: Client, method: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        result = getattr(client, method)(*args)
        return ("ok", result, client.membership(), _txn_offsets(client, method))
    except ClientError as e:
        return ("err", e.outcome, e.error, e.value, client.membership(),
                _txn_offsets(client, method))
    except Exception as e:  # a client bug: the parent records it as unknown
        return ("crash", type(e).__name__, str(e)[:200])


def _txn_offsets(client: Client, method: str) -> dict[str, int] | None:
    return client.txn_offsets() if method == "txn" else None


class HostCrashed(Exception):
    """The child process died or broke the protocol."""


class ClientHost:
    """One child process hosting the client of one interpreter slot."""

    def __init__(self, client_name: str, opts: ClientOptions, netns: str | None) -> None:
        if client_name not in CLIENTS:
            raise ValueError(f"unknown client {client_name!r}")
        self._args = (client_name, opts, netns)
        self._conn: Connection | None = None
        self._proc: BaseProcess | None = None

    def start(self) -> None:
        parent, child = _CTX.Pipe()
        proc = _CTX.Process(target=_serve, args=(child, *self._args), daemon=True,
                            name="logtrial-client")
        proc.start()
        child.close()
        self._conn, self._proc = parent, proc

    def request(self, *msg: Any) -> tuple[Any, ...]:
        if self._conn is None:
            self.start()
        assert self._conn is not None
        try:
            self._conn.send(msg)
            reply: tuple[Any, ...] = self._conn.recv()
            return reply
        except (EOFError, OSError, BrokenPipeError) as e:
            self.stop(timeout_s=0.0)  # replaced on the next request
            raise HostCrashed(f"client process died: {type(e).__name__}") from e

    def stop(self, timeout_s: float = 2.0) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.send(("exit",))
            conn.close()
        if proc is not None:
            proc.join(timeout_s)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)


class HostedClient:
    """A `Client` whose calls run in a `ClientHost`'s process."""

    def __init__(self, host: ClientHost, process: int) -> None:
        self._host = host
        self._membership: dict[str, Any] | None = None
        self._txn_offsets: dict[str, int] | None = None
        self._call_host("open", process)

    def _call_host(self, *msg: Any) -> Any:
        try:
            reply = self._host.request(*msg)
        except HostCrashed as e:
            raise ClientError("info", ["client-crash", "HostCrashed", str(e)]) from e
        if reply[0] == "ok":
            self._membership = reply[2]
            if len(reply) > 3:  # a call (open, close and ping answer without)
                self._txn_offsets = reply[3]
            return reply[1]
        if reply[0] == "err":
            _, outcome, error, value, self._membership, self._txn_offsets = reply
            raise ClientError(outcome, error, value)
        raise ClientError("info", ["client-crash", reply[1], reply[2]])

    def send(self, key: str, value: int) -> int:
        out: int = self._call_host("call", "send", (key, value))
        return out

    def poll(self) -> dict[str, list[list[int]]]:
        out: dict[str, list[list[int]]] = self._call_host("call", "poll", ())
        return out

    def assign(self, keys: list[str]) -> None:
        self._call_host("call", "assign", (keys,))

    def subscribe(self, keys: list[str]) -> None:
        self._call_host("call", "subscribe", (keys,))

    def commit(self) -> dict[str, int]:
        out: dict[str, int] = self._call_host("call", "commit", ())
        return out

    def committed(self, keys: list[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = self._call_host("call", "committed", (keys,))
        return out

    def offsets(self, keys: list[str]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = self._call_host("call", "offsets", (keys,))
        return out

    def txn(self, mops: list[list[Any]], abort: bool = False) -> list[list[Any]]:
        out: list[list[Any]] = self._call_host("call", "txn", (mops, abort))
        return out

    def membership(self) -> dict[str, Any] | None:
        m = self._membership
        return dict(m) if m is not None else None

    def txn_offsets(self) -> dict[str, int] | None:
        return self._txn_offsets

    def close(self) -> None:
        with contextlib.suppress(ClientError):
            self._call_host("close")


class HostPool:
    """One `ClientHost` per interpreter slot; a factory of `HostedClient`s.

    Process ids of one slot are congruent modulo ``concurrency`` (the interpreter gives
    a crashed slot the id old + concurrency), so ``process % concurrency`` is the slot.
    """

    def __init__(self, client_name: str, opts: ClientOptions, netns: str | None,
                 concurrency: int) -> None:
        self.concurrency = concurrency
        self.hosts = [ClientHost(client_name, opts, netns) for _ in range(concurrency)]

    def start(self) -> None:
        """Start every child now (they import the client library in parallel), so the
        run's clock does not pay for it."""
        for h in self.hosts:
            h.start()
        for h in self.hosts:
            with contextlib.suppress(HostCrashed):  # a dead child is replaced on use
                h.request("ping")

    def __call__(self, process: int) -> Client:
        return HostedClient(self.hosts[process % self.concurrency], process)

    def stop(self) -> None:
        for h in self.hosts:
            h.stop()

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
