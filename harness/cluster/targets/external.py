"""`external`: a broker someone else runs; only its bootstrap servers are known.

The harness starts, stops and cuts nothing, so it supports no faults; a nemesis
asked to inject one gets a `UsageError` before the run begins.
"""

from __future__ import annotations

from typing import ClassVar

from harness.cluster._target import NodeSpec, Target
from harness.errors import UsageError


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``"h1:9092,h2:9092"`` -> ``[("h1", 9092), ("h2", 9092)]``, or `UsageError`."""
    out = []
    for item in bootstrap.split(","):
        item = item.strip()
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"bad bootstrap server {item!r} in {bootstrap!r} "
                             "(expected host:port,host:port,...)")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise UsageError("the external target needs --bootstrap host:port,...")
    return out


class ExternalTarget(Target):
    name: ClassVar[str] = "external"
    faults: ClassVar[frozenset[str]] = frozenset()
    managed: ClassVar[bool] = False
    max_nodes: ClassVar[int] = 0
    min_nodes: ClassVar[int] = 0

    def __init__(self, config: dict[str, str] | None = None, *, bootstrap: str = "") -> None:
        super().__init__(config)
        self.servers = parse_bootstrap(bootstrap)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.servers)

    @classmethod
    def check_installed(cls) -> None:
        return None

    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        raise UsageError("the external target starts no nodes")
