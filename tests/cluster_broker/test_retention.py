"""Retention of replicated logs on a real 3-node cluster: every replica deletes its
old segments below its commit index and moves its log start offset forward; a
follower paused across the deletion catches up through the leader's snapshot
(its log restarts at the leader's start offset) and serves the same data after it
takes over; the planted bug early-retention deletes young records there too."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reference_broker.protocol import errors
from tests.broker._wire import Wire, fetch, list_offset, make_batch, produce
from tests.cluster_broker.conftest import RaftCluster

TOPIC = "ret"
RETENTION_MS = 2500
CONFIG = ["log.retention.check.interval.ms=100"]


def _create(cluster: RaftCluster, retention_ms: int = RETENTION_MS) -> int:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    topic = NewTopic(TOPIC, 1, 3, topic_configs={"segment.bytes": "1024",
                                                 "retention.ms": str(retention_ms)})
    deadline = time.monotonic() + 10
    while True:  # right after start the client may not know the controller yet
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap.split(","),
                                 request_timeout_ms=10000)
        try:
            admin.create_topics([topic], timeout_ms=10000)
            break
        except TopicAlreadyExistsError:
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
        finally:
            admin.close()
    leader = cluster.wait_leader(TOPIC)
    with Wire(cluster.address(leader)) as w:
        _wait(lambda: _serves(w), 5, "the leader to commit its first entry")
    return leader


def _produce(cluster: RaftCluster, leader: int, batches: int, *, ts: int | None = None,
             tag: bytes = b"v") -> list[tuple[int, bytes]]:
    """``batches`` batches of 4 records (acks=all); their (offset, value)s."""
    out = []
    with Wire(cluster.address(leader)) as w:
        for i in range(batches):
            value = tag + b"%d-" % i
            code, base = produce(w, TOPIC, make_batch(4, ts=ts, value=value + b"x" * 40))
            assert code == 0, f"produce failed with error code {code}"
            out += [(base + k, value + b"x" * 40 + b"%d" % k) for k in range(4)]
    return out


def _start_offset(cluster: RaftCluster, n: int) -> int:
    """Node ``n``'s persisted log start offset of the partition."""
    text = (cluster.base / f"n{n}" / f"{TOPIC}-0" / "log-start-offset").read_text()
    return int(text.split()[1])


def _segments(cluster: RaftCluster, n: int) -> list[int]:
    return sorted(int(p.name[:20]) for p in (cluster.base / f"n{n}" / f"{TOPIC}-0").glob("*.log"))


def _end_of(cluster: RaftCluster, n: int) -> int:
    """The end offset of node ``n``'s partition log, read from its last segment."""
    from reference_broker import records

    segs = _segments(cluster, n)
    if not segs:
        return -1
    data = (cluster.base / f"n{n}" / f"{TOPIC}-0" / f"{segs[-1]:020d}.log").read_bytes()
    end = segs[-1]
    try:
        for _, h in records.iter_batches(data):
            end = h.next_offset
    except records.InvalidRecords:  # a batch being written: count what came before
        pass
    return end


def _first_segment(cluster: RaftCluster, n: int) -> int:
    """-1 while there is none (a reset replaces them all)."""
    return min(_segments(cluster, n), default=-1)


def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def _consume(cluster: RaftCluster, end: int) -> list[tuple[int, bytes]]:
    """Everything from the earliest offset to ``end``, read by kafka-python."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                      enable_auto_commit=False, consumer_timeout_ms=6000,
                      auto_offset_reset="earliest")
    try:
        tp = TopicPartition(TOPIC, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        for m in c:
            out.append((m.offset, m.value))
            if m.offset >= end - 1:
                break
        return out
    finally:
        c.close()


def _serves(w: Wire) -> bool:
    """Whether the node answers ListOffsets (a new leader does once its no-op commits)."""
    try:
        list_offset(w, TOPIC, -2)
    except AssertionError:
        return False
    return True


def _old_ts() -> int:
    return int(time.time() * 1000) - 10 * RETENTION_MS


def test_every_replica_deletes_old_segments(cluster_factory: Callable[..., RaftCluster]
                                            ) -> None:
    cluster = cluster_factory(config=CONFIG)
    leader = _create(cluster)
    _produce(cluster, leader, 30, ts=_old_ts())  # expired at once: ~10 segments
    young = _produce(cluster, leader, 3, tag=b"young")
    # The first segment also holds the leader's no-op (stamped now): once it expires,
    # every closed old segment goes, on every replica.
    _wait(lambda: all(_start_offset(cluster, n) > 0 and len(_segments(cluster, n)) <= 3
                      for n in (1, 2, 3)), 12, "every replica to delete its old segments")
    end = young[-1][0] + 1
    with Wire(cluster.address(leader)) as w:
        start = list_offset(w, TOPIC, -2)
        assert 0 < start <= young[0][0]
        assert list_offset(w, TOPIC, -1) == end
        below = fetch(w, TOPIC, start - 1)
        assert below.error_code == errors.OFFSET_OUT_OF_RANGE
        assert start <= below.log_start_offset <= young[0][0]  # only moves forward
    for n in (1, 2, 3):
        assert _start_offset(cluster, n) <= young[0][0]  # nothing young deleted
    got = dict(_consume(cluster, end))
    assert min(got) >= start  # (retention may have gone on meanwhile)
    assert all(got.get(off) == value for off, value in young)  # data above start intact
    # A replica restarted after compacting starts from its snapshot point and goes on
    # replicating (the point and its term are persisted).
    follower = next(n for n in (1, 2, 3) if n != leader)
    before = _start_offset(cluster, follower)
    cluster.kill(follower)
    cluster.start(follower)
    young += _produce(cluster, leader, 2, tag=b"later")
    end = young[-1][0] + 1
    _wait(lambda: _end_of(cluster, follower) >= end, 10, "the restarted replica to catch up")
    assert _start_offset(cluster, follower) >= before


def test_paused_follower_catches_up_through_the_snapshot(
        cluster_factory: Callable[..., RaftCluster]) -> None:
    cluster = cluster_factory(config=CONFIG)
    leader = _create(cluster)
    paused, other = (n for n in (1, 2, 3) if n != leader)
    cluster.procs[paused].send_signal(signal.SIGSTOP)
    try:
        # While it sleeps, its leader sends it a few AppendEntries (they wait in its
        # socket) and then only heartbeats, commits with the other follower, and
        # deletes the old segments.
        _produce(cluster, leader, 30, ts=_old_ts())
        _wait(lambda: _start_offset(cluster, leader) > 0, 10, "the leader's retention")
        young = _produce(cluster, leader, 3, tag=b"young")
        leader_start = _start_offset(cluster, leader)
        assert _start_offset(cluster, paused) == 0
    finally:
        cluster.procs[paused].send_signal(signal.SIGCONT)
    # What it lacks is gone from the leader: it gets the snapshot, empties its log
    # and restarts it at the leader's start offset.
    _wait(lambda: _start_offset(cluster, paused) >= leader_start
          and _first_segment(cluster, paused) >= leader_start, 10,
          "the paused follower to install the leader's snapshot")
    log_text = Path(cluster.logs[paused]).read_text(errors="replace")
    assert f"{TOPIC}-0: installed the leader's snapshot" in log_text, log_text[-3000:]
    assert "Traceback" not in log_text, log_text[-3000:]
    # Failover to it: records committed by the leader and it alone (the other follower
    # paused: it gets at most a pipeline's worth of them) make its log the more up to
    # date, so once the leader is killed only it can win the election.
    cluster.procs[other].send_signal(signal.SIGSTOP)
    try:
        young += _produce(cluster, leader, 12, tag=b"last")
        cluster.kill(leader)
    finally:
        cluster.procs[other].send_signal(signal.SIGCONT)
    new = cluster.wait_leader(TOPIC, not_=leader, timeout_s=10)
    assert new == paused
    end = young[-1][0] + 1
    with Wire(cluster.address(new)) as w:
        _wait(lambda: _serves(w), 5, "the new leader to commit its first entry")
        start = list_offset(w, TOPIC, -2)
        assert start == _start_offset(cluster, paused) and start <= young[0][0]
        assert list_offset(w, TOPIC, -1) >= end
        assert fetch(w, TOPIC, start - 1).error_code == errors.OFFSET_OUT_OF_RANGE
    got = dict(_consume(cluster, end))
    assert all(got.get(off) == value for off, value in young), "young records differ"
    # And it takes new writes at the next offsets.
    more = _produce(cluster, new, 1, tag=b"after")
    assert more[0][0] >= end


@pytest.mark.parametrize("bug", [False, True], ids=["correct", "early-retention"])
def test_early_retention_in_a_cluster(cluster_factory: Callable[..., RaftCluster],
                                      bug: bool) -> None:
    from reference_broker.cluster.storage import noop_batch

    cluster = cluster_factory(config=CONFIG, bugs=["early-retention"] if bug else [])
    retention_ms = 3000
    leader = _create(cluster, retention_ms)  # its no-op opens segment 0, stamped now
    time.sleep(1.5)  # so that the young records below outlive segment 0
    now = int(time.time() * 1000)
    old = now - 2 * retention_ms
    filler = 1024 - len(noop_batch(0)) - len(make_batch(1, value=b"")) - 30
    with Wire(cluster.address(leader)) as w:
        assert produce(w, TOPIC, make_batch(1, ts=old, value=b"f" * filler))[0] == 0
        # Segment 1: a first record long expired, then young ones; a batch too big
        # to share it closes it.
        first = produce(w, TOPIC, make_batch(1, ts=old))[1]
        young = produce(w, TOPIC, make_batch(2, ts=now, value=b"young"))[1]
        assert produce(w, TOPIC, make_batch(1, value=b"z" * 900))[0] == 0
        assert first in _segments(cluster, leader) and young + 2 in _segments(cluster, leader)
        # Segment 0 expires with its no-op; then the bug takes segment 1 along.
        _wait(lambda: list_offset(w, TOPIC, -2) > 0, 8, "segment 0 to expire")
        time.sleep(0.5)
        start = list_offset(w, TOPIC, -2)
        assert time.time() * 1000 - now < retention_ms - 300  # the young are still young
        if bug:
            assert start > young
            assert fetch(w, TOPIC, young).error_code == errors.OFFSET_OUT_OF_RANGE
        else:
            assert start == first
            assert fetch(w, TOPIC, young).error_code == 0
