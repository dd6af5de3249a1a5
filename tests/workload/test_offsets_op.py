"""The ``offsets`` op: the generator emits it only when asked (existing seeds keep
their ops), and both client adapters list a key's log start and end against a real
reference broker, whose retention moves the start."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.workload import (
    CLIENTS,
    ClientError,
    ClientOptions,
    Context,
    KafkaGenerator,
    KafkaWorkload,
    apply,
    create_topics,
)
from harness.workload._errors import classify_offsets


def ops_of(w: KafkaWorkload, seed: int = 12345, n: int = 400) -> list[Any]:
    g = KafkaGenerator.start(w, seed)
    out, t = [], 0
    for _ in range(n):
        r, g = g.op(Context(t, (0, 1, 2, 3)))
        out.append(r)
        t += 3_000_000
    return out


@pytest.mark.parametrize(("sub_via", "digest"), [("assign", "7ae223ed1618a36e"),
                                                 ("subscribe", "a6bfa222f57bcf53")])
def test_default_workload_is_unchanged(sub_via: str, digest: str) -> None:
    """Digests of the ops the generator made before ``offsets`` existed."""
    w = KafkaWorkload(keys=("0", "1", "2"), rate=100, sub_via=sub_via)  # type: ignore[arg-type]
    text = "\n".join(repr(r) for r in ops_of(w))
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest


def test_offsets_share_emits_offsets_of_every_key_after_attach() -> None:
    w = KafkaWorkload(keys=("0", "1", "2"), rate=0, offsets_share=0.3)
    ops = [r for r in ops_of(w, n=2000)]
    attached: set[int] = set()
    n_obs = n_after = 0
    for r in ops:
        if r.f in ("assign", "subscribe"):
            attached.add(r.process)
            continue
        assert r.process in attached
        n_after += 1
        if r.f == "offsets":
            n_obs += 1
            assert r.value == ["0", "1", "2"]
    assert 0.25 < n_obs / n_after < 0.35
    with pytest.raises(ValueError, match="offsets_share"):
        KafkaWorkload(offsets_share=1.5)


def test_a_failed_listing_is_definite() -> None:
    assert classify_offsets(7, "KafkaTimeoutError") == "fail"
    assert classify_offsets(None, "NodeNotReadyError") == "fail"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    from harness.cluster import build_cluster

    with build_cluster("reference", backend="proxy", nodes=1,
                       config={"log.retention.check.interval.ms": "100"}) as cluster:
        yield str(cluster.bootstrap_servers())


@pytest.mark.parametrize("client_name", sorted(CLIENTS))
def test_offsets_lists_log_start_and_end(bootstrap: str, client_name: str) -> None:
    prefix = f"offs-{client_name}-"
    create_topics(bootstrap, prefix, ["0", "1"], 1)
    create_topics(bootstrap, prefix, ["r"], 1,
                  configs={"retention.ms": "300", "segment.bytes": "200"})
    opts = ClientOptions(bootstrap=bootstrap, topic_prefix=prefix)
    cls = CLIENTS[client_name]
    client: Any = cls(opts, 0)
    try:
        with pytest.raises(ClientError, match="offsets before assign") as e:
            client.offsets(["0"])
        assert e.value.outcome == "fail"
        for v in range(3):
            client.send("0", v)
        for v in range(20):
            client.send("r", v)
        client.assign(["0"])
        assert apply(client, "offsets", ["0", "1"]) == {"0": [0, 3], "1": [0, 0]}
        end = time.monotonic() + 15
        got = client.offsets(["r"])
        while got["r"][0] == 0 and time.monotonic() < end:
            time.sleep(0.2)
            got = client.offsets(["r"])
        start, stop = got["r"]
        assert 0 < start < stop == 20, got  # retention moved the start, not the end
    finally:
        client.close()
