"""Classification rules, option validation, witness caps, stats and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checkers import CheckResult
from harness.checkers.log import ANOMALY_TYPES, CHECKER, LogCheckOptions, check
from harness.errors import HistoryError, UsageError
from harness.history import load
from tests.checkers.log._build import hist

DATA = Path(__file__).resolve().parents[2] / "data" / "log"


def bad(t: str, opts: LogCheckOptions | None = None) -> CheckResult:
    return check(load(DATA / f"{t}-bad.jsonl"), opts)


def test_defaults_are_jepsens() -> None:
    o = LogCheckOptions()
    assert (o.sub_via, o.acks, o.allow, o.max_witnesses) == ("assign", "all", frozenset(), 20)
    assert o.allowed_types() == {"int-send-skip", "G0"}
    for t in ANOMALY_TYPES:
        assert o.classify(t) == ("allowed" if t in ("int-send-skip", "G0") else "bad")


@pytest.mark.parametrize("t", ["poll-skip", "nonmonotonic-poll"])
def test_subscribe_allows_poll_skips_and_nonmonotonic_polls(t: str) -> None:
    assert bad(t).valid is False
    r = bad(t, LogCheckOptions(sub_via="subscribe"))
    assert r.valid is True and r.classification == {t: "allowed"} and r.counts[t] == 1
    # subscribe excuses nothing else
    assert bad("int-poll-skip", LogCheckOptions(sub_via="subscribe")).valid is False


@pytest.mark.parametrize("acks", ["0", "1", 1, 0])
@pytest.mark.parametrize("t", ["lost-write", "unseen"])
def test_weak_acks_allow_lost_and_unseen_writes(t: str, acks: object) -> None:
    r = bad(t, LogCheckOptions(acks=acks))  # type: ignore[arg-type]
    assert r.valid is True and r.classification[t] == "allowed"
    assert bad(t, LogCheckOptions(acks="all")).valid is False
    assert bad(t, LogCheckOptions(acks="-1")).valid is False
    assert bad("G1a", LogCheckOptions(acks=acks)).valid is False  # type: ignore[arg-type]


def test_allow_adds_types() -> None:
    assert bad("G1c").valid is False
    r = bad("G1c", LogCheckOptions(allow=frozenset({"G1c"})))
    assert r.valid is True and r.allowed_types == ["G1c"] and r.bad_types == []
    assert bad("duplicate", LogCheckOptions(allow=frozenset({"G1c"}))).valid is False


@pytest.mark.parametrize("t", ["int-send-skip", "G0"])
def test_always_allowed(t: str) -> None:
    r = bad(t)
    assert r.valid is True and r.classification[t] == "allowed"


@pytest.mark.parametrize("kw", [
    {"sub_via": "both"}, {"acks": "2"}, {"allow": frozenset({"G2"})},
    {"max_witnesses": -1}, {"max_witnesses": True}])
def test_bad_options_say_what_is_expected(kw: dict[str, object]) -> None:
    with pytest.raises(UsageError, match=r"expected|must be"):
        LogCheckOptions(**kw)  # type: ignore[arg-type]


def test_witnesses_are_capped_but_counted() -> None:
    specs: list[tuple[Any, ...]] = [(0, "ok", "send", [["send", "x", [i, i]]]) for i in range(50)]
    specs.append((1, "ok", "poll", [["poll", {"x": [[0, 0]]}]]))
    r = check(hist(*specs), LogCheckOptions(max_witnesses=5))
    assert r.counts["unseen"] == 49 and len(r.anomalies["unseen"]) == 5
    assert [w["values"] for w in r.anomalies["unseen"]] == [[1], [2], [3], [4], [5]]
    r0 = check(hist(*specs), LogCheckOptions(max_witnesses=0))
    assert r0.counts["unseen"] == 49 and r0.anomalies["unseen"] == [] and r0.valid is False


def test_stats() -> None:
    h = hist((0, "ok", "send", [["send", 7, [0, 1]]]),
             (0, "info", "send", [["send", 7, 2]]),
             (0, "fail", "send", [["send", 7, 3]]),
             (1, "ok", "poll", [["poll", {"7": [[0, 1], [1, 2]]}]]),
             ("nemesis", "info", "start-partition", {"kind": "majority"}))
    r = check(h)
    assert r.checker == CHECKER == "log"
    assert r.stats["keys"]["7"] == {"sends_ok": 1, "sends_info": 1, "sends_fail": 1,
                                    "values_read": 2, "max_offset": 1, "unseen": 0}
    assert r.stats["by_f"]["send"] == {"invoke": 3, "ok": 1, "info": 1, "fail": 1}
    assert r.stats["by_f"]["start-partition"] == {"info": 1}
    assert r.stats["info_sends_committed"] == 1
    assert r.valid is True and r.to_json()["valid"] is True


def test_nothing_to_check_is_unknown() -> None:
    r = check(hist((0, "ok", "assign", ["x"])))
    assert r.valid == "unknown" and r.error and "nothing to check" in r.error


@pytest.mark.parametrize("value", [
    [["poll", {"x": [[None, 1]]}]],
    [["poll", {"x": [["a", 1]]}]],
    [["poll", {"x": [[1]]}]],
    [["poll", {"x": [5]}]],
])
def test_malformed_reads_raise_history_error_naming_the_op(value: object) -> None:
    h = hist((0, "ok", "send", [["send", "x", [0, 1]]]), (1, "ok", "poll", value))
    with pytest.raises(HistoryError, match=r"op 3 .*malformed"):
        check(h)


def test_completion_without_value_uses_its_invocation() -> None:
    h = hist((0, "invoke", "send", [["send", "x", 1]]), (0, "fail", "send", None),
             (1, "ok", "poll", [["poll", {"x": [[0, 1]]}]]))
    assert "G1a" in check(h).anomalies


def test_subscribe_ops_under_assign_get_a_note() -> None:
    h = hist((0, "ok", "subscribe", ["x"]), (0, "ok", "send", [["send", "x", [0, 1]]]),
             (1, "ok", "poll", [["poll", {"x": [[0, 1]]}]]))
    assert "sub_via=assign" in check(h).stats["notes"][0]
    assert check(h, LogCheckOptions(sub_via="subscribe")).stats["notes"] == []


def test_unpaired_history_and_nemesis_ops() -> None:
    from harness.history import History

    ops = hist(("nemesis", "info", "start-partition", {"grudge": {}}),
               (0, "ok", "send", [["send", "x", [0, 1]]]),
               (0, "fail", "send", None),
               (1, "ok", "poll", [["poll", {"x": [[0, 1]]}]])).ops
    r = check(History(ops))  # no pairing: a completion without value is skipped
    assert r.valid is True and r.anomalies == {}


def test_check_restores_the_garbage_collector() -> None:
    import gc

    h = load(DATA / "G1c-bad.jsonl")
    assert gc.isenabled()
    check(h)
    assert gc.isenabled()
    gc.disable()
    try:
        check(h)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("value", [
    [["send", "x", ["0", 1]]],
    [["send", "x", [0.5, 1]]],
    [["send", "x", [0, 1, 2]]],
    [["send", "x", [0, 1]], ["send", "x", ["1", 2]]],
    [["send", "x", [0, [1]]]],
])
def test_malformed_sends_raise_history_error(value: object) -> None:
    with pytest.raises(HistoryError, match=r"op 1 .*malformed"):
        check(hist((0, "ok", "send", value)))


def test_malformed_info_send_offsets_raise_history_error() -> None:
    h = hist((0, "info", "send", [["send", "x", ["zero", 1]]]),
             (1, "ok", "poll", [["poll", {"x": [[0, 1]]}]]))
    with pytest.raises(HistoryError, match=r"op 1 .*malformed"):
        check(h)
