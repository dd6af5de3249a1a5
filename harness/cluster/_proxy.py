"""The `proxy` backend: nodes on loopback, every link through a userspace fault proxy.

No root needed. Node ``n`` listens on its own free loopback port per service. For every
ordered pair ``(src, dst)`` of endpoints (nodes and ``client``) and every service the
`ProxyHub` listens on a separate loopback port that forwards to ``dst``; `addr`
returns that port, so a target gives node ``a`` the proxy addresses ``addr(a, b,
"raft")`` as its peers and advertises ``addr("client", a, "kafka")`` to clients.
Traffic that bypasses those addresses is not cut: a broker must not learn its
peers' real ports (Apache Kafka's inter-broker fetches follow the advertised client
listener, so on this backend they pass the client link).

Faults: partitions (blocked flows, one-way included), loss (chunks cost an RTO),
bandwidth (throttle), slow (latency and jitter on every link) and reset.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Collection, Sequence
from typing import ClassVar

from harness.cluster._backend import CLIENT, Backend, Grudge
from harness.cluster._run import RunDir
from harness.cluster._tcpproxy import ProxyHub
from harness.errors import UsageError

#: Node ports come from below Linux's ephemeral range (32768-60999 by default): a port
#: the kernel hands out for bind(0) can be taken by any outgoing connection before the
#: node binds it, which made starts fail with EADDRINUSE on a busy machine.
NODE_PORTS = (20000, 32000)
_port_rng = random.Random()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, outside the ephemeral range (a later bind may still race with
    another run choosing the same port; rare, and such a start fails loudly)."""
    for _ in range(200):
        port = _port_rng.randrange(*NODE_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        got: int = s.getsockname()[1]
        return got


class ProxyBackend(Backend):
    """Nodes on 127.0.0.1; one proxy port per (src, dst, service)."""

    name: ClassVar[str] = "proxy"
    supports: ClassVar[frozenset[str]] = frozenset(
        {"partition", "loss", "bandwidth", "slow", "reset"})

    def __init__(self, run: RunDir | None = None, *, rng: random.Random | None = None,
                 rto_ms: float = 200.0) -> None:
        super().__init__(run)
        self.rng = rng or random.Random()
        self.rto_ms = rto_ms
        self.hub: ProxyHub | None = None
        self._bind: dict[tuple[str, str], tuple[str, int]] = {}
        self._links: dict[tuple[str, str, str], tuple[str, int]] = {}

    def setup(self, nodes: Sequence[str], services: Sequence[str]) -> None:
        self.nodes = tuple(nodes)
        self.services = tuple(services)
        self.hub = ProxyHub(self.rng, rto_ms=self.rto_ms)
        for n in self.nodes:
            for svc in self.services:
                self._bind[(n, svc)] = ("127.0.0.1", free_port())
        for dst in self.nodes:
            for src in self.endpoints():
                if src == dst:
                    continue
                for svc in self.services:
                    port = self.hub.add_link(src, dst, self._bind[(dst, svc)])
                    self._links[(src, dst, svc)] = ("127.0.0.1", port)

    def bind_addr(self, node: str, service: str) -> tuple[str, int]:
        try:
            return self._bind[(node, service)]
        except KeyError:
            raise UsageError(f"no service {service!r} on node {node!r}") from None

    def addr(self, src: str, dst: str, service: str) -> tuple[str, int]:
        if src == dst:
            return self.bind_addr(dst, service)
        try:
            return self._links[(src, dst, service)]
        except KeyError:
            raise UsageError(f"no link from {src!r} to {dst!r} for {service!r}") from None

    def _hub(self) -> ProxyHub:
        if self.hub is None:
            raise UsageError("the proxy backend is not set up")
        return self.hub

    def apply_grudge(self, grudge: Grudge) -> None:
        self.check_grudge(grudge)
        self._hub().set_blocked(
            [(src, dst) for dst, srcs in grudge.items() for src in srcs if src != dst])

    def set_loss(self, nodes: Collection[str], probability: float) -> None:
        self.check_nodes(nodes)
        if not 0.0 <= probability <= 1.0:
            raise UsageError(f"loss probability must be within 0..1, got {probability}")
        self._hub().set_loss(set(nodes), probability)

    def set_bandwidth(self, nodes: Collection[str], kbit_s: int | None) -> None:
        self.check_nodes(nodes)
        self._hub().set_rate(set(nodes), None if kbit_s is None else kbit_s * 125.0)

    def set_latency(self, latency_ms: float, jitter_ms: float = 0.0) -> None:
        if latency_ms < 0 or jitter_ms < 0:
            raise UsageError("latency and jitter must be >= 0 ms")
        self._hub().set_latency(latency_ms, jitter_ms)

    def reset(self, nodes: Collection[str]) -> None:
        self.check_nodes(nodes)
        self._hub().reset(set(nodes))

    def heal(self) -> None:
        if self.hub is not None:
            self.hub.heal()

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()


__all__ = ["CLIENT", "ProxyBackend", "free_port"]
