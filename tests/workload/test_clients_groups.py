"""The client adapters' group ops against a real reference broker, for both clients:
``commit`` commits the offset after the last polled record of each owned key,
``committed`` fetches it back, and ``membership`` reports the assignment (and, for
kafka-python, the generation)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.workload import CLIENTS, ClientError, ClientOptions, create_topics


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    from harness.cluster import build_cluster

    with build_cluster("reference", backend="proxy", nodes=1,
                       config={"group.initial.rebalance.delay.ms": "0"}) as cluster:
        yield str(cluster.bootstrap_servers())


@pytest.mark.parametrize("client_name", sorted(CLIENTS))
def test_commit_committed_and_membership(bootstrap: str, client_name: str) -> None:
    prefix = f"grp-{client_name}-"
    create_topics(bootstrap, prefix, ["0", "1"], 1)
    # long polls: a kafka-python join can be lost when a poll times out between
    # JoinGroup and SyncGroup (see tests/broker/groups)
    opts = ClientOptions(bootstrap=bootstrap, topic_prefix=prefix, group_id=f"g-{client_name}",
                         poll_timeout_s=0.5)
    cls = CLIENTS[client_name]
    producer: Any = cls(opts, 0)
    consumer: Any = cls(opts, 1)
    try:
        for v in range(4):
            producer.send("0", v)
        with pytest.raises(ClientError, match="commit before subscribe"):
            consumer.commit()
        consumer.subscribe(["0", "1"])
        assert consumer.membership()["keys"] == []
        read: list[list[int]] = []
        end = time.monotonic() + 30
        while len(read) < 4 and time.monotonic() < end:
            read += consumer.poll().get("0", [])
        assert [v for _, v in read] == [0, 1, 2, 3], consumer.membership()
        m = consumer.membership()
        assert m["keys"] == ["0", "1"] and m["epoch"] >= 1 and m["member"]
        if client_name == "kafka-python":
            assert isinstance(m["generation"], int) and m["generation"] >= 1
        assert consumer.commit() == {"0": read[-1][0] + 1}
        assert consumer.committed(["0", "1"]) == {"0": read[-1][0] + 1, "1": None}
    finally:
        consumer.close()
        producer.close()
