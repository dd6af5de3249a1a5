"""The backend protocol: where nodes live and how the network between them is cut.

A backend places *endpoints*: the nodes (``n1``..``nN``) and the client side
(``client``). Each node listens on named services (``kafka``, ``raft``, ...). The
backend answers two address questions, which is all a target needs to build its
command lines:

- `bind_addr(node, service)`: where the node's process listens;
- `addr(src, dst, service)`: where ``src`` must connect to reach ``dst``'s service
  (the proxy backend gives every ordered pair its own proxy port, so this differs
  per source; brokers advertise ``addr("client", node, "kafka")``).

Network faults are data applied wholesale:

- `apply_grudge(grudge)`: ``grudge[dst]`` is the set of endpoints whose traffic
  ``dst`` drops (Jepsen's grudge). Applying a grudge replaces the previous one; the
  empty grudge heals. A one-way partition is a grudge that is not symmetric.
- `set_loss(nodes, probability)`: each packet (netns) or chunk (proxy) *into* those
  nodes is lost with the given probability; 0 clears it.
- `set_bandwidth(nodes, kbit_s)`, `set_latency(latency_ms, jitter_ms)`,
  `reset(nodes)`: only where `supports` says so.
- `heal()`: every network fault off.

A backend must not touch anything it did not create: no host iptables rules, no
interfaces or namespaces without its run id in their name. `close` must be safe to
call twice and after a failed `setup`.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from typing import ClassVar, Final

from harness.cluster._run import RunDir
from harness.errors import UsageError

CLIENT: Final[str] = "client"

Grudge = Mapping[str, Collection[str]]


class Backend(abc.ABC):
    """Places the endpoints of one run and cuts the network between them."""

    name: ClassVar[str]
    #: network faults this backend implements: partition, loss, bandwidth, slow, reset.
    supports: ClassVar[frozenset[str]]
    needs_root: ClassVar[bool] = False

    def __init__(self, run: RunDir | None = None) -> None:
        self._run = run
        self.nodes: tuple[str, ...] = ()
        self.services: tuple[str, ...] = ()

    @classmethod
    def check_available(cls) -> None:
        """Raise `UsageError` if this backend cannot run here (e.g. needs root)."""
        return None

    @property
    def run(self) -> RunDir:
        if self._run is None:
            raise UsageError(f"the {self.name} backend has no run yet (Cluster.start sets it)")
        return self._run

    @run.setter
    def run(self, run: RunDir) -> None:
        self._run = run

    @abc.abstractmethod
    def setup(self, nodes: Sequence[str], services: Sequence[str]) -> None:
        """Create the network for ``nodes``, each listening on ``services``."""

    @abc.abstractmethod
    def bind_addr(self, node: str, service: str) -> tuple[str, int]:
        """Where ``node``'s process listens for ``service``."""

    @abc.abstractmethod
    def addr(self, src: str, dst: str, service: str) -> tuple[str, int]:
        """Where ``src`` (a node or `CLIENT`) connects to reach ``dst``'s ``service``."""

    def wrap(self, node: str, argv: Sequence[str]) -> list[str]:
        """``argv`` made to run inside ``node``'s network context."""
        return list(argv)

    def client_wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` made to run inside the clients' network context."""
        return list(argv)

    def client_netns(self) -> str | None:
        """The network namespace clients run in (for setns), or None: the host's."""
        return None

    @abc.abstractmethod
    def apply_grudge(self, grudge: Grudge) -> None:
        """Make each ``dst`` drop traffic from ``grudge[dst]``; replaces the last grudge."""

    def set_loss(self, nodes: Collection[str], probability: float) -> None:
        self._unsupported("loss")

    def set_bandwidth(self, nodes: Collection[str], kbit_s: int | None) -> None:
        self._unsupported("bandwidth")

    def set_latency(self, latency_ms: float, jitter_ms: float = 0.0) -> None:
        self._unsupported("slow")

    def reset(self, nodes: Collection[str]) -> None:
        self._unsupported("reset")

    @abc.abstractmethod
    def heal(self) -> None:
        """Every network fault off."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove everything `setup` created; idempotent."""

    # helpers -----------------------------------------------------------------

    def endpoints(self) -> tuple[str, ...]:
        return (*self.nodes, CLIENT)

    def check_grudge(self, grudge: Grudge) -> None:
        known = set(self.endpoints())
        for dst, srcs in grudge.items():
            bad = ({dst} | set(srcs)) - known
            if bad:
                raise UsageError(
                    f"partition names unknown nodes {sorted(bad)}; this cluster has "
                    f"{', '.join(self.endpoints())}")

    def check_nodes(self, nodes: Collection[str]) -> None:
        bad = set(nodes) - set(self.endpoints())
        if bad:
            raise UsageError(f"unknown nodes {sorted(bad)}; this cluster has "
                             f"{', '.join(self.endpoints())}")

    def _unsupported(self, fault: str) -> None:
        raise UsageError(f"the {self.name} backend does not support the {fault!r} fault "
                         f"(it supports {', '.join(sorted(self.supports))})")
