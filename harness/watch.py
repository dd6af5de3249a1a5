"""``logtrial watch``: see a partition's leader change while real clients keep working.

A person's view of failover, not a test: one kafka-python and one confluent-kafka
producer (acks=all, idempotent) append a counter to partition 0 of a topic, one
consumer of each library reads it back, and every second a line shows the partition's
leader and term (from Metadata) and, per client, how many sends were acknowledged,
how many records were read and how many errors were seen. Kill the leader in another
terminal and watch the leader column change while the counts keep growing.

The summary at the end says, per client, whether it made progress after the last
leader change; the exit code is 1 if one did not (so a script can rely on it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UsageError


@dataclass
class Counts:
    acked: int = 0
    read: int = 0
    errors: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, n: int = 1, error: str = "") -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + n)
            if error:
                self.last_error = error[:80]

    def snapshot(self) -> tuple[int, int, int]:
        with self.lock:
            return self.acked, self.read, self.errors


def _kafka_python_producer(bootstrap: str, topic: str, c: Counts, stop: threading.Event
                           ) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                      enable_idempotence=True, request_timeout_ms=5000, max_block_ms=5000,
                      delivery_timeout_ms=10000)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            try:
                p.send(topic, str(n).encode(), partition=0).get(timeout=10)
                c.add("acked")
            except Exception as e:
                c.add("errors", error=f"{type(e).__name__}: {e}")
                time.sleep(0.2)
            time.sleep(0.02)
    finally:
        p.close(timeout=2)


def _kafka_python_consumer(bootstrap: str, topic: str, c: Counts, stop: threading.Event
                           ) -> None:
    from kafka import KafkaConsumer, TopicPartition

    cons = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=5000)
    cons.assign([TopicPartition(topic, 0)])
    try:
        while not stop.is_set():
            try:
                got = cons.poll(timeout_ms=200)
                c.add("read", sum(len(rs) for rs in got.values()))
            except Exception as e:
                c.add("errors", error=f"{type(e).__name__}: {e}")
                time.sleep(0.2)
    finally:
        cons.close()


def _confluent_producer(bootstrap: str, topic: str, c: Counts, stop: threading.Event
                        ) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 0, "message.timeout.ms": 10000, "log_level": 0})

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            c.add("acked")
        else:
            c.add("errors", error=str(err))

    n = 0
    try:
        while not stop.is_set():
            n += 1
            try:
                p.produce(topic, str(n).encode(), partition=0, on_delivery=delivered)
            except BufferError as e:
                c.add("errors", error=f"BufferError: {e}")
            p.flush(10)
            time.sleep(0.02)
    finally:
        p.flush(2)


def _confluent_consumer(bootstrap: str, topic: str, c: Counts, stop: threading.Event
                        ) -> None:
    from confluent_kafka import Consumer, TopicPartition

    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "logtrial-watch",
                     "enable.auto.commit": False, "log_level": 0})
    cons.assign([TopicPartition(topic, 0, 0)])
    try:
        while not stop.is_set():
            msgs = cons.consume(num_messages=500, timeout=0.2)
            for m in msgs:
                if m.error() is None:
                    c.add("read")
                else:
                    c.add("errors", error=str(m.error()))
    finally:
        cons.close()


def _leader(admin: Any, topic: str) -> tuple[int, int]:
    """(leader id, leader epoch) of partition 0, or (-1, -1) when none is known."""
    try:
        for t in admin.describe_topics([topic]):
            for p in t.get("partitions", []):
                if p.get("partition_index") == 0:
                    return int(p.get("leader_id", -1)), int(p.get("leader_epoch", -1))
    except Exception:  # no broker answered this second: shown as unknown
        return -1, -1
    return -1, -1


CLIENTS = {
    "kafka-python": (_kafka_python_producer, _kafka_python_consumer),
    "confluent": (_confluent_producer, _confluent_consumer),
}


def watch(bootstrap: str, topic: str, seconds: float | None, echo: Any = print) -> int:
    """Run the clients and print one line a second; 0 if every client made progress
    after the last leader change (or there was none), else 1."""
    from kafka.admin import KafkaAdminClient, NewTopic

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","),
                                 request_timeout_ms=5000)
    except Exception as e:
        raise UsageError(f"cannot reach {bootstrap}: {type(e).__name__}: {e}") from None
    with contextlib.suppress(Exception):  # exists already: fine
        admin.create_topics([NewTopic(topic, 1, -1)], timeout_ms=10000)
    counts = {name: Counts() for name in CLIENTS}
    stop = threading.Event()
    threads = [threading.Thread(target=fn, args=(bootstrap, topic, counts[name], stop),
                                daemon=True, name=f"watch-{name}-{i}")
               for name, fns in CLIENTS.items() for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    leader = _leader(admin, topic)
    changed_at: dict[str, tuple[int, int, int]] = {}  # counts at the last change
    changes = 0
    echo(f"watching {topic}-0 on {bootstrap}: leader {leader[0]} (epoch {leader[1]}); "
         "kill the leader in another terminal, Ctrl-C to stop")
    try:
        while seconds is None or time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            now = _leader(admin, topic)
            note = ""
            if now[0] >= 0 and now != leader:
                if leader[0] >= 0 and now[0] != leader[0]:
                    changes += 1
                    note = f"  <- leader changed {leader[0]} -> {now[0]}"
                    changed_at = {n: c.snapshot() for n, c in counts.items()}
                leader = now
            parts = []
            for name, c in counts.items():
                a, r, errs = c.snapshot()
                parts.append(f"{name}: acked {a} read {r} errors {errs}")
            shown = leader[0] if leader[0] >= 0 else "?"
            echo(f"{time.monotonic() - t0:5.0f}s  leader {shown} (epoch {leader[1]})  "
                 + " | ".join(parts) + note)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        admin.close()
    ok = True
    for name, c in counts.items():
        a, r, _ = c.snapshot()
        a0, r0, _ = changed_at.get(name, (0, 0, 0))
        progressed = a > a0 and r > r0
        ok &= progressed
        since = "since the last leader change" if changes else "in total"
        echo(f"{name}: {a - a0} acked and {r - r0} read {since}"
             + ("" if progressed else f"  NO PROGRESS (last error: {c.last_error})"))
    echo(f"leader changes seen: {changes}")
    return 0 if ok else 1
