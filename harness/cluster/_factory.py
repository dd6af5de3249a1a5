"""Building a cluster from names, as ``logtrial run`` does, with clear errors."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.cluster._backend import Backend
from harness.cluster._cluster import Cluster
from harness.cluster._target import Target
from harness.errors import UsageError


def build_cluster(target: str, *, backend: str | None = None, nodes: int | None = None,
                  bootstrap: str | None = None, clock: bool = False,
                  config: Mapping[str, str] | None = None, keep_logs: Path | None = None,
                  target_options: Mapping[str, Any] | None = None) -> Cluster:
    """A not-yet-started `Cluster` for ``--target``/``--backend``/``--nodes``.

    ``backend`` defaults to ``netns`` as root, else ``proxy``; ``nodes`` defaults to
    the target's maximum up to 3. ``bootstrap`` is for (and only for) ``external``.
    """
    from harness.cluster import default_backend_name, get_backend, get_target
    tcls = get_target(target)
    opts = dict(target_options or {})
    if target == "external":
        if not bootstrap:
            raise UsageError("the external target needs --bootstrap host:port,...")
        opts["bootstrap"] = bootstrap
        t: Target = tcls(dict(config or {}), **opts)
        return Cluster(t, None, 0, clock=clock)
    if bootstrap:
        raise UsageError(f"--bootstrap is only for the external target, not {target}")
    t = tcls(dict(config or {}), **opts)
    b: Backend = get_backend(backend or default_backend_name())()
    n = nodes if nodes is not None else min(3, tcls.max_nodes)
    return Cluster(t, b, n, clock=clock, keep_logs=keep_logs)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread, so that
    ``with Cluster(...)`` cleans up when CI or a supervisor terminates the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
