"""Small client helpers shared by the conformance tests (real clients only)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def new_topic(bootstrap: str, partitions: int = 1, config: dict[str, str] | None = None,
              timeout_s: float = 30.0) -> str:
    """Create a fresh topic and wait until its leaders are known."""
    name = f"conf-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                      topic_configs=config or {})])
    finally:
        admin.close()
    wait_for(lambda: len(partitions_of(bootstrap, name)) == partitions, timeout_s,
             f"topic {name} to have {partitions} partition(s)")
    return name


def partitions_of(bootstrap: str, topic: str) -> set[int]:
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        return set(c.partitions_for_topic(topic) or ())
    finally:
        c.close()


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def producer(bootstrap: str, **kw: Any) -> KafkaProducer:
    kw.setdefault("acks", "all")
    return KafkaProducer(bootstrap_servers=bootstrap.split(","), **kw)


def read_all(bootstrap: str, topic: str, partition: int, expected: int,
             timeout_s: float = 30.0, group_id: str | None = None) -> list[Any]:
    """Every record of one partition from the beginning, until ``expected`` are read."""
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group_id,
                      enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out: list[Any] = []
        end = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < end:
            for recs in c.poll(timeout_ms=200).values():
                out.extend(recs)
        return out
    finally:
        c.close()
