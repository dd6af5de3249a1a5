"""Conformance: classic consumer groups, against any ``--target``."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from suites.conformance._kafka import new_topic, producer

pytestmark = pytest.mark.conformance


def _consumer(bootstrap: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         session_timeout_ms=6000, heartbeat_interval_ms=500)


def test_one_owner_per_partition(bootstrap: str) -> None:
    """Guarantee: within a generation, each partition of a subscribed topic is assigned
    to exactly one member of the group, and every partition is assigned."""
    topic = new_topic(bootstrap, partitions=4)
    group = f"g-{topic}"
    members = [_consumer(bootstrap, group), _consumer(bootstrap, group)]
    stop = threading.Event()

    def poll_loop(c: KafkaConsumer) -> None:
        # Each member polls on its own thread with long polls: kafka-python 3.0.12 can
        # drop a join when poll() returns between its JoinGroup and SyncGroup answers.
        c.subscribe([topic])
        while not stop.is_set():
            c.poll(timeout_ms=1000)

    threads = [threading.Thread(target=poll_loop, args=(c,), daemon=True) for c in members]
    for t in threads:
        t.start()
    try:
        end = time.monotonic() + 40
        while time.monotonic() < end:
            sa, sb = members[0].assignment(), members[1].assignment()
            if sa and sb and len(sa) + len(sb) == 4:
                break
            time.sleep(0.2)
        sa, sb = members[0].assignment(), members[1].assignment()
        assert sa and sb, f"both members need partitions: {sa} / {sb}"
        assert not (sa & sb), f"a partition has two owners: {sa & sb}"
        assert {tp.partition for tp in sa | sb} == {0, 1, 2, 3}
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for c in members:
            c.close()


def test_committed_offsets_are_read_back(bootstrap: str) -> None:
    """Guarantee: an offset committed for a group is what a later member of the group
    resumes from."""
    topic = new_topic(bootstrap)
    p = producer(bootstrap)
    for i in range(20):
        p.send(topic, value=str(i).encode(), partition=0)
    p.flush(30)
    p.close()
    group = f"g-{topic}"
    tp = TopicPartition(topic, 0)
    c = _consumer(bootstrap, group)
    c.assign([tp])
    c.commit({tp: OffsetAndMetadata(12, "", -1)})
    c.close()
    c2 = _consumer(bootstrap, group)
    try:
        c2.assign([tp])
        assert c2.committed(tp) == 12
        recs: list[int] = []
        end = time.monotonic() + 20
        while not recs and time.monotonic() < end:
            for batch in c2.poll(timeout_ms=200).values():
                recs.extend(int(r.value) for r in batch)
        assert recs and recs[0] == 12
    finally:
        c2.close()
