"""The client adapters' ``txn`` against a real reference broker (one node), for both
clients: a committed transaction's sends get offsets and become visible to
read_committed readers, an aborted one's never do and its reader is rewound to where
its polls began, and a subscribed member's positions are committed with the
transaction (``send_offsets_to_transaction``)."""

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


def _opts(bootstrap: str, prefix: str, group: str) -> ClientOptions:
    return ClientOptions(bootstrap=bootstrap, topic_prefix=prefix, group_id=group,
                         poll_timeout_s=0.5, isolation_level="read_committed",
                         transactional_ids=4)


def _poll_until(client: Any, want: int, timeout_s: float = 30.0) -> list[list[int]]:
    got: list[list[int]] = []
    end = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < end:
        got.extend(client.poll().get("0", []))
    return got


@pytest.mark.parametrize("client_name", sorted(CLIENTS))
def test_commit_abort_and_rewind(bootstrap: str, client_name: str) -> None:
    prefix = f"txn-{client_name}-"
    create_topics(bootstrap, prefix, ["0", "1"], 1)
    opts = _opts(bootstrap, prefix, f"g-{client_name}")
    cls = CLIENTS[client_name]
    writer: Any = cls(opts, 0)
    reader: Any = cls(opts, 1)
    try:
        done = writer.txn([["send", "0", 10], ["send", "1", 11], ["send", "0", 12]])
        assert [m[0] for m in done] == ["send"] * 3
        o10, o12 = done[0][2][0], done[2][2][0]
        assert done[0][2][1] == 10 and o12 > o10
        with pytest.raises(ClientError) as aborted:
            writer.txn([["send", "0", 13]], abort=True)
        assert aborted.value.outcome == "fail" and aborted.value.error[0] == "aborted"
        assert aborted.value.value[0][2][1] == 13  # what the aborted txn did
        writer.txn([["send", "0", 14]])

        reader.assign(["0"])
        with pytest.raises(ClientError) as rewound:
            reader.txn([["poll"]], abort=True)
        first = rewound.value.value[0][1].get("0", [])
        assert first and first[0] == [o10, 10]
        got = _poll_until(reader, 3)
        assert [v for _, v in got] == [10, 12, 14]  # from the start again; 13 never
        assert got[0] == [o10, 10]
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("client_name", sorted(CLIENTS))
def test_a_member_commits_its_positions_with_the_txn(bootstrap: str, client_name: str) -> None:
    prefix = f"txg-{client_name}-"
    create_topics(bootstrap, prefix, ["0"], 1)
    opts = _opts(bootstrap, prefix, f"txg-{client_name}")
    cls = CLIENTS[client_name]
    writer: Any = cls(opts, 0)
    member: Any = cls(opts, 1)
    try:
        done = writer.txn([["send", "0", 1], ["send", "0", 2]])
        last = done[1][2][0]
        member.subscribe(["0"])
        read: list[list[int]] = []
        end = time.monotonic() + 40
        while [v for _, v in read] != [1, 2] and time.monotonic() < end:
            out = member.txn([["poll"]])
            read.extend(out[0][1].get("0", []))
        assert [v for _, v in read] == [1, 2]
        assert member.committed(["0"]) == {"0": last + 1}
        assert member.txn_offsets() == {"0": last + 1}  # what the history records
    finally:
        writer.close()
        member.close()
