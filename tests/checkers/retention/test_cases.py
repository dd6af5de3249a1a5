"""The retention checker's definitions, options and edge cases, and hypothesis runs
over a simulated broker (`_sim`): a correct one is always valid, one that deletes
young records is caught whenever the deletion is provably early."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers.retention import RetentionCheckOptions, check, observed_log_starts
from harness.errors import HistoryError, UsageError
from harness.history import History, op_from_dict
from tests.checkers.retention._sim import simulate


def hist(*records: tuple[int, Any, str, str, Any]) -> History:
    """Ops from ``(time_ms, process, type, f, value)``."""
    return History.of(op_from_dict({"index": i, "time": t * 1_000_000, "process": p,
                                    "type": typ, "f": f, "value": v}, i)
                      for i, (t, p, typ, f, v) in enumerate(records))


def sent_then_observed(observed_ms: int, start: int = 1) -> History:
    return hist((0, 0, "invoke", "send", [["send", "k", 7]]),
                (1, 0, "ok", "send", [["send", "k", [0, 7]]]),
                (observed_ms - 1, 1, "invoke", "offsets", ["k"]),
                (observed_ms, 1, "ok", "offsets", {"k": [start, 1]}))


def test_age_bound_uses_the_tolerance() -> None:
    opts = RetentionCheckOptions(retention_ms=1000, tolerance_ms=100)
    assert check(sent_then_observed(899), opts).valid is False
    assert check(sent_then_observed(900), opts).valid is True
    assert check(sent_then_observed(899, start=0), opts).valid is True  # nothing gone


def test_no_limit_means_any_deletion_is_early_and_unknown_means_unjudged() -> None:
    h = sent_then_observed(10_000_000)
    assert check(h, RetentionCheckOptions(retention_ms=-1)).valid is False
    assert check(h, RetentionCheckOptions()).valid is True
    assert check(h, RetentionCheckOptions(retention_ms_by_key={"k": -1})).valid is False
    assert check(h, RetentionCheckOptions(retention_ms=-1,
                                          retention_ms_by_key={"k": 1000})).valid is True
    assert "not checked" in check(h, RetentionCheckOptions()).stats["notes"][0]


def test_clock_faults_and_allow_make_early_deletion_allowed() -> None:
    h = sent_then_observed(10)
    for opts in (RetentionCheckOptions(retention_ms=1000, clock_faults=True),
                 RetentionCheckOptions(retention_ms=1000, allow=frozenset({"early-deletion"}))):
        r = check(h, opts)
        assert r.valid is True and r.classification == {"early-deletion": "allowed"}


def test_a_deletion_is_reported_once() -> None:
    h = hist((0, 0, "invoke", "send", [["send", "k", 7]]),
             (1, 0, "ok", "send", [["send", "k", [0, 7]]]),
             *[(t, 1, typ, "offsets", ["k"] if typ == "invoke" else {"k": [1, 1]})
               for t in (5, 7, 9) for typ in ("invoke", "ok")])
    r = check(h, RetentionCheckOptions(retention_ms=1000))
    assert r.counts == {"early-deletion": 1}
    assert r.anomalies["early-deletion"][0]["ops"] == [0, 1, 2, 3]


def test_records_nobody_sent_are_not_judged() -> None:
    h = hist((0, 2, "invoke", "poll", [["poll"]]),
             (1, 2, "ok", "poll", [["poll", {"k": [[0, 99]]}]]),
             (2, 1, "invoke", "offsets", ["k"]), (3, 1, "ok", "offsets", {"k": [1, 1]}))
    assert check(h, RetentionCheckOptions(retention_ms=1000)).valid is True


def test_nothing_to_judge_is_unknown() -> None:
    h = hist((0, 1, "invoke", "offsets", ["k"]),
             (1, 1, "fail", "offsets", ["k"]))
    r = check(h, RetentionCheckOptions(retention_ms=1000))
    assert r.valid == "unknown" and r.error and "offsets" in r.error
    assert r.stats["offsets_ops"] == {"ok": 0, "fail": 1, "info": 0}


@pytest.mark.parametrize("bad", [{"k": 3}, {"k": [1]}, {"k": [1, "2"]}, ["k"], {"k": [True, 1]}])
def test_malformed_offsets_op_is_a_clear_history_error(bad: Any) -> None:
    h = hist((0, 1, "invoke", "offsets", ["k"]), (1, 1, "ok", "offsets", bad))
    with pytest.raises(HistoryError, match=r"op 1 .*offsets.* malformed.*expected"):
        check(h)
    with pytest.raises(HistoryError, match=r"op 1 .*malformed"):
        observed_log_starts(h)


def test_observed_log_starts_is_the_highest_per_key() -> None:
    h = hist((0, 1, "invoke", "offsets", ["a", "b"]),
             (1, 1, "ok", "offsets", {"a": [4, 9], "b": [0, 2]}),
             (2, 2, "invoke", "offsets", ["a", 3]),
             (3, 2, "ok", "offsets", {"a": [2, 9], 3: [1, 1]}))
    assert observed_log_starts(h) == {"a": 4, "b": 0, "3": 1}


@pytest.mark.parametrize("kw", [{"retention_ms": -2}, {"retention_ms": 1.5},
                                {"retention_ms_by_key": {"k": "x"}}, {"tolerance_ms": -1},
                                {"allow": frozenset({"lost-write"})}, {"max_witnesses": -1}])
def test_bad_options_are_usage_errors(kw: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        RetentionCheckOptions(**kw)


_steps = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, 2)),
    st.tuples(st.just("wait"), st.integers(0, 400)),
    st.tuples(st.just("retain"), st.just(0))), max_size=80)


@settings(max_examples=150, deadline=None)
@given(steps=_steps, segment_records=st.integers(1, 4), retention_ms=st.integers(0, 1000))
def test_a_correct_broker_is_valid(steps: list[tuple[str, int]], segment_records: int,
                                   retention_ms: int) -> None:
    run = simulate(steps, keys=3, segment_records=segment_records,
                   retention_ms=retention_ms, bug=False)
    r = check(run.history, RetentionCheckOptions(retention_ms=retention_ms, tolerance_ms=0))
    assert r.anomalies == {}, r.to_json()


@settings(max_examples=150, deadline=None)
@given(steps=_steps, segment_records=st.integers(2, 4), retention_ms=st.integers(50, 1000))
def test_a_broker_deleting_young_records_is_caught(
        steps: list[tuple[str, int]], segment_records: int, retention_ms: int) -> None:
    run = simulate(steps, keys=3, segment_records=segment_records,
                   retention_ms=retention_ms, bug=True)
    r = check(run.history, RetentionCheckOptions(retention_ms=retention_ms, tolerance_ms=10))
    # each deletion is observed 1 ms later, by an op completing age + 1 ms after the
    # send's invocation: provably early when that is below retention - tolerance
    provable = any(age + 1 < retention_ms - 10 for age in run.deleted_ages_ms)
    assert ("early-deletion" in r.anomalies) is provable, (run.deleted_ages_ms, r.to_json())
    assert "log-start-regression" not in r.anomalies
