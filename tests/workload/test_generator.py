"""The kafka generator is pure: same seed and contexts, same ops; no broker needed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.workload import Context, Invocation, KafkaGenerator, KafkaWorkload, Pending
from harness.workload._generator import derive_seed, splitmix64, uniform


def drive(gen: KafkaGenerator, steps: int, procs: int = 3,
          step_ns: int = 10_000_000) -> list[Invocation]:
    out: list[Invocation] = []
    t = 0
    for _ in range(steps):
        res, gen = gen.op(Context(t, tuple(range(procs))))
        if isinstance(res, Invocation):
            out.append(res)
        t += step_ns
    return out


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_same_seed_same_ops(seed: int) -> None:
    w = KafkaWorkload(keys=("a", "b", "c"), rate=0)
    assert drive(KafkaGenerator.start(w, seed), 200) == drive(KafkaGenerator.start(w, seed), 200)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**64 - 1), st.sampled_from(["assign", "subscribe"]))
def test_values_unique_and_processes_attach_first(seed: int, sub_via: str) -> None:
    w = KafkaWorkload(keys=("0", "1"), rate=0, sub_via=sub_via)  # type: ignore[arg-type]
    ops = drive(KafkaGenerator.start(w, seed), 500, procs=4)
    values = [op.value[0][2] for op in ops if op.f == "send"]
    assert len(values) == len(set(values))
    first: dict[int, str] = {}
    for op in ops:
        first.setdefault(op.process, op.f)
        if op.f in ("assign", "subscribe"):
            assert op.f == sub_via
            assert op.value and set(op.value) <= {"0", "1"}
    assert set(first.values()) == {sub_via}


def test_rate_spaces_ops_and_pending_when_busy() -> None:
    w = KafkaWorkload(keys=("0",), rate=100)  # ~10 ms apart on average
    gen = KafkaGenerator.start(w, 7)
    res, gen = gen.op(Context(0, (0,)))
    assert isinstance(res, Invocation)
    res2, _ = gen.op(Context(0, (0,)))
    assert isinstance(res2, Pending | Invocation)
    busy, _ = gen.op(Context(10**12, ()))
    assert busy == Pending(None)
    ops = drive(KafkaGenerator.start(w, 7), 10_000, procs=2, step_ns=1_000_000)  # 10 s
    assert 700 <= len(ops) <= 1300


def test_rng_helpers_are_deterministic() -> None:
    assert splitmix64(1) == splitmix64(1)
    u, _ = uniform(123)
    assert 0.0 <= u < 1.0
    assert derive_seed(5, "workload") != derive_seed(5, "nemesis")


def test_bad_workload_options() -> None:
    import pytest

    with pytest.raises(ValueError, match="at least one key"):
        KafkaWorkload(keys=())
    with pytest.raises(ValueError, match="send_share"):
        KafkaWorkload(send_share=2.0)
    with pytest.raises(ValueError, match="commit_share"):
        KafkaWorkload(commit_share=-0.1)
    with pytest.raises(ValueError, match="fetch_share"):
        KafkaWorkload(commit_share=0.8, fetch_share=0.3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**64 - 1), st.floats(0.05, 0.8), st.floats(0.0, 0.2))
def test_commits_only_with_subscribe_as_a_share_of_reads(seed: int, share: float,
                                                         fetch: float) -> None:
    sub = KafkaWorkload(keys=("0", "1"), rate=0, sub_via="subscribe", commit_share=share,
                        fetch_share=fetch)
    ops = drive(KafkaGenerator.start(sub, seed), 2000, procs=4)
    commits = [op for op in ops if op.f == "commit"]
    fetches = [op for op in ops if op.f == "committed"]
    reads = [op for op in ops if op.f in ("commit", "poll", "committed")]
    assert all(op.value is None for op in commits)
    assert all(op.value == ["0", "1"] for op in fetches)
    assert abs(len(commits) / len(reads) - share) < 0.1
    assert abs(len(fetches) / len(reads) - fetch) < 0.1
    assign = KafkaWorkload(keys=("0", "1"), rate=0, sub_via="assign", commit_share=share)
    assert not [op for op in drive(KafkaGenerator.start(assign, seed), 500)
                if op.f in ("commit", "committed")]


def test_assign_runs_are_unchanged_by_commit_share() -> None:
    a = KafkaWorkload(keys=("0", "1"), rate=0, commit_share=0.0)
    b = KafkaWorkload(keys=("0", "1"), rate=0, commit_share=0.5, fetch_share=0.3)
    assert drive(KafkaGenerator.start(a, 3), 300) == drive(KafkaGenerator.start(b, 3), 300)
