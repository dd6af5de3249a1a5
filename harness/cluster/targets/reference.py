"""`reference`: logtrial's own broker, ``python -m reference_broker``, 1..5 nodes.

Each node gets ``--node-id``, ``--listen``, ``--advertise`` (the address clients are
told, i.e. the backend's client-side address of the node), ``--data-dir`` and one
``--config K=V`` per setting. With more than one node it gets ``--peers
1=host:port,...`` where each address is how *this* node reaches that peer (so the
proxy backend can cut node-to-node links); ``independent=True`` starts N unrelated
single-node brokers instead. By default (``independent=None``) peers are passed only
if the broker's ``--help`` lists ``--peers`` (single-node brokers came first).
The node is ready when it prints ``reference-broker ready on HOST:PORT``.

The broker's Raft traffic shares its Kafka listener (a peer connection starts with
the bytes ``RAFT``), so the ``kafka`` service's links carry it and the backends cut
node-to-node traffic without a second port; each node tells its peers its advertised
address, which is what Metadata lists to clients.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from typing import ClassVar

from harness.cluster._target import NodeSpec, Target, TargetNotInstalled


class ReferenceTarget(Target):
    name: ClassVar[str] = "reference"
    answers_fetch_on_data: ClassVar[bool] = True
    faults: ClassVar[frozenset[str]] = frozenset(
        {"kill", "pause", "clock", "partition", "loss", "bandwidth", "slow", "reset"})
    max_nodes: ClassVar[int] = 5
    start_timeout_s: ClassVar[float] = 30.0

    def __init__(self, config: dict[str, str] | None = None, *,
                 independent: bool | None = None, python: str | None = None) -> None:
        super().__init__(config)
        self.independent = independent
        self.python = python or sys.executable

    @classmethod
    def check_installed(cls) -> None:
        if importlib.util.find_spec("reference_broker.__main__") is None:
            raise TargetNotInstalled(
                "the reference target needs the reference_broker package with a __main__ "
                "(run from the logtrial checkout, or `pip install -e .`)")

    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        argv = [self.python, "-m", "reference_broker",
                "--node-id", str(spec.node_id),
                "--listen", _hp(spec.listen),
                "--advertise", _hp(spec.advertise),
                "--data-dir", str(spec.data_dir)]
        peers = spec.peers.get("kafka", {})
        independent = self.independent
        if independent is None:
            independent = not _accepts_peers(self.python)
        if len(spec.ids) > 1 and not independent:
            addrs = {spec.ids[n]: a for n, a in peers.items()}
            addrs[spec.node_id] = spec.advertise
            argv += ["--peers", ",".join(f"{i}={_hp(addrs[i])}" for i in sorted(addrs))]
        for k, v in {**self.config, **spec.config}.items():
            argv += ["--config", f"{k}={v}"]
        return argv, {}

    def ready_line(self, spec: NodeSpec) -> str | None:
        return "reference-broker ready on"


def _hp(a: tuple[str, int]) -> str:
    return f"{a[0]}:{a[1]}"


@functools.cache
def _accepts_peers(python: str) -> bool:
    try:
        out = subprocess.run([python, "-m", "reference_broker", "--help"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--peers" in out
