"""A cluster: one target's nodes placed by one backend, owned by one run.

`Cluster` is the only component that starts and signals node processes, and it
guarantees cleanup: `close` (called by ``with``, on success, on an exception and on
Ctrl-C) stops every node, removes the backend's network and deletes the run
directory; a run whose controller was SIGKILLed is reaped by the next
`cleanup_stale_runs` (which `start` calls first).

Nodes are named ``n1``..``nN`` with node ids 1..N. Clock faults use libfaketime
(Debian package ``faketime``): with ``clock=True`` each node starts with
``LD_PRELOAD`` set and reads its wall-clock offset from a per-node file that
`set_clock_offset` rewrites (the monotonic clock is left alone, as on a real
machine whose NTP jumps).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.cluster._backend import CLIENT, Backend
from harness.cluster._proc import Proc, ProcessError, log_contains
from harness.cluster._run import RunDir
from harness.cluster._target import NodeSpec, Target
from harness.errors import UsageError

FAKETIME_LIBS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)


def faketime_lib() -> Path:
    for p in FAKETIME_LIBS:
        if p.is_file():
            return p
    raise UsageError("clock faults need libfaketime: apt-get install faketime "
                     "(scripts/setup-debian.sh)")


def node_names(n: int) -> tuple[str, ...]:
    return tuple(f"n{i}" for i in range(1, n + 1))


class Cluster:
    """Start, signal and reach the nodes of one run; a context manager."""

    def __init__(self, target: Target, backend: Backend | None, nodes: int, *,
                 run: RunDir | None = None, clock: bool = False,
                 keep_logs: Path | None = None, reap_stale: bool = True,
                 config: Mapping[str, Mapping[str, str]] | None = None) -> None:
        target.check_installed()
        if target.managed:
            if not target.min_nodes <= nodes <= target.max_nodes:
                raise UsageError(f"the {target.name} target runs {target.min_nodes}.."
                                 f"{target.max_nodes} nodes, not {nodes}")
            if backend is None:
                raise UsageError(f"the {target.name} target needs a backend")
        if target.managed and backend is not None:
            backend.check_available()
        if clock and "clock" not in target.faults:
            raise UsageError(f"the {target.name} target does not accept clock faults")
        self.target = target
        self.nodes = node_names(nodes) if target.managed else ()
        self.ids = {n: i for i, n in enumerate(self.nodes, start=1)}
        self.clock = clock
        self.keep_logs = keep_logs
        self.reap_stale = reap_stale
        self.node_config = dict(config or {})
        self._run = run
        self._backend = backend
        self.procs: dict[str, Proc] = {}
        self.specs: dict[str, NodeSpec] = {}
        self._closed = False
        self._lock = threading.RLock()

    # lifecycle -------------------------------------------------------------------

    @property
    def run(self) -> RunDir:
        if self._run is None:
            raise UsageError("the cluster is not started")
        return self._run

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise UsageError(f"the {self.target.name} target has no backend")
        return self._backend

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def start(self) -> Cluster:
        """Reap dead runs, build the network, start every node and wait until ready."""
        if self.reap_stale:
            from harness.cluster._cleanup import cleanup_stale_runs
            cleanup_stale_runs()
        try:
            if self._run is None:
                self._run = RunDir.create()
            if not self.target.managed:
                return self
            backend = self.backend
            backend.run = self._run
            backend.setup(self.nodes, self.target.services)
            self.specs = {n: self._spec(n) for n in self.nodes}
            self.target.prepare(list(self.specs.values()))
            if self.clock:
                for n in self.nodes:
                    self.set_clock_offset(n, 0.0)
            for n in self.nodes:
                self.start_node(n, wait=False)
            for n in self.nodes:
                self.wait_ready(n)
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every node, remove the network and the run dir; idempotent; a Ctrl-C
        during close is deferred until it finishes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with _sigint_deferred():
            try:
                _stop_all(list(self.procs.values()), self.target.stop_signal, grace_s=3.0)
            finally:
                try:
                    if self._backend is not None:
                        self._backend.close()
                finally:
                    if self._run is not None:
                        if self.keep_logs is not None:
                            self._copy_logs(self.keep_logs)
                        self._run.remove()

    def _copy_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for n, p in self.procs.items():
            with contextlib.suppress(OSError):
                shutil.copy(p.log_path, dest / f"{n}.log")

    # nodes -------------------------------------------------------------------

    def _spec(self, n: str) -> NodeSpec:
        b = self.backend
        services = self.target.services
        return NodeSpec(
            name=n, node_id=self.ids[n], data_dir=self.run.subdir("data", n),
            listen=b.bind_addr(n, services[0]),
            advertise=b.addr(CLIENT, n, services[0]),
            service_listen={s: b.bind_addr(n, s) for s in services},
            peers={s: {m: b.addr(n, m, s) for m in self.nodes if m != n} for s in services},
            ids=dict(self.ids), config=dict(self.node_config.get(n, {})))

    def _check(self, n: str) -> None:
        if n not in self.ids:
            raise UsageError(f"unknown node {n!r}; this cluster has {', '.join(self.nodes)}")

    def start_node(self, n: str, *, wait: bool = True) -> None:
        """Start ``n`` unless it runs; with ``wait``, block until it is ready."""
        self._check(n)
        with self._lock:
            if self._closed:
                raise UsageError("the cluster is closed")
            old = self.procs.get(n)
            if old is not None and old.alive():
                return
            spec = self.specs[n]
            argv, env = self.target.command(spec)
            if self.clock:
                env = {**env, "LD_PRELOAD": str(faketime_lib()),
                       "FAKETIME_TIMESTAMP_FILE": str(self._clock_file(n)),
                       "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
            log = self.run.subdir("logs") / f"{n}.log"
            self.procs[n] = Proc(self.backend.wrap(n, argv), run_id=self.run_id, log_path=log,
                                 env=env, cwd=spec.data_dir)
        if wait:
            self.wait_ready(n)

    def wait_ready(self, n: str, timeout_s: float | None = None) -> None:
        p = self.procs[n]
        spec = self.specs[n]
        line = self.target.ready_line(spec)
        if line is not None:
            check = log_contains(p.log_path, line)
        else:
            def check() -> bool:
                return _port_open(spec.listen)
        p.wait_ready(check, timeout_s or self.target.start_timeout_s,
                     f"{self.target.name} node {n}")

    def kill_node(self, n: str) -> None:
        """SIGKILL ``n`` (its group) and reap it."""
        self._check(n)
        p = self.procs.get(n)
        if p is not None:
            p.kill()

    def stop_node(self, n: str) -> None:
        self._check(n)
        p = self.procs.get(n)
        if p is not None:
            p.stop(self.target.stop_signal, grace_s=5.0)

    def pause_node(self, n: str) -> None:
        self._check(n)
        p = self.procs.get(n)
        if p is None or not p.alive():
            raise ProcessError(f"node {n} is not running; cannot pause it")
        p.pause()

    def resume_node(self, n: str) -> None:
        self._check(n)
        p = self.procs.get(n)
        if p is not None:
            p.resume()

    def alive(self, n: str) -> bool:
        p = self.procs.get(n)
        return p is not None and p.alive()

    def _clock_file(self, n: str) -> Path:
        return self.run.subdir("clock") / n

    def set_clock_offset(self, n: str, offset_s: float) -> None:
        """Skew ``n``'s wall clock by ``offset_s`` seconds (takes effect at once)."""
        self._check(n)
        if not self.clock:
            raise UsageError("clock faults need the cluster started with clock=True")
        f = self._clock_file(n)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+.3f}\n")
        tmp.replace(f)

    # addresses -------------------------------------------------------------------

    def bootstrap_servers(self) -> str:
        """``host:port,...`` for clients in the harness process."""
        ext = getattr(self.target, "bootstrap", None)
        if not self.target.managed and isinstance(ext, str):
            return ext
        svc = self.target.services[0]
        return ",".join("{}:{}".format(*self.backend.addr(CLIENT, n, svc)) for n in self.nodes)

    def client_netns(self) -> str | None:
        """The namespace clients should run in (netns backend), else None."""
        return self._backend.client_netns() if self._backend is not None else None

    def describe(self) -> dict[str, Any]:
        """Data for run.json: target, backend, nodes and their addresses."""
        return {"target": self.target.name,
                "backend": self._backend.name if self._backend else None,
                "run_id": self.run_id, "nodes": list(self.nodes),
                "bootstrap": self.bootstrap_servers(),
                "loses_data_on_kill": self.target.loses_data_on_kill}


def _stop_all(procs: list[Proc], first: int, grace_s: float) -> None:
    """Signal every process at once, give them ``grace_s`` together, then SIGKILL."""
    for p in procs:
        if p.paused:
            p.resume()
        p.send_signal(first)
    deadline = time.monotonic() + grace_s
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.popen.wait(max(0.0, deadline - time.monotonic()))
    for p in procs:
        p.kill()


def _port_open(addr: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(addr, timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT while cleaning up (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda s, f: got.append(s))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got and callable(old):
            old(signal.SIGINT, None)
        elif got and old != signal.SIG_IGN:
            raise KeyboardInterrupt
