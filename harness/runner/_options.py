"""The options of one run: validated once, logged first (run.json), replayable.

Every run has a seed; the seed and these options determine the generated workload and
fault schedule, and `replay_command` prints the exact command that runs them again.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import UsageError

CLIENT_NAMES = ("kafka-python", "confluent")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    target: str = "reference"
    nodes: int = 1
    backend: str = "proxy"
    bootstrap: str | None = None
    nemesis: tuple[str, ...] = ()
    nemesis_interval_s: float = 5.0
    time_limit_s: float = 30.0
    rate: float = 200.0
    concurrency: int = 5
    keys: int = 4
    acks: str = "all"
    replication_factor: int = 1
    idempotence: bool = True
    sub_via: str = "assign"
    client: str = "kafka-python"
    seed: int = 0
    bugs: tuple[str, ...] = ()
    report_dir: str = "reports"
    final_read_timeout_s: float = 30.0
    #: topic retention.ms (None: the target's default, retention not judged); with it
    #: the workload lists log starts and the run composes the retention checker.
    retention_ms: int | None = None
    #: topic segment.bytes with ``retention_ms``: small, so whole segments close and
    #: expire within a short run.
    segment_bytes: int = 4096
    #: the freshness checker's allowance: an end offset read this long after a write
    #: was acknowledged must include it (see harness.checkers.freshness).
    max_stale_ms: int = 3000
    #: sends and polls run as transactions (a share aborted on purpose) and consumers
    #: read committed: the log checker then judges aborted and precommitted reads.
    txn: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise UsageError(msg)

        from harness.cluster import BACKENDS, TARGETS  # the registries are the truth

        if self.target not in TARGETS:
            bad(f"unknown target {self.target!r} (expected one of: {', '.join(TARGETS)})")
        if self.backend not in BACKENDS:
            bad(f"unknown backend {self.backend!r} (expected one of: {', '.join(BACKENDS)})")
        if self.client not in CLIENT_NAMES:
            bad(f"unknown client {self.client!r} (expected one of: {', '.join(CLIENT_NAMES)})")
        if self.sub_via not in ("assign", "subscribe"):
            bad(f"--sub-via must be assign or subscribe, not {self.sub_via!r}")
        if self.acks not in ("0", "1", "all", "-1"):
            bad(f"--acks must be 0, 1 or all, not {self.acks!r}")
        if self.nodes < 1:
            bad(f"--nodes must be >= 1, not {self.nodes}")
        if not 1 <= self.replication_factor <= self.nodes:
            bad(f"--replication-factor {self.replication_factor} needs 1..{self.nodes} "
                "nodes (raise --nodes)")
        if self.concurrency < 1:
            bad(f"--concurrency must be >= 1, not {self.concurrency}")
        if self.keys < 1:
            bad(f"--keys must be >= 1, not {self.keys}")
        if self.time_limit_s <= 0:
            bad(f"--time-limit must be > 0 seconds, not {self.time_limit_s}")
        if self.retention_ms is not None and self.retention_ms < 1:
            bad(f"--retention-ms must be >= 1 ms, not {self.retention_ms}")
        if self.segment_bytes < 14:
            bad(f"--segment-bytes must be >= 14 (Kafka's minimum), not {self.segment_bytes}")
        if self.max_stale_ms < 0:
            bad(f"--max-stale-ms must be >= 0, not {self.max_stale_ms}")
        if self.txn and self.acks not in ("all", "-1"):
            bad(f"--txn needs --acks all (a transactional producer is idempotent, which "
                f"Kafka allows only with acks=all), not --acks {self.acks}")
        if self.txn and not self.idempotence:
            bad("--txn needs idempotence (a transactional producer is idempotent): "
                "drop --no-idempotence")
        if self.target == "external" and not self.bootstrap:
            bad("--target external needs --bootstrap host:port[,host:port...]")
        if self.bugs and self.target != "reference":
            bad("--bug plants bugs in the reference broker; use it with --target reference")
        if self.bugs:
            from reference_broker.bugs import parse_bugs

            try:
                parse_bugs(self.bugs)
            except ValueError as e:
                bad(f"--bug: {e}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["bugs"] = list(self.bugs)
        return d

    def replay_command(self) -> str:
        """The exact ``logtrial run`` command that reproduces this run."""
        args = ["logtrial", "run", "--target", self.target, "--nodes", str(self.nodes),
                "--backend", self.backend]
        if self.bootstrap:
            args += ["--bootstrap", self.bootstrap]
        if self.nemesis:
            args += ["--nemesis", ",".join(self.nemesis),
                     "--nemesis-interval", f"{self.nemesis_interval_s:g}"]
        args += ["--time-limit", f"{self.time_limit_s:g}", "--rate", f"{self.rate:g}",
                 "--concurrency", str(self.concurrency), "--keys", str(self.keys),
                 "--acks", self.acks, "--replication-factor", str(self.replication_factor),
                 "--idempotence" if self.idempotence else "--no-idempotence",
                 "--sub-via", self.sub_via, "--client", self.client, "--seed", str(self.seed)]
        if self.retention_ms is not None:
            args += ["--retention-ms", str(self.retention_ms),
                     "--segment-bytes", str(self.segment_bytes)]
        if self.txn:
            args += ["--txn"]
        if self.max_stale_ms != 3000:
            args += ["--max-stale-ms", str(self.max_stale_ms)]
        for b in self.bugs:
            args += ["--bug", b]
        if self.report_dir != "reports":
            args += ["--report-dir", self.report_dir]
        return shlex.join(args)
