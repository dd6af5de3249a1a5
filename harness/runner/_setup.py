"""Turn `RunOptions` into a cluster and a nemesis (registries live in harness.cluster
and harness.nemesis; this module only maps option names onto them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.cluster._cluster import Cluster
from harness.errors import UsageError
from harness.runner._options import RunOptions
from harness.workload import Recorder


def build_cluster(opts: RunOptions, run_dir: Path) -> Cluster:
    from harness.cluster._netns import NetnsBackend
    from harness.cluster._proxy import ProxyBackend
    from harness.cluster.targets.external import ExternalTarget
    from harness.cluster.targets.kafka import KafkaTarget
    from harness.cluster.targets.reference import ReferenceTarget
    from harness.cluster.targets.tansu import TansuTarget

    config: dict[str, str] = {}
    target: Any
    if opts.target == "reference":
        if opts.bugs:
            config["logtrial.bugs"] = ",".join(opts.bugs)
        target = ReferenceTarget(config)
    elif opts.target == "tansu":
        target = TansuTarget()
    elif opts.target == "kafka":
        target = KafkaTarget()
    else:
        target = ExternalTarget(bootstrap=opts.bootstrap or "")
    if not target.managed:
        return Cluster(target, None, 0)
    if opts.backend == "netns":
        if os.geteuid() != 0:
            raise UsageError("the netns backend needs root (or use --backend proxy)")
        backend: Any = NetnsBackend()
    else:
        backend = ProxyBackend()
    return Cluster(target, backend, opts.nodes, keep_logs=run_dir / "nodes")


class NoNemesis:
    """The nemesis of a run without faults."""

    def start(self) -> None:
        pass

    def stop_and_heal(self) -> None:
        pass

    def active(self) -> list[str]:
        return []


def build_nemesis(opts: RunOptions, cluster: Cluster, rec: Recorder) -> Any:
    if not opts.nemesis:
        return NoNemesis()
    raise UsageError("nemesis support in `logtrial run` is not wired yet")
