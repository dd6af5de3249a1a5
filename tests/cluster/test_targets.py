"""Each target starts real brokers on each backend and real clients reach them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from harness.cluster import (
    Cluster,
    ExternalTarget,
    KafkaTarget,
    NodeSpec,
    ReferenceTarget,
    TansuTarget,
    TargetNotInstalled,
)
from harness.errors import UsageError
from harness.nemesis import Kill, ListRecorder, Nemesis, Partition

MakeCluster = Callable[..., Cluster]


def roundtrip(bootstrap: str, topic: str, values: list[bytes],
              timeout_s: float = 20) -> list[bytes]:
    """Produce ``values`` (acks=all) and read the partition back from the start."""
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    try:
        for v in values:
            p.send(topic, v, partition=0).get(timeout=timeout_s)
    finally:
        p.close(timeout=5)
    return read_all(bootstrap, topic)


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=2000, auto_offset_reset="earliest")
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        return [m.value for m in c]
    finally:
        c.close()


# tansu -----------------------------------------------------------------------------

def test_tansu_serves_clients_and_declares_loss_on_kill(make_cluster: MakeCluster,
                                                       backend_name: str) -> None:
    c = make_cluster(backend_name, 1, target=TansuTarget())
    assert TansuTarget.loses_data_on_kill
    topic = f"t{uuid.uuid4().hex[:8]}"
    assert roundtrip(c.bootstrap_servers(), topic, [b"a", b"b"]) == [b"a", b"b"]
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, __import__("random").Random(1))
    nem.start(Kill())
    nem.stop(Kill())
    assert rec.fs() == ["kill", "start"]
    # memory storage: the restarted node has forgotten everything, as declared
    assert read_all(c.bootstrap_servers(), topic) == []


def test_tansu_stops_despite_connected_clients(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 1, target=TansuTarget())
    p = KafkaProducer(bootstrap_servers=c.bootstrap_servers())
    try:
        p.send("held", b"x").get(timeout=10)
        t0 = time.monotonic()
        c.stop_node("n1")  # SIGINT (tansu ignores SIGTERM while clients are connected)
        assert not c.alive("n1")
        assert time.monotonic() - t0 < 4.5
    finally:
        p.close(timeout=1)


def test_tansu_refuses_more_than_one_node() -> None:
    with pytest.raises(UsageError, match=r"runs 1\.\.1 nodes, not 3"):
        Cluster(TansuTarget(), None, 3)


def test_missing_tansu_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("LOGTRIAL_TANSU_BIN", str(tmp_path / "nope" / "tansu"))
    with pytest.raises(TargetNotInstalled, match="is not an executable file"):
        Cluster(TansuTarget(), None, 1)


def test_tansu_partition_is_refused_for_one_node(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 1, target=TansuTarget())
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), __import__("random").Random(1))
    with pytest.raises(UsageError, match="tansu target does not support the 'partition'"):
        nem.check([Partition()])


# reference -------------------------------------------------------------------------

def test_reference_single_node_roundtrip(make_cluster: MakeCluster, backend_name: str) -> None:
    c = make_cluster(backend_name, 1, target=ReferenceTarget())
    assert roundtrip(c.bootstrap_servers(), "ref", [b"1", b"2", b"3"]) == [b"1", b"2", b"3"]


def test_reference_three_independent_nodes(make_cluster: MakeCluster) -> None:
    c = make_cluster("netns" if os.geteuid() == 0 else "proxy", 3,
                     target=ReferenceTarget(independent=True))
    for n in c.nodes:
        h, p = c.backend.addr("client", n, "kafka")
        assert roundtrip(f"{h}:{p}", f"t-{n}", [n.encode()]) == [n.encode()]


def test_reference_command_line() -> None:
    spec = NodeSpec(name="n2", node_id=2, data_dir=Path("/d/n2"), listen=("10.1.1.12", 9092),
                    advertise=("10.1.1.12", 9092), service_listen={"kafka": ("10.1.1.12", 9092)},
                    peers={"kafka": {"n1": ("127.0.0.1", 5001), "n3": ("127.0.0.1", 5003)}},
                    ids={"n1": 1, "n2": 2, "n3": 3}, config={"num.partitions": "3"})
    argv, _ = ReferenceTarget(independent=False, python="py").command(spec)
    assert argv == ["py", "-m", "reference_broker", "--node-id", "2", "--listen",
                    "10.1.1.12:9092", "--advertise", "10.1.1.12:9092", "--data-dir", "/d/n2",
                    "--peers", "1=127.0.0.1:5001,2=10.1.1.12:9092,3=127.0.0.1:5003",
                    "--config", "num.partitions=3"]


# kafka -----------------------------------------------------------------------------

def test_kafka_properties_are_kraft_combined() -> None:
    spec = NodeSpec(name="n1", node_id=1, data_dir=Path("/d/n1"), listen=("127.0.0.1", 1),
                    advertise=("127.0.0.1", 11),
                    service_listen={"kafka": ("127.0.0.1", 1), "controller": ("127.0.0.1", 2)},
                    peers={"kafka": {}, "controller": {"n2": ("127.0.0.1", 22),
                                                       "n3": ("127.0.0.1", 33)}},
                    ids={"n1": 1, "n2": 2, "n3": 3}, config={})
    props = dict(line.split("=", 1) for line in KafkaTarget().properties(spec).splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2,2@127.0.0.1:22,3@127.0.0.1:33"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:11"
    assert props["min.insync.replicas"] == "2"


def test_kafka_cluster_starts(make_cluster: MakeCluster) -> None:
    if not os.environ.get("KAFKA_HOME"):
        pytest.skip("KAFKA_HOME not set")
    c = make_cluster("proxy", 3, target=KafkaTarget())
    assert roundtrip(c.bootstrap_servers(), "k", [b"x"], timeout_s=60) == [b"x"]


def test_kafka_without_home_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    with pytest.raises(TargetNotInstalled, match="KAFKA_HOME not set"):
        Cluster(KafkaTarget(), None, 3)


# external --------------------------------------------------------------------------

def test_external_target_has_bootstrap_and_no_faults() -> None:
    t = ExternalTarget(bootstrap="h1:9092, h2:9093")
    with Cluster(t, None, 0) as c:
        assert c.bootstrap_servers() == "h1:9092,h2:9093"
        nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), __import__("random").Random(1))
        with pytest.raises(UsageError, match="external target does not support the 'kill'"):
            nem.check([Kill()])


@pytest.mark.parametrize("bad", ["", "h1", "h1:x", "h1:9092,:1", "h:70000"])
def test_external_bad_bootstrap(bad: str) -> None:
    with pytest.raises(UsageError, match="bootstrap"):
        ExternalTarget(bootstrap=bad)


def test_reference_cluster_sees_a_leader_partition(make_cluster: MakeCluster,
                                                   backend_name: str) -> None:
    """The broker's own view: isolating the leader makes the majority elect another."""
    import random

    from kafka.admin import KafkaAdminClient, NewTopic

    from harness.cluster.targets.reference import _accepts_peers
    from harness.nemesis import metadata_leader
    if not _accepts_peers(ReferenceTarget().python):
        pytest.skip("the reference broker has no --peers yet (its Raft cluster has not landed)")
    c = make_cluster(backend_name, 3, target=ReferenceTarget())
    admin = KafkaAdminClient(bootstrap_servers=c.bootstrap_servers(), request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic("led3", num_partitions=1, replication_factor=3)])
    finally:
        admin.close()
    deadline = time.monotonic() + 30
    leader = None
    while leader is None and time.monotonic() < deadline:
        leader = metadata_leader(c, "led3", 0)
    assert leader is not None
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0), leader_of=lambda: leader)
    nem.start(Partition(topology="leader"))
    majority = [n for n in c.nodes if n != leader]
    view = ",".join("{}:{}".format(*c.backend.addr("client", n, "kafka")) for n in majority)
    new = None
    while time.monotonic() < deadline + 30:
        a = KafkaAdminClient(bootstrap_servers=view, request_timeout_ms=3000)
        try:
            parts = a.describe_topics(["led3"])[0]["partitions"]
            new = parts[0].get("leader_id")
        except Exception:
            new = None
        finally:
            a.close()
        if new is not None and c.ids.get(leader) != new and new in (c.ids[n] for n in majority):
            break
        time.sleep(0.5)
    assert new in (c.ids[n] for n in majority), f"majority still reports leader {new}"
    nem.heal()
