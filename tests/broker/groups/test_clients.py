"""Real consumer groups (kafka-python and confluent-kafka) against a real broker process.

Two consumers in one group get disjoint assignments covering every partition; when
one leaves, the other gets everything and resumes from the committed offsets; after
a SIGKILL and restart of the broker (fsync always), a third consumer of the group
resumes from the committed offsets (it reads only what was produced after them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from confluent_kafka import Consumer as CKConsumer
from confluent_kafka import Producer as CKProducer
from confluent_kafka import TopicPartition as CKTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from ..conftest import BrokerProcess

pytestmark = pytest.mark.slow

CONFIG = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "log.flush.policy": "always",
}
PARTITIONS = 4
WAIT_S = 40.0
# kafka-python 3.0.12 can lose a join: when poll()'s timeout expires after its JoinGroup
# response but before the SyncGroup response, the member never completes the join (no
# heartbeats, no assignment) and is evicted. Long polls make that window unlikely.
POLL_MS = 3000


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: range) -> None:
    """Keyed records spread over the partitions; acks=all."""
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for v in values:
            p.send(topic, key=str(v).encode(), value=str(v).encode())
        p.flush(timeout=20)
    finally:
        p.close()


def wait_until(what: str, cond: Callable[[], bool], step: Callable[[], None]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        step()
        if cond():
            return
    raise AssertionError(f"timed out after {WAIT_S}s waiting for {what}")


# ----- kafka-python -------------------------------------------------------------------


@contextmanager
def kp_consumer(bootstrap: str, group: str, topic: str) -> Iterator[KafkaConsumer]:
    c = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
        max_poll_records=5, request_timeout_ms=30000)
    try:
        yield c
    finally:
        c.close(autocommit=False)


def kp_poll_commit(c: KafkaConsumer, seen: list[int]) -> None:
    """One poll; record the values; commit what was consumed (commit-after-process)."""
    batches = c.poll(timeout_ms=POLL_MS)
    got = [int(r.value) for recs in batches.values() for r in recs]
    if got:
        seen.extend(got)
        c.commit()


def _kp_worker_main(conn: Any, bootstrap: str, group: str, topic: str,
                    extra: dict[str, Any]) -> None:
    """Child process: one kafka-python group consumer; poll, commit after processing,
    report the assignment and the values seen; answer `call` commands."""
    import pickle

    kw: dict[str, Any] = {
        "bootstrap_servers": bootstrap, "group_id": group, "auto_offset_reset": "earliest",
        "enable_auto_commit": False, "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 500, "max_poll_records": 5, "request_timeout_ms": 30000}
    kw.update(pickle.loads(extra["kw"]) if extra.get("kw") else {})
    c = KafkaConsumer(topic, **kw)
    last: list[tuple[str, int]] = []
    try:
        while True:
            while conn.poll():
                cmd, arg = conn.recv()
                if cmd == "stop":
                    return
                if cmd == "committed":
                    parts = [TopicPartition(topic, p) for p in arg]
                    ends = c.end_offsets(parts)
                    conn.send(("result", ({p.partition: c.committed(p) for p in parts},
                                          {p.partition: ends[p] for p in parts})))
            batches = c.poll(timeout_ms=POLL_MS)
            got = [int(r.value) for recs in batches.values() for r in recs]
            if got:
                c.commit()
            now = sorted((tp.topic, tp.partition) for tp in c.assignment())
            if got or now != last:
                last = now
                conn.send(("state", (now, got)))
    finally:
        c.close(autocommit=False)
        conn.send(("closed", None))


class KPWorker:
    """A kafka-python group consumer in its own process, as applications run them.

    Own processes, not threads: two kafka-python 3.0.12 consumers in one process
    sometimes leave one stuck after its SyncGroup response (it stops heartbeating and
    is evicted), a client-side fault that would make these tests flaky."""

    def __init__(self, bootstrap: str, group: str, topic: str, **kw: Any) -> None:
        import multiprocessing
        import pickle

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_kp_worker_main, daemon=True,
            args=(child, bootstrap, group, topic, {"kw": pickle.dumps(kw) if kw else b""}))
        self.seen: list[int] = []
        self.assignment: set[TopicPartition] = set()
        self.closed = False

    def start(self) -> None:
        self._proc.start()

    def refresh(self) -> Any:
        """Take in the child's reports; returns the last command result, if any."""
        result = None
        while not self.closed and self._conn.poll(0.02):
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError):  # the process is gone
                self.closed = True
                break
            if kind == "state":
                parts, got = value
                self.assignment = {TopicPartition(t, p) for t, p in parts}
                self.seen.extend(got)
            elif kind == "result":
                result = value
            elif kind == "closed":
                self.closed = True
        return result

    def committed(self, partitions: list[int]) -> Any:
        self._conn.send(("committed", partitions))
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            result = self.refresh()
            if result is not None:
                return result
        raise AssertionError("the consumer process did not answer")

    def stop(self) -> None:
        """Close the consumer (a LeaveGroup) and wait for the process."""
        if self._proc.pid is None:
            return
        if self._proc.is_alive():
            with suppress(BrokenPipeError, OSError):
                self._conn.send(("stop", None))
            deadline = time.monotonic() + WAIT_S
            while not self.closed and self._proc.is_alive() and time.monotonic() < deadline:
                self.refresh()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def refreshing(*workers: KPWorker) -> Callable[[], None]:
    def step() -> None:
        for w in workers:
            w.refresh()
        time.sleep(0.02)
    return step


def test_kafka_python_group_assignment_rebalance_commits_and_restart(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "kp")
    produce(bs, "kp", range(0, 60))
    all_parts = {TopicPartition("kp", p) for p in range(PARTITIONS)}
    w1 = KPWorker(bs, "kpg", "kp")
    w2 = KPWorker(bs, "kpg", "kp")
    try:
        idle = refreshing(w1, w2)
        w1.start()
        wait_until("w1 to own every partition", lambda: w1.assignment == all_parts, idle)
        w2.start()

        def disjoint_cover() -> bool:
            a1, a2 = w1.assignment, w2.assignment
            return bool(a1) and bool(a2) and not (a1 & a2) and (a1 | a2) == all_parts

        wait_until("two disjoint assignments covering every partition", disjoint_cover, idle)
        wait_until("every record consumed",
                   lambda: set(w1.seen) | set(w2.seen) >= set(range(60)), idle)
        w2.stop()  # LeaveGroup: w1 gets everything back
        wait_until("w1 to own every partition again", lambda: w1.assignment == all_parts,
                   idle)
        produce(bs, "kp", range(60, 80))
        wait_until("the new records", lambda: set(w1.seen) >= set(range(60, 80)), idle)
        committed, ends = w1.committed(sorted(p.partition for p in all_parts))
        assert committed == ends
    finally:
        w1.stop()
        w2.stop()
    produce(bs, "kp", range(80, 100))
    broker.kill()  # SIGKILL: committed offsets must survive (fsync always)
    broker.start()
    w3 = KPWorker(bs, "kpg", "kp")
    try:
        w3.start()
        wait_until("the records produced after the last commit",
                   lambda: set(w3.seen) >= set(range(80, 100)), refreshing(w3))
        time.sleep(0.5)
        w3.refresh()
    finally:
        w3.stop()
    assert sorted(w3.seen) == list(range(80, 100)), "resumed from the committed offsets"


# ----- confluent-kafka ----------------------------------------------------------------


@contextmanager
def ck_consumer(bootstrap: str, group: str, topic: str) -> Iterator[Any]:
    c = CKConsumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
    })
    c.subscribe([topic])
    try:
        yield c
    finally:
        c.close()


def ck_poll_commit(c: Any, seen: list[int]) -> None:
    msgs = c.consume(num_messages=10, timeout=0.2)
    got = []
    for m in msgs:
        if m.error() is None:
            got.append(int(m.value()))
    if got:
        seen.extend(got)
        c.commit(asynchronous=False)


def ck_parts(c: Any) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def test_confluent_group_assignment_rebalance_commits_and_restart(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "ck")
    p = CKProducer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True})
    for v in range(60):
        p.produce("ck", key=str(v).encode(), value=str(v).encode())
    assert p.flush(20) == 0
    everything = set(range(PARTITIONS))
    seen1: list[int] = []
    seen2: list[int] = []
    with ck_consumer(bs, "ckg", "ck") as c1, ck_consumer(bs, "ckg", "ck") as c2:
        def both() -> None:
            ck_poll_commit(c1, seen1)
            ck_poll_commit(c2, seen2)

        def disjoint_cover() -> bool:
            a1, a2 = ck_parts(c1), ck_parts(c2)
            return bool(a1) and bool(a2) and not (a1 & a2) and (a1 | a2) == everything

        wait_until("two disjoint assignments covering every partition", disjoint_cover, both)
        wait_until("every record consumed",
                   lambda: set(seen1) | set(seen2) >= set(range(60)), both)
        c2.close()  # LeaveGroup
        wait_until("c1 to own every partition", lambda: ck_parts(c1) == everything,
                   lambda: ck_poll_commit(c1, seen1))
        for v in range(60, 80):
            p.produce("ck", key=str(v).encode(), value=str(v).encode())
        assert p.flush(20) == 0
        wait_until("the new records", lambda: set(seen1) >= set(range(60, 80)),
                   lambda: ck_poll_commit(c1, seen1))
        committed = c1.committed([CKTopicPartition("ck", i) for i in everything], timeout=10)
        total = sum(tp.offset for tp in committed)
        assert total == 80, f"committed offsets {[(t.partition, t.offset) for t in committed]}"
    for v in range(80, 100):
        p.produce("ck", key=str(v).encode(), value=str(v).encode())
    assert p.flush(20) == 0
    broker.kill()
    broker.start()
    seen3: list[int] = []
    with ck_consumer(bs, "ckg", "ck") as c3:
        wait_until("the records produced after the last commit",
                   lambda: set(seen3) >= set(range(80, 100)),
                   lambda: ck_poll_commit(c3, seen3))
        time.sleep(0.5)
        ck_poll_commit(c3, seen3)
        assert sorted(seen3) == list(range(80, 100)), "resumed from the committed offsets"


def test_kafka_python_consumer_survives_broker_restart(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    """A live member across a SIGKILL + restart: the group is restored from
    `__consumer_offsets` (members, generation, assignment) and the consumer goes on
    from its committed offsets; committed offsets never go back."""
    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "live", 2)
    produce(bs, "live", range(0, 20))
    parts = [TopicPartition("live", p) for p in range(2)]
    seen: list[int] = []
    with kp_consumer(bs, "liveg", "live") as c:
        wait_until("the first records", lambda: set(seen) >= set(range(20)),
                   lambda: kp_poll_commit(c, seen))
        before = {p.partition: c.committed(p) for p in parts}
        broker.kill()
        broker.start()
        produce(bs, "live", range(20, 40))
        wait_until("the records produced after the restart",
                   lambda: set(seen) >= set(range(40)), lambda: kp_poll_commit(c, seen))
        after = {p.partition: c.committed(p) for p in parts}
        assert all(after[p] >= before[p] for p in before), (before, after)
        assert sum(after.values()) == 40
        assert sorted(set(seen)) == list(range(40))


# ----- assignors and static membership ----------------------------------------------


@pytest.mark.parametrize("strategy", ["roundrobin", "cooperative-sticky"])
def test_confluent_assignment_strategies(broker_factory: Callable[..., BrokerProcess],
                                         strategy: str) -> None:
    """The broker passes any protocol through: round-robin and the incremental
    cooperative-sticky protocol (two rebalance rounds) both end disjoint and complete."""
    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "strat")
    everything = set(range(PARTITIONS))
    conf = {"bootstrap.servers": bs, "group.id": f"strat-{strategy}",
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500, "partition.assignment.strategy": strategy}
    c1, c2 = CKConsumer(conf), CKConsumer(conf)
    try:
        c1.subscribe(["strat"])
        c2.subscribe(["strat"])

        def both() -> None:
            c1.poll(0.1)
            c2.poll(0.1)

        def disjoint_cover() -> bool:
            a1, a2 = ck_parts(c1), ck_parts(c2)
            return (len(a1) == len(a2) == PARTITIONS // 2 and not (a1 & a2)
                    and (a1 | a2) == everything)

        wait_until(f"a balanced {strategy} assignment", disjoint_cover, both)
    finally:
        c1.close()
        c2.close()


def test_kafka_python_roundrobin_assignor(broker_factory: Callable[..., BrokerProcess]) -> None:
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "rr")
    all_parts = {TopicPartition("rr", p) for p in range(PARTITIONS)}
    w1 = KPWorker(bs, "rrg", "rr", partition_assignment_strategy=[RoundRobinPartitionAssignor])
    w2 = KPWorker(bs, "rrg", "rr", partition_assignment_strategy=[RoundRobinPartitionAssignor])
    try:
        w1.start()
        w2.start()
        wait_until("a balanced round-robin assignment",
                   lambda: (len(w1.assignment) == len(w2.assignment) == 2
                            and w1.assignment | w2.assignment == all_parts),
                   refreshing(w1, w2))
    finally:
        w1.stop()
        w2.stop()


def test_confluent_static_member_restart_keeps_its_partitions(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    """KIP-345: a static member that restarts (close without LeaveGroup, then a new
    consumer with the same group.instance.id) takes its old place and partitions without
    a rebalance: the other member is not revoked or reassigned meanwhile."""
    broker = broker_factory(CONFIG)
    bs = broker.bootstrap
    create_topic(bs, "stat")
    everything = set(range(PARTITIONS))
    base = {"bootstrap.servers": bs, "group.id": "statg", "auto.offset.reset": "earliest",
            "session.timeout.ms": 30000, "heartbeat.interval.ms": 500}
    static = dict(base, **{"group.instance.id": "instance-1"})
    c1, c2 = CKConsumer(static), CKConsumer(base)
    c1b = None
    assigns: list[set[int]] = []  # every assignment the other member receives
    try:
        c1.subscribe(["stat"])
        c2.subscribe(["stat"], on_assign=lambda _c, parts: assigns.append(
            {tp.partition for tp in parts}))

        def both() -> None:
            c1.poll(0.1)
            c2.poll(0.1)

        wait_until("two members", lambda: bool(ck_parts(c1)) and bool(ck_parts(c2))
                   and ck_parts(c1) | ck_parts(c2) == everything, both)
        mine, theirs = ck_parts(c1), ck_parts(c2)
        rebalances_before = len(assigns)
        c1.close()  # a static member does not leave the group
        c1b = restarted = CKConsumer(static)
        restarted.subscribe(["stat"])

        def both_again() -> None:
            restarted.poll(0.1)
            c2.poll(0.1)

        wait_until("the restarted static member's partitions",
                   lambda: ck_parts(restarted) == mine, both_again)
        for _ in range(10):  # let a (wrong) rebalance show itself, if any
            both_again()
        assert len(assigns) == rebalances_before, f"the other member was reassigned: {assigns}"
        assert ck_parts(c2) == theirs
    finally:
        if c1b is not None:
            c1b.close()
        c2.close()
