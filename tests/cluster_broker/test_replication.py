"""Replication factors below the cluster size, the ISR and min.insync.replicas, on real
3-node clusters with kafka-python and confluent-kafka."""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
import pytest

from reference_broker.cluster import TopicCommand, assign_replicas
from reference_broker.config import ConfigError, broker_config, validate_topic_configs
from tests.broker._wire import Wire, make_batch, produce
from tests.cluster_broker.conftest import RaftCluster

LEADER_NOT_AVAILABLE = 5
NOT_LEADER_OR_FOLLOWER = 6
INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
LAG_MS = 1000  # replica.lag.time.max.ms of the ISR test clusters


def _create(cluster: RaftCluster, name: str, partitions: int, rf: int,
            configs: dict[str, str] | None = None,
            assignments: dict[int, list[int]] | None = None) -> Any:
    """The CreateTopics (v7) result of one topic, asked of node 1."""
    from kafka.protocol.admin import CreateTopicsRequest

    T = CreateTopicsRequest.CreatableTopic
    cfgs = [T.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()]
    given = [T.CreatableReplicaAssignment(partition_index=i, broker_ids=b)
             for i, b in (assignments or {}).items()]
    with Wire(cluster.address(1)) as w:
        resp = w.call(CreateTopicsRequest(version=7, topics=[T(
            name=name, num_partitions=partitions, replication_factor=rf, assignments=given,
            configs=cfgs)], timeout_ms=5000))
    return resp.topics[0]


def _partitions(cluster: RaftCluster, node: int, topic: str) -> dict[int, Any]:
    (t,) = cluster.metadata(node, [topic]).topics
    return {p.partition_index: p for p in t.partitions}


def _wait(what: str, ok: Callable[[], bool], timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def _agreed(cluster: RaftCluster, topic: str, partitions: int) -> bool:
    """Every node names the same live leader for every partition."""
    for i in range(partitions):
        leader = cluster.leader(topic, i)
        if leader is None or leader not in cluster.alive():
            return False
    return True


def test_assign_replicas_round_robin_from_the_partition_index() -> None:
    assert assign_replicas([3, 1, 2], 4, 2) == [[1, 2], [2, 3], [3, 1], [1, 2]]
    assert assign_replicas([1, 2, 3], 2, 3) == [[1, 2, 3], [2, 3, 1]]
    with pytest.raises(ValueError, match="replication factor 4"):
        assign_replicas([1, 2, 3], 1, 4)


def test_topic_commands_written_before_replicas_existed_still_decode() -> None:
    old = msgspec.msgpack.encode(["t", 2, {}, "id"])  # name, partitions, configs, id
    cmd = msgspec.msgpack.decode(old, type=TopicCommand)
    assert cmd.replicas == []  # every node replicates every partition
    new = TopicCommand("t", 2, {}, "id", [[1, 2], [2, 3]])
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(new), type=TopicCommand) == new


def test_replication_configs_parse_and_refuse_bad_values() -> None:
    cfg = broker_config({"min.insync.replicas": "2", "default.replication.factor": "1",
                         "replica.lag.time.max.ms": "500"})
    assert cfg.log.min_insync_replicas == 2 and cfg.default_replication_factor == 1
    assert cfg.replica_lag_time_max_ms == 500
    assert broker_config({}).replica_lag_time_max_ms == 30000
    assert cfg.topic_config({"min.insync.replicas": "3"}).min_insync_replicas == 3
    for key in ("min.insync.replicas", "default.replication.factor",
                "replica.lag.time.max.ms"):
        with pytest.raises(ConfigError, match=re.escape(key)):
            broker_config({key: "0"})
    with pytest.raises(ConfigError, match=r"min\.insync\.replicas"):
        validate_topic_configs({"min.insync.replicas": "many"})


def test_rf1_and_rf2_topics_on_three_nodes(cluster: RaftCluster) -> None:
    import confluent_kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    suffix = uuid.uuid4().hex[:6]
    topics = {1: f"rf1-{suffix}", 2: f"rf2-{suffix}"}
    for rf, name in topics.items():
        res = _create(cluster, name, 3, rf)
        assert res.error_code == 0 and res.replication_factor == rf, res
    for rf, name in topics.items():
        _wait(f"{name}: all nodes agree on the leaders", partial(_agreed, cluster, name, 3))
        want = assign_replicas([1, 2, 3], 3, rf)
        for node in (1, 2, 3):
            for i, p in _partitions(cluster, node, name).items():
                assert p.error_code == 0, (node, name, i, p)
                assert sorted(p.replica_nodes) == sorted(want[i]), (node, name, i, p)
                assert p.leader_id in want[i] and p.leader_id in p.isr_nodes
                assert set(p.isr_nodes) <= set(want[i])
    # A node that is not a replica runs no group: it refuses, the client re-routes.
    (outsider,) = {1, 2, 3} - set(assign_replicas([1, 2, 3], 1, 2)[0])
    with Wire(cluster.address(outsider)) as w:
        assert produce(w, topics[2], make_batch(1), partition=0)[0] == NOT_LEADER_OR_FOLLOWER

    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap.split(","), acks="all")
    cp = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    errors: list[object] = []
    for name in topics.values():
        futures = [kp.send(name, value=b"kp-%d" % i, partition=i % 3) for i in range(30)]
        kp.flush(20)
        assert all(f.get(10).offset >= 0 for f in futures)
        for i in range(30):
            cp.produce(name, value=b"ck-%d" % i, partition=i % 3,
                       on_delivery=lambda err, msg: errors.append(err) if err else None)
        assert cp.flush(20) == 0 and not errors
    kp.close()
    want_values = sorted([b"kp-%d" % i for i in range(30)] + [b"ck-%d" % i for i in range(30)])

    for name in topics.values():
        kc = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                           enable_auto_commit=False, consumer_timeout_ms=5000)
        kc.assign([TopicPartition(name, i) for i in range(3)])
        kc.seek_to_beginning()
        read = []
        for m in kc:
            read.append(m.value)
            if len(read) == len(want_values):
                break
        kc.close()
        assert sorted(read) == want_values, name
        cc = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap,
                                       "group.id": "g-" + name, "enable.auto.commit": False})
        cc.assign([confluent_kafka.TopicPartition(name, i, confluent_kafka.OFFSET_BEGINNING)
                   for i in range(3)])
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while len(got) < len(want_values) and time.monotonic() < deadline:
            m = cc.poll(0.2)
            value = m.value() if m is not None and m.error() is None else None
            if value is not None:
                got.append(value)
        cc.close()
        assert sorted(got) == want_values, name


def test_replication_factor_beyond_the_cluster_is_refused(cluster: RaftCluster) -> None:
    res = _create(cluster, "rf4", 1, 4)
    assert res.error_code == INVALID_REPLICATION_FACTOR
    assert "4" in res.error_message and "3" in res.error_message, res.error_message
    assert _create(cluster, "rf0", 1, 0).error_code == INVALID_REPLICATION_FACTOR
    bad = _create(cluster, "assigned-bad", -1, -1, assignments={0: [1, 4]})
    assert bad.error_code == INVALID_REPLICA_ASSIGNMENT, bad
    good = _create(cluster, "assigned", -1, -1, assignments={0: [2, 3], 1: [3, 1]})
    assert good.error_code == 0 and good.replication_factor == 2, good
    _wait("assigned: leaders agreed", lambda: _agreed(cluster, "assigned", 2))
    parts = _partitions(cluster, 1, "assigned")
    assert sorted(parts[0].replica_nodes) == [2, 3]
    assert sorted(parts[1].replica_nodes) == [1, 3]
    for node in (1, 2, 3):  # nothing of a refused topic exists anywhere
        (t,) = cluster.metadata(node, ["rf4"]).topics
        assert t.error_code != 0 and not t.partitions


def test_non_replicas_name_the_leader_until_it_dies(cluster: RaftCluster) -> None:
    """Nodes 1 and 3 do not replicate ``solo`` (only node 2 does): they name node 2
    while it announces itself, and LEADER_NOT_AVAILABLE once it is killed."""
    assert _create(cluster, "solo", -1, -1, assignments={0: [2]}).error_code == 0
    _wait("solo: every node names node 2", lambda: cluster.leader("solo") == 2)
    for node in (1, 3):
        p = _partitions(cluster, node, "solo")[0]
        assert p.replica_nodes == [2] and p.isr_nodes == [2], p
    cluster.kill(2)
    _wait("nodes 1 and 3 forget the dead leader",
          lambda: all(_partitions(cluster, n, "solo")[0].leader_id == -1 for n in (1, 3)))
    p = _partitions(cluster, 1, "solo")[0]
    assert p.error_code == LEADER_NOT_AVAILABLE and p.replica_nodes == [2], p


def _isr(cluster: RaftCluster, node: int, topic: str) -> list[int]:
    return sorted(_partitions(cluster, node, topic)[0].isr_nodes)


def test_min_insync_replicas_with_a_paused_follower(
        cluster_factory: Callable[..., RaftCluster]) -> None:
    """min.insync.replicas=3, one follower SIGSTOPped: once it left the ISR, acks=all
    gets NOT_ENOUGH_REPLICAS (and none of those records is ever read) while acks=1
    goes on; after SIGCONT it rejoins the ISR and acks=all succeeds again."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.protocol.metadata import MetadataRequest

    cluster = cluster_factory(config=[f"replica.lag.time.max.ms={LAG_MS}",
                                      "default.replication.factor=2"])
    with Wire(cluster.address(3)) as w:  # auto-created with the default factor
        md = w.call(MetadataRequest[8](topics=["auto"], allow_auto_topic_creation=True,
                                       include_cluster_authorized_operations=False,
                                       include_topic_authorized_operations=False))
    assert md.topics[0].error_code in (0, 5), md  # 5: no leader elected yet
    _wait("auto: a leader", lambda: cluster.leader("auto") is not None)
    assert len(_partitions(cluster, 1, "auto")[0].replica_nodes) == 2
    topic = "min-isr"
    res = _create(cluster, topic, 1, 3, configs={"min.insync.replicas": "3"})
    assert res.error_code == 0, res
    leader = cluster.wait_leader(topic)
    _wait("full ISR", lambda: _isr(cluster, leader, topic) == [1, 2, 3])
    paused, other = [n for n in (1, 2, 3) if n != leader]
    servers = [f"127.0.0.1:{cluster.ports[n]}" for n in (leader, other)]
    all_p = KafkaProducer(bootstrap_servers=servers, acks="all", retries=0,
                          request_timeout_ms=5000)
    one_p = KafkaProducer(bootstrap_servers=servers, acks=1, retries=0)
    acked: list[bytes] = []
    refused: list[bytes] = []

    def send(p: KafkaProducer, value: bytes) -> None:
        try:
            p.send(topic, value=value, partition=0).get(10)
            acked.append(value)
        except Exception as exc:  # the client's error names the broker's
            assert "NotEnoughReplicas" in type(exc).__name__, repr(exc)
            refused.append(value)

    try:
        send(all_p, b"before")
        assert acked == [b"before"]
        cluster.procs[paused].send_signal(signal.SIGSTOP)
        _wait("the paused follower leaves the ISR",
              lambda: _isr(cluster, leader, topic) == sorted([leader, other]))
        _wait("the other follower hears of the smaller ISR",
              lambda: _isr(cluster, other, topic) == sorted([leader, other]), 3.0)
        for i in range(5):
            send(all_p, b"refused-%d" % i)
        assert refused == [b"refused-%d" % i for i in range(5)], (acked, refused)
        send(one_p, b"acks1")  # not gated
        assert acked[-1] == b"acks1"
    finally:
        cluster.procs[paused].send_signal(signal.SIGCONT)
    _wait("the follower rejoins the ISR", lambda: _isr(cluster, leader, topic) == [1, 2, 3])
    send(all_p, b"after")
    assert acked[-1] == b"after" and len(refused) == 5
    all_p.close()
    one_p.close()

    kc = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                       enable_auto_commit=False, consumer_timeout_ms=5000)
    kc.assign([TopicPartition(topic, 0)])
    kc.seek_to_beginning()
    read = []
    for m in kc:  # a refused record would sit before "after", the last one sent
        read.append(m.value)
        if m.value == b"after":
            break
    kc.close()
    assert read == [b"before", b"acks1", b"after"], read
