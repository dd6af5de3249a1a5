"""Cluster targets x network backends, and the cleanup that keeps a machine clean.

Public surface (everything else is private):

- `Target` and the registry `TARGETS` (``reference``, ``tansu``, ``kafka``,
  ``external``); `get_target(name)` returns the class or raises `UsageError` listing
  the valid names.
- `Backend` and `BACKENDS` (``netns``, ``proxy``); `get_backend(name)`,
  `default_backend_name()` (``netns`` when root, else ``proxy``).
- `Cluster`: a target's nodes placed by a backend; a context manager that always
  cleans up.
- `cleanup_stale_runs(prefix="lt-") -> CleanupReport`: reap what dead runs left.
- `build_cluster(target, backend=, nodes=, bootstrap=, clock=, config=)`: a cluster
  from CLI names; `sigterm_as_interrupt()`: make SIGTERM clean up like Ctrl-C.

Example::

    with Cluster(TansuTarget(), ProxyBackend(), 1) as c:
        producer = KafkaProducer(bootstrap_servers=c.bootstrap_servers())
"""

from __future__ import annotations

import os
from typing import Final

from harness.cluster._backend import CLIENT, Backend, Grudge
from harness.cluster._cleanup import CleanupReport, cleanup_stale_runs
from harness.cluster._cluster import Cluster, node_names
from harness.cluster._factory import build_cluster, sigterm_as_interrupt
from harness.cluster._netns import NetnsBackend, NetnsError
from harness.cluster._proc import ProcessError
from harness.cluster._proxy import ProxyBackend
from harness.cluster._run import PREFIX, RUNS_DIR, RunDir, new_run_id
from harness.cluster._target import ALL_FAULTS, NodeSpec, Target, TargetNotInstalled
from harness.cluster.targets.external import ExternalTarget
from harness.cluster.targets.kafka import KafkaTarget
from harness.cluster.targets.reference import ReferenceTarget
from harness.cluster.targets.tansu import TansuTarget
from harness.errors import UsageError

TARGETS: Final[dict[str, type[Target]]] = {
    "reference": ReferenceTarget,
    "tansu": TansuTarget,
    "kafka": KafkaTarget,
    "external": ExternalTarget,
}

BACKENDS: Final[dict[str, type[Backend]]] = {
    "netns": NetnsBackend,
    "proxy": ProxyBackend,
}


def _lookup(kind: str, table: dict[str, type], name: str) -> type:
    try:
        return table[name]
    except KeyError:
        raise UsageError(f"unknown {kind} {name!r} (valid: {', '.join(sorted(table))})") from None


def get_target(name: str) -> type[Target]:
    """The target class called ``name``, or `UsageError` listing the valid ones."""
    cls: type[Target] = _lookup("target", TARGETS, name)
    return cls


def get_backend(name: str) -> type[Backend]:
    """The backend class called ``name``, or `UsageError` listing the valid ones; the
    netns backend raises `UsageError` without root."""
    cls: type[Backend] = _lookup("backend", BACKENDS, name)
    if cls.needs_root and os.geteuid() != 0:
        raise UsageError(f"the {name} backend needs root for network namespaces; run as "
                         "root or use --backend proxy")
    return cls


def default_backend_name() -> str:
    return "netns" if os.geteuid() == 0 else "proxy"


__all__ = [
    "ALL_FAULTS", "BACKENDS", "CLIENT", "PREFIX", "RUNS_DIR", "TARGETS", "Backend",
    "CleanupReport", "Cluster", "ExternalTarget", "Grudge", "KafkaTarget", "NetnsBackend",
    "NetnsError", "NodeSpec", "ProcessError", "ProxyBackend", "ReferenceTarget", "RunDir",
    "TansuTarget", "Target", "TargetNotInstalled", "UsageError", "build_cluster",
    "cleanup_stale_runs", "default_backend_name", "get_backend", "get_target", "new_run_id",
    "node_names", "sigterm_as_interrupt",
]
