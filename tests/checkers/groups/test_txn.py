"""The groups checker over transactional histories (``txn`` ops, Jepsen's ``:txn?``).

Golden files ``tests/data/groups/txn-<type>-ok|bad.jsonl`` tell each anomaly's story
with transactions (an ``ok`` txn's ``extra["offsets"]`` is an acknowledged commit, its
polls are reads); the tests below pin the rules that only transactions have: an
aborted txn's reads and offsets count for nothing, its records are never owed to the
group, an ``info`` txn's offsets prove nothing but its reads were delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checkers.groups import ANOMALY_TYPES, check
from harness.checkers.log import LogCheckOptions
from harness.checkers.log import check as log_check
from harness.errors import HistoryError
from harness.history import History, load, op_from_dict, write_edn

DATA = Path(__file__).resolve().parents[2] / "data" / "groups"
A1 = {"generation": 1, "member": "a", "keys": ["1"], "epoch": 1}
A2 = {"generation": 2, "member": "a", "keys": [], "epoch": 2}
B2 = {"generation": 2, "member": "b", "keys": ["1"], "epoch": 1}


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_txn_bad_history_reports_its_type(anomaly: str) -> None:
    h = load(DATA / f"txn-{anomaly}-bad.jsonl")
    r = check(h)
    assert set(r.anomalies) == {anomaly}, r.to_json()
    assert r.counts[anomaly] == 1 and r.valid is False
    (w,) = r.anomalies[anomaly]
    assert w["key"] == "1" and set(w["ops"]) <= {op.index for op in h.ops}
    if anomaly != "double-owner":
        assert "in a transaction" in w["message"], w["message"]


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_txn_ok_history_reports_nothing(anomaly: str) -> None:
    h = load(DATA / f"txn-{anomaly}-ok.jsonl")
    r = check(h)
    assert r.anomalies == {} and r.valid is True, r.to_json()
    assert log_check(h, LogCheckOptions(sub_via="subscribe")).valid is True


@pytest.mark.parametrize("verdict", ["ok", "bad"])
def test_txn_histories_judge_the_same_through_jepsens_edn(tmp_path: Path,
                                                          verdict: str) -> None:
    """The txn extras (offsets, membership) survive the EDN export and import."""
    for anomaly in ANOMALY_TYPES:
        h = load(DATA / f"txn-{anomaly}-{verdict}.jsonl")
        write_edn(tmp_path / "history.edn", h.ops)
        again = load(tmp_path / "history.edn")
        assert [op.extra for op in again.ops] == [op.extra for op in h.ops]
        a, b = check(h), check(again)
        assert (a.counts, a.stats) == (b.counts, b.stats), anomaly


def test_txn_commits_are_counted() -> None:
    r = check(load(DATA / "txn-commit-regression-ok.jsonl"))
    # the members' txns only (process 9 only sends)
    assert r.stats["txn_commits"] == {"ok": 2, "info": 0, "empty": 1, "aborted": 0}
    assert r.stats["commits"]["ok"] == 0 and r.stats["committed"] == {"1": 4}


def _history(*steps: tuple[Any, ...]) -> History:
    """Three records (10, 11, 12 at offsets 0, 1, 3: one committed txn of process 9,
    marker at 2, and another) and process 0 subscribed, then ``steps``: ``(process,
    type, f, value, extra)`` completions, each after its invocation."""
    ops: list[dict[str, Any]] = [
        {"process": 9, "type": "invoke", "f": "txn", "value": [["send", "1", 10],
                                                              ["send", "1", 11]]},
        {"process": 9, "type": "ok", "f": "txn", "value": [["send", "1", [0, 10]],
                                                          ["send", "1", [1, 11]]]},
        {"process": 9, "type": "invoke", "f": "txn", "value": [["send", "1", 12]]},
        {"process": 9, "type": "ok", "f": "txn", "value": [["send", "1", [3, 12]]]},
        {"process": 0, "type": "invoke", "f": "subscribe", "value": ["1"]},
        {"process": 0, "type": "ok", "f": "subscribe", "value": ["1"]},
        {"process": 1, "type": "invoke", "f": "subscribe", "value": ["1"]},
        {"process": 1, "type": "ok", "f": "subscribe", "value": ["1"]},
    ]
    for p, typ, f, value, extra in steps:
        ops.append({"process": p, "type": "invoke", "f": f,
                    "value": [["poll"]] if f == "txn" else None})
        ops.append({"process": p, "type": typ, "f": f, "value": value, **extra})
    return History.of(op_from_dict(d, i) for i, d in enumerate(ops))


def _polled(*pairs: list[int]) -> list[Any]:
    return [["poll", {"1": list(pairs)} if pairs else {}]]


def test_an_aborted_txns_reads_are_not_delivery() -> None:
    """Offset 0 was read only in an aborted txn; the next txn began at 1 (the client
    had sought back to 0): the group committed past a record it never kept."""
    aborted = ("fail", {"membership": A1, "error": ["aborted", "asked"]})
    h = _history((0, aborted[0], "txn", _polled([0, 10]), aborted[1]),
                 (0, "ok", "txn", _polled([1, 11]), {"membership": A1, "offsets": {"1": 2}}))
    r = check(h)
    assert set(r.anomalies) == {"commit-skip"}, r.to_json()
    assert r.anomalies["commit-skip"][0]["offsets"] == [0, 2]
    assert r.stats["txn_commits"]["aborted"] == 1


def test_an_aborted_txns_offsets_are_not_a_commit() -> None:
    """Even if a history recorded offsets on an aborted txn, they were never the
    group's: a later fetch without them is no loss, nor a lower commit a regression."""
    h = _history((0, "fail", "txn", _polled([0, 10], [1, 11], [3, 12]),
                  {"membership": A1, "offsets": {"1": 4}, "error": ["aborted", "asked"]}),
                 (0, "ok", "txn", _polled([0, 10], [1, 11]),
                  {"membership": A1, "offsets": {"1": 2}}),
                 (1, "ok", "committed", {"1": 2}, {}))
    r = check(h)
    assert r.anomalies == {} and r.valid is True, r.to_json()
    assert r.stats["committed"] == {"1": 2}


def test_an_info_txns_offsets_prove_nothing_but_its_reads_were_delivered() -> None:
    """An info txn may have committed its offsets (4): the next owner may start there,
    having read nothing below; nor is a fetch that misses them a lost commit."""
    h = _history((0, "info", "txn", _polled([0, 10], [1, 11], [3, 12]),
                  {"membership": A1, "offsets": {"1": 4}, "error": ["timeout"]}),
                 (1, "ok", "committed", {"1": None}, {}),
                 (1, "ok", "txn", _polled(), {"membership": B2, "offsets": {"1": 4}}))
    r = check(h)
    assert r.anomalies == {} and r.valid is True, r.to_json()
    assert r.stats["txn_commits"]["info"] == 1 and r.stats["txn_commits"]["ok"] == 1
    # the same story without the info txn's reads: the group skipped three records
    h = _history((0, "info", "txn", [["poll"]],
                  {"membership": A1, "offsets": {"1": 4}, "error": ["timeout"]}),
                 (1, "ok", "txn", _polled(), {"membership": B2, "offsets": {"1": 4}}))
    assert check(h).counts.get("commit-skip") == 3


def test_an_info_txns_reads_are_not_positions() -> None:
    """The client replaces itself after an info txn; its reads (whatever epoch it
    reported) are not a new member's first reads, so they cannot be a reset."""
    h = _history((0, "ok", "txn", _polled([0, 10], [1, 11]),
                  {"membership": A1, "offsets": {"1": 2}}),
                 (0, "ok", "txn", _polled(), {"membership": A2}),
                 (1, "info", "txn", _polled([0, 10]), {"membership": B2, "error": ["x"]}))
    r = check(h)
    assert "offset-reset-below-commit" not in r.anomalies, r.to_json()
    h = _history((0, "ok", "txn", _polled([0, 10], [1, 11]),
                  {"membership": A1, "offsets": {"1": 2}}),
                 (0, "ok", "txn", _polled(), {"membership": A2}),
                 (1, "ok", "txn", _polled([0, 10]), {"membership": B2}))
    assert set(check(h).anomalies) == {"offset-reset-below-commit"}


def test_a_txn_and_a_commit_are_one_chain() -> None:
    """A plain commit below a transaction's acknowledged offsets is a regression, and
    the other way round."""
    h = _history((0, "ok", "txn", _polled([0, 10], [1, 11], [3, 12]),
                  {"membership": A1, "offsets": {"1": 4}}),
                 (1, "ok", "commit", {"1": 2}, {"membership": B2}))
    (w,) = check(h).anomalies["commit-regression"]
    assert w["offsets"] == [4, 2] and "in a transaction" in w["message"]
    h = _history((0, "ok", "txn", _polled([0, 10], [1, 11], [3, 12]), {"membership": A1}),
                 (0, "ok", "commit", {"1": 4}, {"membership": A1}),
                 (1, "ok", "txn", _polled(), {"membership": B2, "offsets": {"1": 2}}))
    assert set(check(h).anomalies) == {"commit-regression"}


def test_a_history_of_txns_with_membership_is_judged() -> None:
    h = _history((0, "ok", "txn", _polled([0, 10]), {"membership": A1}))
    r = check(h)
    assert r.valid is True and r.stats["membership_reports"] == 1
    assert r.stats["txn_commits"] == {"ok": 0, "info": 0, "empty": 1, "aborted": 0}


@pytest.mark.parametrize("offsets, match", [
    (["1", 2], "a txn's offsets must be a map"),
    ({"1": "2"}, "must be an integer"),
])
def test_malformed_txn_offsets_are_clear_errors(offsets: Any, match: str) -> None:
    h = _history((0, "ok", "txn", _polled([0, 10]), {"membership": A1, "offsets": offsets}))
    with pytest.raises(HistoryError, match=match):
        check(h)
