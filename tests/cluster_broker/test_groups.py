"""Group coordinators keep their state in the replicated ``__consumer_offsets``: after
the coordinator is SIGKILLed a new one is found with every committed offset, consumers
resume from them and groups keep working; a full-cluster restart keeps all committed
records and offsets (`reference_broker.cluster.groups`)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.broker._wire import Wire
from tests.cluster_broker.conftest import RaftCluster

NONE = 0
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16


def _create_topic(cluster: RaftCluster, name: str, partitions: int = 1) -> None:
    """`RaftCluster.create_topic` once every node lists every broker (kafka-python's
    admin client fails on a controller id missing from the broker list)."""
    deadline = time.monotonic() + 10
    while any(len(cluster.metadata(n, []).brokers) < 3 for n in (1, 2, 3)):
        assert time.monotonic() < deadline, "the nodes do not all know each other"
        time.sleep(0.05)
    cluster.create_topic(name, partitions)


def _live(cluster: RaftCluster) -> list[str]:
    """Bootstrap addresses of the live nodes: kafka-python 3.0 can fail a request it
    routed to a dead bootstrap node instead of trying another."""
    return [f"127.0.0.1:{cluster.ports[n]}" for n in cluster.alive()]


def _find_coordinator(cluster: RaftCluster, group: str, *, not_: int | None = None,
                      timeout_s: float = 10.0) -> int:
    """The coordinator every live node names for ``group`` (and not ``not_``)."""
    from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest

    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen = set()
        for n in cluster.alive():
            try:
                with Wire(cluster.address(n), timeout_s=3) as w:
                    r = w.call(FindCoordinatorRequest(version=1, key=group, key_type=0))
            except OSError:
                seen.add(-1)
                continue
            seen.add(r.node_id if r.error_code == NONE else -1)
        if len(seen) == 1 and (node := seen.pop()) in cluster.alive() and node != not_:
            assert cluster.ports[node] in (p for p in cluster.ports.values())
            return node
        time.sleep(0.05)
    raise AssertionError(f"no agreed coordinator for {group} within {timeout_s} s: {seen}")


def _fetch_offsets(cluster: RaftCluster, node: int, group: str, topic: str,
                   partitions: int, timeout_s: float = 10.0) -> dict[int, int]:
    """OffsetFetch v3 from ``node``, retried while it is still loading the group."""
    from kafka.protocol.consumer.group import OffsetFetchRequest

    deadline = time.monotonic() + timeout_s
    while True:
        with Wire(cluster.address(node), timeout_s=5) as w:
            r = w.call(OffsetFetchRequest(version=3, group_id=group, topics=[
                OffsetFetchRequest.OffsetFetchRequestTopic(
                    name=topic, partition_indexes=list(range(partitions)))]))
        if r.error_code == NONE:
            return {p.partition_index: p.committed_offset
                    for t in r.topics for p in t.partitions}
        assert time.monotonic() < deadline, f"OffsetFetch error {r.error_code}"
        time.sleep(0.1)


def _produce(cluster: RaftCluster, topic: str, per_partition: int, partitions: int,
             first: int = 0) -> None:
    """Values ``b"<partition>-<i>"`` for i in first..first + per_partition - 1."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=_live(cluster), acks="all",
                      enable_idempotence=True)
    futures = [p.send(topic, value=b"%d-%d" % (part, i), partition=part)
               for part in range(partitions) for i in range(first, first + per_partition)]
    p.flush(20)
    assert all(f.get(10).offset >= 0 for f in futures)
    p.close()


def _kp_commit(cluster: RaftCluster, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit with kafka-python as a consumer that stores offsets without joining."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    c = KafkaConsumer(bootstrap_servers=_live(cluster), group_id=group,
                      enable_auto_commit=False)
    c.assign([TopicPartition(t, p) for t, p in offsets])
    c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
              for (t, p), o in offsets.items()})
    c.close(autocommit=False)


def _ck_commit(cluster: RaftCluster, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit with confluent-kafka (synchronously: acknowledged once it returns)."""
    import confluent_kafka

    c = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                                  "enable.auto.commit": False})
    try:
        parts = c.commit(offsets=[confluent_kafka.TopicPartition(t, p, o)
                                  for (t, p), o in offsets.items()], asynchronous=False)
        assert parts is not None and all(tp.error is None for tp in parts), parts
    finally:
        c.close()


def _ck_consume_from_committed(cluster: RaftCluster, group: str, topic: str, partition: int,
                               n: int, timeout_s: float = 10.0) -> list[int]:
    """Offsets read by a confluent-kafka consumer assigned (no join) to one partition:
    it starts at the group's committed offset."""
    import confluent_kafka

    c = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                                  "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest"})
    try:
        c.assign([confluent_kafka.TopicPartition(topic, partition)])
        out: list[int] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None and m.offset() is not None:
                out.append(int(m.offset() or 0))
        return out
    finally:
        c.close()


def test_committed_offsets_survive_a_coordinator_kill(cluster: RaftCluster) -> None:
    topic = "g-" + uuid.uuid4().hex[:6]
    _create_topic(cluster, topic, partitions=2)
    _produce(cluster, topic, 10, 2)
    kp_group, ck_group = "kp-" + topic, "ck-" + topic
    _kp_commit(cluster, kp_group, {(topic, 0): 3, (topic, 1): 7})
    _ck_commit(cluster, ck_group, {(topic, 0): 5, (topic, 1): 2})
    victim = _find_coordinator(cluster, kp_group)
    cluster.kill(victim)
    for group, want in ((kp_group, {0: 3, 1: 7}), (ck_group, {0: 5, 1: 2})):
        node = _find_coordinator(cluster, group, not_=victim)
        assert _fetch_offsets(cluster, node, group, topic, 2) == want, group
    # A consumer of the group resumes where it committed (kafka-python committed,
    # confluent-kafka reads).
    assert _ck_consume_from_committed(cluster, kp_group, topic, 1, 3) == [7, 8, 9]
    # The other nodes answer NOT_COORDINATOR, so clients rediscover.
    from kafka.protocol.consumer.group import OffsetFetchRequest

    coordinator = _find_coordinator(cluster, kp_group)
    (other,) = [n for n in cluster.alive() if n != coordinator]
    with Wire(cluster.address(other)) as w:
        r = w.call(OffsetFetchRequest(version=3, group_id=kp_group, topics=None))
    assert r.error_code == NOT_COORDINATOR


def test_offsets_never_go_back_when_the_leadership_flips_back(cluster: RaftCluster) -> None:
    """Commit 3 at A; kill A; commit 7 at the next coordinator B; restart A, kill B:
    whoever coordinates now (A again, or C) has 7, never the 3 A once knew."""
    topic = "f-" + uuid.uuid4().hex[:6]
    group = "grp-" + topic
    _create_topic(cluster, topic)
    _produce(cluster, topic, 10, 1)
    _ck_commit(cluster, group, {(topic, 0): 3})
    first = _find_coordinator(cluster, group)
    cluster.kill(first)
    second = _find_coordinator(cluster, group, not_=first)
    _ck_commit(cluster, group, {(topic, 0): 7})
    assert _fetch_offsets(cluster, second, group, topic, 1) == {0: 7}
    cluster.start(first)
    time.sleep(1.0)  # let the restarted node catch up as a follower
    cluster.kill(second)
    third = _find_coordinator(cluster, group, not_=second)
    assert _fetch_offsets(cluster, third, group, topic, 1) == {0: 7}


def test_full_cluster_restart_keeps_records_and_offsets(cluster: RaftCluster) -> None:
    topic = "r-" + uuid.uuid4().hex[:6]
    _create_topic(cluster, topic, partitions=2)
    _produce(cluster, topic, 20, 2)
    groups = {f"grp-{i}-{topic}": {(topic, 0): 4 + i, (topic, 1): 10 + i} for i in range(4)}
    for i, (group, offsets) in enumerate(sorted(groups.items())):
        (_kp_commit if i % 2 else _ck_commit)(cluster, group, offsets)
    cluster.stop_all()  # SIGKILL all three: acknowledged means replicated and fsynced
    for n in (1, 2, 3):
        cluster.start(n)
    cluster.wait_leader(topic, 0)
    cluster.wait_leader(topic, 1)
    for group, offsets in groups.items():
        node = _find_coordinator(cluster, group)
        assert _fetch_offsets(cluster, node, group, topic, 2) == {
            p: o for (_, p), o in offsets.items()}, group
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                      enable_auto_commit=False, consumer_timeout_ms=8000)
    c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    c.seek_to_beginning()
    values = sorted(m.value for _, m in zip(range(40), c, strict=False))
    c.close()
    assert values == sorted(b"%d-%d" % (p, i) for p in (0, 1) for i in range(20))


def test_a_group_keeps_working_after_its_coordinator_fails_over(
        cluster: RaftCluster) -> None:
    from kafka import KafkaConsumer, TopicPartition

    topic = "w-" + uuid.uuid4().hex[:6]
    group = "grp-" + topic
    _create_topic(cluster, topic, partitions=2)
    _produce(cluster, topic, 10, 2)
    c = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap.split(","), group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      session_timeout_ms=6000, heartbeat_interval_ms=500,
                      request_timeout_ms=5000, retry_backoff_ms=100)
    try:
        seen = _poll_until(c, 20)
        assert sorted(seen) == sorted(b"%d-%d" % (p, i) for p in (0, 1) for i in range(10))
        assert {tp.partition for tp in c.assignment()} == {0, 1}
        c.commit()
        victim = _find_coordinator(cluster, group)
        cluster.kill(victim)
        _produce(cluster, topic, 5, 2, first=10)
        later = _poll_until(c, 10)
        assert sorted(later) == sorted(b"%d-%d" % (p, i) for p in (0, 1)
                                       for i in range(10, 15))
        assert {tp.partition for tp in c.assignment()} == {0, 1}
        c.commit()  # through the new coordinator, in the group's current generation
        # (positions count the leaders' no-op records too, so ask the consumer)
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        positions = {tp.partition: c.position(tp) for tp in tps}
        assert min(positions.values()) >= 15
        node = _find_coordinator(cluster, group, not_=victim)
        assert _fetch_offsets(cluster, node, group, topic, 2) == positions
        assert c.committed(tps[0]) == positions[0]
    finally:
        c.close(autocommit=False)


def _poll_until(c: Any, n: int, timeout_s: float = 12.0) -> list[bytes]:
    """Poll until ``n`` records came. kafka-python 3.0 may raise a connection error out
    of poll when it sent its coordinator lookup to the dead node; the consumer stays
    usable, so poll again."""
    from kafka.errors import KafkaConnectionError

    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        try:
            batches = c.poll(timeout_ms=200)
        except KafkaConnectionError:
            time.sleep(0.1)
            continue
        for msgs in batches.values():
            out.extend(m.value for m in msgs)
    assert len(out) >= n, f"read {len(out)} of {n} records"
    return out


def test_lost_group_commits_bug_loses_acknowledged_commits_on_failover(
        cluster_factory: Any) -> None:
    """The planted bug acknowledges commits that never reach the replicated log: the
    next coordinator does not know them (the same scenario without the bug is
    `test_committed_offsets_survive_a_coordinator_kill`)."""
    cluster = cluster_factory(bugs=["lost-group-commits"])
    topic = "b-" + uuid.uuid4().hex[:6]
    group = "grp-" + topic
    _create_topic(cluster, topic)
    _produce(cluster, topic, 5, 1)
    _kp_commit(cluster, group, {(topic, 0): 4})  # acknowledged
    victim = _find_coordinator(cluster, group)
    assert _fetch_offsets(cluster, victim, group, topic, 1) == {0: 4}  # in memory
    cluster.kill(victim)
    node = _find_coordinator(cluster, group, not_=victim)
    assert _fetch_offsets(cluster, node, group, topic, 1) == {0: -1}


def test_groups_map_to_partitions_as_in_kafka() -> None:
    from reference_broker.cluster.groups import partition_count, partition_for

    # Java's String.hashCode: "" -> 0, "hello" -> 99162322, and a string whose hash is
    # Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
    assert partition_for("", 50) == 0
    assert partition_for("hello", 50) == 99162322 % 50
    assert partition_for("polygenelubricants", 7) == 0
    assert partition_for("\u00e9t\u00e9", 1000) == (233 * 31 * 31 + 116 * 31 + 233) % 1000
    assert partition_count({}) == 3 and partition_count({"offsets.topic.num.partitions": "1"}) == 1
    for bad in ("0", "x", "-2"):
        try:
            partition_count({"offsets.topic.num.partitions": bad})
        except ValueError as exc:
            assert "offsets.topic.num.partitions" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_bad_offsets_partition_count_stops_a_cluster_node(tmp_path: Any) -> None:
    import subprocess
    import sys

    from harness.cluster._proxy import free_port

    port = free_port()
    peers = f"1=127.0.0.1:{port},2=127.0.0.1:{free_port()}"
    run = subprocess.run(
        [sys.executable, "-m", "reference_broker", "--node-id", "1", "--listen",
         f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "n1"), "--peers", peers,
         "--config", "offsets.topic.num.partitions=0"],
        capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert "offsets.topic.num.partitions='0': expected an integer >= 1" in run.stderr
    assert "Traceback" not in run.stderr


def test_nodes_outside_an_offsets_partition_route_its_groups_to_its_leader(
        cluster_factory: Any) -> None:
    """With ``offsets.topic.replication.factor=1`` partition i lives on node i + 1
    alone (`assign_replicas`); every node names that node as the coordinator of the
    partition's groups, which commit and fetch there."""
    from reference_broker.cluster.groups import partition_for

    cluster = cluster_factory(config=["offsets.topic.replication.factor=1"])
    topic = "o-" + uuid.uuid4().hex[:6]
    _create_topic(cluster, topic)
    groups: dict[int, str] = {}
    for i in range(40):
        gid = f"grp-{i}-{topic}"
        groups.setdefault(partition_for(gid, 3), gid)
        if len(groups) == 3:
            break
    for part, gid in sorted(groups.items()):
        assert _find_coordinator(cluster, gid) == part + 1
        _ck_commit(cluster, gid, {(topic, 0): part + 10})
        assert _fetch_offsets(cluster, part + 1, gid, topic, 1) == {0: part + 10}
    assert not (cluster.base / "n1" / "__consumer_offsets-1").exists()
