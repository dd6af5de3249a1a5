"""The freshness checker: ``stale-read`` cases, the allowance, acks, and a hypothesis
run over a simulated broker whose reads lag by a chosen time: within the allowance
it is valid, beyond it every stale end offset that provably missed a write is caught."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checkers.freshness import FreshnessCheckOptions, check
from harness.errors import HistoryError, UsageError
from harness.history import History, op_from_dict


def hist(*records: tuple[int, Any, str, str, Any]) -> History:
    """Ops from ``(time_ms, process, type, f, value)``."""
    return History.of(op_from_dict({"index": i, "time": t * 1_000_000, "process": p,
                                    "type": typ, "f": f, "value": v}, i)
                      for i, (t, p, typ, f, v) in enumerate(records))


def write_then_read(read_at_ms: int, end: int, key: Any = "k") -> History:
    return hist((0, 0, "invoke", "send", [["send", key, 7]]),
                (10, 0, "ok", "send", [["send", key, [4, 7]]]),
                (read_at_ms, 1, "invoke", "offsets", [str(key)]),
                (read_at_ms + 1, 1, "ok", "offsets", {str(key): [0, end]}))


def test_a_read_beyond_the_allowance_that_misses_the_write_is_stale() -> None:
    r = check(write_then_read(3011, end=4), FreshnessCheckOptions(max_stale_ms=3000))
    assert r.valid is False
    (w,) = r.anomalies["stale-read"]
    assert w["ops"] == [1, 2, 3] and w["offsets"] == [4, 4] and w["key"] == "k"
    assert "acknowledged offset 4" in w["message"]


def test_within_the_allowance_or_seeing_the_write_is_fresh() -> None:
    opts = FreshnessCheckOptions(max_stale_ms=3000)
    assert check(write_then_read(3010, end=4), opts).valid is True  # 3000 ms after
    assert check(write_then_read(9000, end=5), opts).valid is True  # includes offset 4
    assert check(write_then_read(9000, end=5, key=11), opts).valid is True  # int keys


def test_acks_1_makes_it_allowed() -> None:
    r = check(write_then_read(9000, end=0), FreshnessCheckOptions(acks="1"))
    assert r.valid is True and r.classification == {"stale-read": "allowed"}


def test_nothing_to_judge_is_unknown() -> None:
    only_read = hist((0, 1, "invoke", "offsets", ["k"]), (1, 1, "ok", "offsets", {"k": [0, 0]}))
    assert check(only_read).valid == "unknown"
    failed = hist((0, 0, "invoke", "send", [["send", "k", 7]]),
                  (10, 0, "ok", "send", [["send", "k", [4, 7]]]),
                  (9000, 1, "invoke", "offsets", ["k"]), (9001, 1, "fail", "offsets", ["k"]))
    assert check(failed).valid == "unknown"


def test_bad_input_is_an_error_not_a_crash() -> None:
    with pytest.raises(HistoryError, match="offsets op"):
        check(hist((0, 1, "invoke", "offsets", ["k"]), (1, 1, "ok", "offsets", [1, 2])))
    with pytest.raises(UsageError, match="max_stale_ms"):
        FreshnessCheckOptions(max_stale_ms=-1)


@given(lag_ms=st.integers(0, 6000), allowance_ms=st.integers(0, 6000),
       sends=st.lists(st.integers(1, 400), min_size=1, max_size=30))
def test_a_broker_lagging_by_a_fixed_time(lag_ms: int, allowance_ms: int,
                                          sends: list[int]) -> None:
    """Each send is acknowledged at once; the broker answers end-offset reads with the
    log as it was ``lag_ms`` earlier. Stale reads exist iff the lag exceeds the
    allowance and some read misses a write acknowledged more than the allowance ago."""
    records: list[tuple[int, Any, str, str, Any]] = []
    t = 0
    acked: list[int] = []  # ack times
    expected = 0
    for offset, gap in enumerate(sends):
        t += gap
        records += [(t, 0, "invoke", "send", [["send", "k", offset]]),
                    (t, 0, "ok", "send", [["send", "k", [offset, offset]]])]
        acked.append(t)
        t += gap
        end = sum(1 for a in acked if a <= t - lag_ms)  # the lagging view
        missed = [o for o, a in enumerate(acked) if a < t - allowance_ms and o >= end]
        expected += bool(missed)
        records += [(t, 1, "invoke", "offsets", ["k"]), (t, 1, "ok", "offsets", {"k": [0, end]})]
    r = check(hist(*records), FreshnessCheckOptions(max_stale_ms=allowance_ms,
                                                    max_witnesses=1000))
    assert r.counts.get("stale-read", 0) == expected
    if lag_ms <= allowance_ms:
        assert r.valid is True
