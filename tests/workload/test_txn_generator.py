"""The ``txn`` option of the kafka generator: Jepsen's transaction encoding, pure and
seeded; without it, every existing seed keeps its op sequence."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.workload import Context, Invocation, KafkaGenerator, KafkaWorkload
from tests.workload.test_generator import drive


def _digest(**kw: object) -> str:
    """A fingerprint of 3000 steps of seed 42 (recorded before txn existed)."""
    gen = KafkaGenerator.start(KafkaWorkload(keys=("0", "1", "2"), rate=0, **kw), 42)  # type: ignore[arg-type]
    h = hashlib.sha256()
    t = 0
    for _ in range(3000):
        res, gen = gen.op(Context(t, (0, 1, 2)))
        if isinstance(res, Invocation):
            h.update(repr((res.process, res.f, res.value)).encode())
        t += 1_000_000
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("kw", "digest"), [
    ({}, "c0fbb9614dec3666"),
    ({"sub_via": "subscribe"}, "d24e6ea2993f442c"),
    ({"offsets_share": 0.05, "crash_share": 0.01}, "caf911dbc41c8b14"),
    # the txn knobs are inert while txn is off
    ({"max_txn_length": 9, "abort_share": 0.5}, "c0fbb9614dec3666"),
])
def test_existing_seeds_keep_their_ops(kw: dict[str, object], digest: str) -> None:
    assert _digest(**kw) == digest


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**64 - 1), st.sampled_from(["assign", "subscribe"]),
       st.integers(1, 6))
def test_txn_ops_follow_jepsens_encoding(seed: int, sub_via: str, max_len: int) -> None:
    w = KafkaWorkload(keys=("0", "1"), rate=0, sub_via=sub_via, txn=True,  # type: ignore[arg-type]
                      max_txn_length=max_len, abort_share=0.3)
    ops = drive(KafkaGenerator.start(w, seed), 400, procs=3)
    assert not [op for op in ops if op.f in ("send", "poll")], "txn runs send and poll in txns"
    txns = [op for op in ops if op.f == "txn"]
    assert txns
    values = []
    for op in txns:
        assert 1 <= len(op.value) <= max_len
        for mop in op.value:
            if mop[0] == "send":
                assert len(mop) == 3 and mop[1] in ("0", "1") and isinstance(mop[2], int)
                values.append(mop[2])
            else:
                assert mop == ["poll"]
    assert len(values) == len(set(values)), "every send writes a fresh value"
    assert all(not op.abort for op in ops if op.f != "txn")


def test_txn_mixes_sends_polls_and_aborts_at_their_shares() -> None:
    w = KafkaWorkload(keys=("0", "1", "2"), rate=0, txn=True, abort_share=0.25)
    ops = drive(KafkaGenerator.start(w, 5), 4000, procs=4)
    txns = [op for op in ops if op.f == "txn"]
    mops = [m for op in txns for m in op.value]
    sends = sum(1 for m in mops if m[0] == "send")
    assert 0.4 < sends / len(mops) < 0.6  # send_share 0.5 per micro-op
    assert {len(op.value) for op in txns} == {1, 2, 3, 4}
    aborts = sum(op.abort for op in txns)
    assert 0.18 < aborts / len(txns) < 0.32
    assert any(m[0] == "send" for m in mops) and any(m == ["poll"] for m in mops)
    mixed = [op for op in txns if {m[0] for m in op.value} == {"send", "poll"}]
    assert mixed, "some transactions both send and poll"


def test_txn_is_deterministic_per_seed() -> None:
    w = KafkaWorkload(keys=("0", "1"), rate=0, txn=True, abort_share=0.1)
    assert drive(KafkaGenerator.start(w, 9), 300) == drive(KafkaGenerator.start(w, 9), 300)
    assert drive(KafkaGenerator.start(w, 9), 300) != drive(KafkaGenerator.start(w, 10), 300)


def test_bad_txn_options() -> None:
    with pytest.raises(ValueError, match="max_txn_length"):
        KafkaWorkload(txn=True, max_txn_length=0)
    with pytest.raises(ValueError, match="abort_share"):
        KafkaWorkload(txn=True, abort_share=1.5)
