"""Fixtures for the cluster and backend tests: a probe target and leak checks.

`ProbeTarget` runs `probe.py` as each node (a real process that logs what reaches it
over TCP and UDP), so the backends are tested at the socket level without a broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from harness.cluster import (
    CLIENT,
    Backend,
    Cluster,
    NetnsBackend,
    NodeSpec,
    ProxyBackend,
    Target,
)
from harness.cluster._netns import links_list, netns_list
from harness.cluster._proc import procs_of_run
from harness.cluster._run import RUNS_DIR

PROBE = Path(__file__).with_name("probe.py")
ROOT = os.geteuid() == 0
NEEDS_ROOT = "needs root for network namespaces"


class ProbeTarget(Target):
    name: ClassVar[str] = "probe"
    faults: ClassVar[frozenset[str]] = frozenset(
        {"kill", "pause", "partition", "loss", "bandwidth", "slow", "reset", "clock"})
    max_nodes: ClassVar[int] = 5
    start_timeout_s: ClassVar[float] = 10.0

    @classmethod
    def check_installed(cls) -> None:
        return None

    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        h, p = spec.listen
        return [sys.executable, str(PROBE), "serve", h, str(p),
                str(spec.data_dir / "received")], {}

    def ready_line(self, spec: NodeSpec) -> str | None:
        return "probe ready"


def make_backend(name: str) -> Backend:
    if name == "netns":
        if not ROOT:
            pytest.skip(NEEDS_ROOT)
        return NetnsBackend()
    return ProxyBackend(rto_ms=1000.0)


@pytest.fixture(params=["proxy", "netns"])
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "netns" and not ROOT:
        pytest.skip(NEEDS_ROOT)
    return name


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(backend: str, nodes: int = 3, target: Target | None = None,
             **kw: object) -> Cluster:
        c = Cluster(target or ProbeTarget(), make_backend(backend), nodes, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c.start()

    try:
        yield make
    finally:
        for c in made:
            c.close()
            if c._run is not None:
                assert leftovers(c.run_id) == [], f"run {c.run_id} leaked"


def send(c: Cluster, src: str, dst: str, proto: str, tag: str, n: int = 1) -> dict[str, float]:
    """Send from ``src``'s network context to ``dst``; returns tag -> send time."""
    host, port = c.backend.addr(src, dst, "kafka")
    argv = [sys.executable, str(PROBE), "send", host, str(port), proto, tag, str(n)]
    argv = c.backend.client_wrap(argv) if src == CLIENT else c.backend.wrap(src, argv)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()}


def received(c: Cluster, node: str) -> dict[str, float]:
    """tag -> arrival time, for everything ``node``'s probe logged."""
    path = c.specs[node].data_dir / "received"
    try:
        text = path.read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = float(parts[1])
    return out


_counter = [0]


def reaches(c: Cluster, src: str, dst: str, wait_s: float = 3.0) -> bool:
    """True if a TCP or UDP message from ``src`` arrives at ``dst`` within ``wait_s``."""
    _counter[0] += 1
    tag = f"r{_counter[0]}{src}{dst}"
    send(c, src, dst, "udp", tag + "u")
    send(c, src, dst, "tcp", tag + "t")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        got = received(c, dst)
        if f"{tag}u-0" in got or f"{tag}t-0" in got:
            return True
        time.sleep(0.05)
    return False


def leftovers(run_id: str) -> list[str]:
    """Everything on this machine that still carries ``run_id``."""
    out = [f"process {p}" for p in procs_of_run(run_id)]
    if (RUNS_DIR / run_id).exists():
        out.append(f"dir {RUNS_DIR / run_id}")
    if ROOT:
        out += [f"netns {n}" for n in netns_list() if n.startswith(run_id)]
        out += [f"link {n}" for n in links_list() if n.startswith(run_id)]
        save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        out += [f"iptables {line}" for line in save.splitlines() if run_id in line]
    return out
