"""Property tests: histories of a simulated correct broker are valid; planting one bug
yields its anomaly and nothing unrelated (see `_sim.BUGS` for what may come with it).

The simulator draws every choice from a hypothesis-controlled ``Random``, so failures
shrink and replay from hypothesis's printed example.
"""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.log import LogCheckOptions, check
from harness.history import load, write_jsonl
from tests.checkers.log._sim import BUGS, SimConfig, simulate

SUBSCRIBE_EXPECTED = frozenset({"poll-skip", "nonmonotonic-poll"})

configs = st.builds(
    SimConfig,
    n_keys=st.integers(1, 4),
    n_procs=st.integers(1, 6),
    n_steps=st.integers(0, 160),
    sub_via=st.sampled_from(["assign", "subscribe"]),
    p_info=st.sampled_from([0.0, 0.08, 0.3]),
    p_fail=st.sampled_from([0.0, 0.08, 0.3]),
    p_crash=st.sampled_from([0.0, 0.03, 0.1]),
    p_txn=st.sampled_from([0.0, 0.15, 0.4]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False), cfg=configs)
def test_correct_broker_histories_are_valid(rnd: random.Random, cfg: SimConfig) -> None:
    h = simulate(rnd, cfg)
    r = check(h, LogCheckOptions(sub_via=cfg.sub_via))  # type: ignore[arg-type]
    assert r.valid is True, r.to_json()
    if cfg.sub_via == "assign":
        assert r.anomalies == {}, r.to_json()
    else:
        # rebalances move partitions between consumers: skips are expected and allowed
        assert set(r.anomalies) <= SUBSCRIBE_EXPECTED, r.to_json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False), cfg=configs,
       bug=st.sampled_from(sorted(BUGS)), n_keys=st.integers(2, 4))
def test_planted_bug_yields_its_anomaly_and_nothing_unrelated(
        rnd: random.Random, cfg: SimConfig, bug: str, n_keys: int) -> None:
    cfg = SimConfig(**{**cfg.__dict__, "bug": bug, "n_keys": n_keys})
    h = simulate(rnd, cfg)
    opts = LogCheckOptions(sub_via=cfg.sub_via)  # type: ignore[arg-type]
    r = check(h, opts)
    assert bug in r.anomalies, r.to_json()
    related = BUGS[bug] | (SUBSCRIBE_EXPECTED if cfg.sub_via == "subscribe" else frozenset())
    assert set(r.anomalies) - {bug} <= related, r.to_json()
    assert r.classification[bug] == opts.classify(bug)
    assert r.valid is (not r.bad_types)
    indices = {op.index for op in h.ops}
    for ws in r.anomalies.values():
        for w in ws:
            assert set(w["ops"]) <= indices and w["message"]


@settings(max_examples=15, deadline=None)
@given(rnd=st.randoms(use_true_random=False), bug=st.sampled_from(sorted(BUGS)))
def test_results_survive_a_jsonl_round_trip(rnd: random.Random, bug: str) -> None:
    import tempfile

    h = simulate(rnd, SimConfig(n_keys=3, n_steps=60, bug=bug))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        write_jsonl(path, h.ops)
        assert check(load(path)).to_json() == check(h).to_json()


def test_simulator_covers_concurrency_faults_and_both_subscription_methods() -> None:
    """Guard against a simulator too tame to matter."""
    seen: set[str] = set()
    for seed in range(40):
        for sub in ("assign", "subscribe"):
            h = simulate(random.Random(seed),
                         SimConfig(n_keys=3, n_procs=5, n_steps=150, sub_via=sub))
            open_now = 0
            for op in h.ops:
                seen.add(f"{op.f}:{op.type}")
                open_now += 1 if op.type == "invoke" else -1
                if open_now >= 3:
                    seen.add("overlap")
    for need in ("overlap", "send:info", "send:fail", "txn:fail", "txn:ok", "poll:info",
                 "crash:info", "assign:ok", "subscribe:ok"):
        assert need in seen, need
