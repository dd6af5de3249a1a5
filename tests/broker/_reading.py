"""Real-client reads shared by the transaction tests: what a consumer of a given
isolation level returns, and a bounded wait for what must eventually happen."""

from __future__ import annotations

import time
from collections.abc import Callable

WAIT_S = 30.0  # liveness bound for what must eventually happen


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.1)


def read_values(bootstrap: str, topic: str, partition: int = 0, *, committed: bool = True,
                start: int | None = None, fetch_bytes: int | None = None
                ) -> tuple[list[bytes], int]:
    """Every value a kafka-python consumer of that isolation level reads from ``start``
    (default: the beginning) up to the end offset it sees (the LSO for read_committed,
    the high watermark otherwise), and that end offset. ``fetch_bytes`` caps each fetch
    per partition (many fetches, each starting where the last stopped)."""
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, partition)
    extra = {} if fetch_bytes is None else {"max_partition_fetch_bytes": fetch_bytes}
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      isolation_level="read_committed" if committed else "read_uncommitted",
                      **extra)
    try:
        c.assign([tp])
        end = c.end_offsets([tp])[tp]
        if start is None:
            c.seek_to_beginning(tp)
        else:
            c.seek(tp, start)
        out: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while c.position(tp) < end:
            assert time.monotonic() < deadline, f"stuck at {c.position(tp)} < {end}"
            for msgs in c.poll(timeout_ms=200).values():
                out.extend(m.value for m in msgs)
        return out, end
    finally:
        c.close()
