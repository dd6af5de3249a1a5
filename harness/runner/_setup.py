"""Turn `RunOptions` into a cluster and a running nemesis. The registries live in
`harness.cluster` and `harness.nemesis`; this module only maps options onto them and
runs the fault schedule on its own thread."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.cluster import build_cluster as _build_cluster
from harness.errors import UsageError
from harness.runner._options import RunOptions
from harness.workload import Recorder, derive_seed


def faults_of(opts: RunOptions) -> list[Any]:
    from harness.nemesis import parse_nemesis

    return parse_nemesis(",".join(opts.nemesis))


def build_cluster(opts: RunOptions, run_dir: Path) -> Cluster:
    config: dict[str, str] = {}
    if opts.target == "reference":
        # Kafka's test clusters also drop the 3 s wait for more members to join.
        config["group.initial.rebalance.delay.ms"] = "0"
    if opts.bugs:
        config["logtrial.bugs"] = ",".join(opts.bugs)
    if opts.retention_ms is not None and opts.target == "reference":
        # Kafka checks every 5 minutes; a short run needs retention to act promptly.
        config["log.retention.check.interval.ms"] = "250"
    clock = any(f.kind == "clock" for f in faults_of(opts))
    return _build_cluster(opts.target, backend=opts.backend, nodes=opts.nodes,
                          bootstrap=opts.bootstrap, clock=clock, config=config,
                          keep_logs=run_dir / "nodes")


class _HistoryRecorder:
    """The nemesis's `Recorder`: its ops are info ops of process "nemesis"."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def record(self, f: str, value: Any) -> None:
        self.rec.record("nemesis", "info", f, value)


class NemesisDriver:
    """Runs the fault schedule on a thread; `stop_and_heal` ends it and heals."""

    def __init__(self, opts: RunOptions, cluster: Cluster, rec: Recorder,
                 topics: Sequence[str]) -> None:
        from harness.nemesis import Nemesis, default_schedule, leader_finder

        self.faults = faults_of(opts)
        rng = random.Random(derive_seed(opts.seed, "nemesis"))
        # ``leader`` faults hit the node leading the most of the run's partitions.
        leader_of = leader_finder(cluster, topics=topics) if topics else None
        self.nemesis = Nemesis(cluster, _HistoryRecorder(rec), rng, leader_of=leader_of)
        self.nemesis.check(self.faults)
        self.schedule = default_schedule(self.faults, rng, opts.time_limit_s,
                                         interval_s=opts.nemesis_interval_s,
                                         jitter_s=opts.nemesis_interval_s / 4)
        self._rec = rec
        self._t0_ns = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.nemesis.run(self.schedule,
                             now_s=lambda: (self._rec.now_ns() - self._t0_ns) / 1e9,
                             stop=self._stop)
        except BaseException as e:  # reported by the run; the cluster still closes
            self.error = e

    def start(self) -> None:
        """Start the schedule; its times count from now (the workload's start), not
        from the history's origin, which precedes the cluster's start."""
        if not self.faults:
            return
        self._t0_ns = self._rec.now_ns()
        self._thread = threading.Thread(target=self._run, name="logtrial-nemesis",
                                        daemon=True)
        self._thread.start()

    def stop_and_heal(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        elif self.faults:
            self.nemesis.heal()

    def active(self) -> list[str]:
        return [a.fault.kind for a in list(self.nemesis.active)]


def build_nemesis(opts: RunOptions, cluster: Cluster, rec: Recorder,
                  topics: Sequence[str] = ()) -> NemesisDriver:
    if opts.nemesis and not cluster.target.managed:
        raise UsageError("the external target takes no faults (drop --nemesis)")
    return NemesisDriver(opts, cluster, rec, topics)
