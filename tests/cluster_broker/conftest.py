"""Fixtures: real 3-node reference-broker clusters on loopback, one process per node.

`cluster_factory(bugs=..., config=["KEY=VALUE", ...])` starts nodes 1..3 with
``--peers`` naming each other's listeners (broker-to-broker RPC shares the Kafka
listener) and those broker configs, waits for their ready
lines and for a controller leader, and kills every node in teardown, whatever
happened. `RaftCluster.kill(n)` (SIGKILL) / `.start(n)` drive failover tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.cluster._proxy import free_port
from tests.broker._wire import Wire

ROOT = Path(__file__).resolve().parents[2]
READY = "reference-broker ready on "
ELECTION_TIMEOUT_MS = 500  # timeouts are drawn from [500, 1000] ms
START_TIMEOUT_S = 30.0


class RaftCluster:
    """Three broker processes; node ids 1..3."""

    def __init__(self, base: Path, bugs: Sequence[str], config: Sequence[str] = ()) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.bugs = tuple(bugs)
        self.config = tuple(config)
        self.ports = {n: free_port() for n in (1, 2, 3)}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.logs: dict[int, Path] = {}  # each node's stderr (its latest start)
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports.values())

    def address(self, n: int) -> tuple[str, int]:
        return "127.0.0.1", self.ports[n]

    def alive(self) -> list[int]:
        return [n for n, p in self.procs.items() if p.poll() is None]

    def start(self, n: int) -> None:
        self.starts += 1
        peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in self.ports.items())
        cmd = [sys.executable, "-m", "reference_broker", "--node-id", str(n),
               "--listen", f"127.0.0.1:{self.ports[n]}", "--data-dir",
               str(self.base / f"n{n}"), "--peers", peers,
               "--election-timeout-ms", str(ELECTION_TIMEOUT_MS)]
        for b in self.bugs:
            cmd += ["--bug", b]
        for pair in self.config:
            cmd += ["--config", pair]
        err_path = self.logs[n] = self.base / f"n{n}-{self.starts}.err"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(err_path, "wb") as err:
            self.procs[n] = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                             stderr=err)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if READY in err_path.read_text(errors="replace"):
                return
            if self.procs[n].poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"node {n} did not start:\n{err_path.read_text()[-3000:]}")

    def wait_acquainted(self, timeout_s: float = 10.0) -> None:
        """Wait until every node lists every broker in Metadata (each has heard the
        others' hello): before that a client may be sent to a controller it cannot
        resolve (kafka-python: UnknownBrokerIdError)."""
        deadline = time.monotonic() + timeout_s
        for n in self.alive():
            while len(self.metadata(n, []).brokers) < len(self.ports):
                if time.monotonic() > deadline:
                    raise AssertionError(f"node {n} does not know every broker after "
                                         f"{timeout_s} s")
                time.sleep(0.05)

    def kill(self, n: int) -> None:
        p = self.procs[n]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            p.wait(timeout=10)

    def metadata(self, n: int, topics: Sequence[str] | None) -> Any:
        from kafka.protocol.metadata import MetadataRequest

        with Wire(self.address(n), timeout_s=5) as w:
            return w.call(MetadataRequest[8](topics=list(topics) if topics is not None
                                             else None, allow_auto_topic_creation=False,
                                             include_cluster_authorized_operations=False,
                                             include_topic_authorized_operations=False))

    def leader(self, topic: str, partition: int = 0, among: Sequence[int] | None = None
               ) -> int | None:
        """The leader the live nodes (or ``among``) agree on, if they all report one."""
        seen = set()
        for n in among or self.alive():
            try:
                md = self.metadata(n, [topic])
            except OSError:
                return None
            parts = [p for t in md.topics for p in t.partitions if p.partition_index == partition]
            if not parts or parts[0].leader_id < 0:
                return None
            seen.add(parts[0].leader_id)
        return seen.pop() if len(seen) == 1 else None

    def serves(self, node: int, topic: str, partition: int = 0) -> bool:
        """Whether ``node`` answers ListOffsets for the partition: a newly elected leader
        is named in Metadata (by itself and by the followers it reached) before it has
        committed its no-op, and until then refuses produces with NOT_LEADER_OR_FOLLOWER,
        which a test that sends exactly once would count as a failed write."""
        from tests.broker._wire import list_offset

        try:
            with Wire(self.address(node), timeout_s=2) as w:
                list_offset(w, topic, -1, partition=partition)
        except (OSError, AssertionError):
            return False
        return True

    def wait_leader(self, topic: str, partition: int = 0, *, not_: int | None = None,
                    timeout_s: float = 20.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.leader(topic, partition)
            if leader is not None and leader != not_ and leader in self.alive() \
                    and self.serves(leader, topic, partition):
                return leader
            time.sleep(0.05)
        raise AssertionError(f"no leader for {topic}-{partition} within {timeout_s} s")

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","),
                                 request_timeout_ms=10000)
        try:
            admin.create_topics([NewTopic(name, partitions, 3)], timeout_ms=10000)
        finally:
            admin.close()
        for p in range(partitions):
            self.wait_leader(name, p)


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., RaftCluster]]:
    made: list[RaftCluster] = []

    def make(bugs: Sequence[str] = (), config: Sequence[str] = ()) -> RaftCluster:
        c = RaftCluster(tmp_path / f"c{len(made)}", bugs, config)
        made.append(c)
        for n in (1, 2, 3):
            c.start(n)
        c.wait_acquainted()
        return c

    try:
        yield make
    finally:
        for c in made:
            c.stop_all()


@pytest.fixture
def cluster(cluster_factory: Callable[..., RaftCluster]) -> RaftCluster:
    return cluster_factory()
