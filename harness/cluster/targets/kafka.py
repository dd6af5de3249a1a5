"""`kafka`: Apache Kafka from ``KAFKA_HOME`` in KRaft combined mode, 1..5 nodes.

Every node is broker and controller (``process.roles=broker,controller``) with two
services: ``kafka`` (PLAINTEXT, advertised to clients) and ``controller`` (the Raft
quorum). `prepare` writes each node's ``server.properties`` under its data dir and
runs ``kafka-storage.sh format`` with one cluster id. ``controller.quorum.voters``
lists, per node, the addresses *that node* uses to reach the others, so the proxy
backend can cut the quorum links; inter-broker replication follows the advertised
client listener (a Kafka design), which on the proxy backend means the client links.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from harness.cluster._target import NodeSpec, Target, TargetNotInstalled


def kafka_home() -> Path:
    home = os.environ.get("KAFKA_HOME")
    if not home:
        raise TargetNotInstalled("KAFKA_HOME not set: point it at an Apache Kafka (>= 3.3) "
                                 "distribution to use the kafka target")
    p = Path(home)
    if not (p / "bin" / "kafka-server-start.sh").is_file():
        raise TargetNotInstalled(f"KAFKA_HOME={home} has no bin/kafka-server-start.sh")
    return p


class KafkaTarget(Target):
    name: ClassVar[str] = "kafka"
    answers_fetch_on_data: ClassVar[bool] = True
    faults: ClassVar[frozenset[str]] = frozenset(
        {"kill", "pause", "clock", "partition", "loss", "bandwidth", "slow", "reset"})
    max_nodes: ClassVar[int] = 5
    services: ClassVar[tuple[str, ...]] = ("kafka", "controller")
    start_timeout_s: ClassVar[float] = 90.0

    @classmethod
    def check_installed(cls) -> None:
        kafka_home()

    def properties(self, spec: NodeSpec) -> str:
        n = len(spec.ids)
        ctl = dict(spec.peers.get("controller", {}))
        ctl[spec.name] = spec.service_listen["controller"]
        voters = ",".join(f"{spec.ids[name]}@{h}:{p}"
                          for name, (h, p) in sorted(ctl.items(), key=lambda kv: spec.ids[kv[0]]))
        rf = min(3, n)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(spec.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{spec.listen[0]}:{spec.listen[1]},"
                         f"CONTROLLER://{spec.service_listen['controller'][0]}:"
                         f"{spec.service_listen['controller'][1]}",
            "advertised.listeners": f"PLAINTEXT://{spec.advertise[0]}:{spec.advertise[1]}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(spec.data_dir / "log"),
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(max(1, rf - 1)),
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(max(1, rf - 1)),
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.config)
        props.update(spec.config)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def prepare(self, specs: Sequence[NodeSpec]) -> None:
        home = kafka_home()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        for spec in specs:
            spec.data_dir.mkdir(parents=True, exist_ok=True)
            conf = spec.data_dir / "server.properties"
            conf.write_text(self.properties(spec))
            p = subprocess.run([str(home / "bin" / "kafka-storage.sh"), "format", "-t",
                                cluster_id, "-c", str(conf)], capture_output=True, text=True,
                               timeout=120)
            if p.returncode != 0:
                raise TargetNotInstalled(f"kafka-storage.sh format failed for {spec.name}: "
                                         f"{p.stderr.strip() or p.stdout.strip()}")

    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        home = kafka_home()
        env = {"LOG_DIR": str(spec.data_dir / "logs"),
               "KAFKA_HEAP_OPTS": self.config.get("heap", "-Xmx512m -Xms256m")}
        return [str(home / "bin" / "kafka-server-start.sh"),
                str(spec.data_dir / "server.properties")], env

    def ready_line(self, spec: NodeSpec) -> str | None:
        return "Kafka Server started"
