"""Verdict rows, guarantees and allowed-by-config reasons."""

from __future__ import annotations

from harness.checkers import CheckResult, compose
from harness.report._verdict import (
    FALLBACK_GUARANTEES,
    allowed_reason,
    guarantee_table,
    verdict_rows,
    verdict_word,
)


def test_rows_per_checker_and_anomaly() -> None:
    log = CheckResult("log", valid=False,
                      anomalies={"lost-write": [{}], "duplicate": [{}, {}]},
                      classification={"lost-write": "allowed", "duplicate": "bad"},
                      counts={"lost-write": 1, "duplicate": 7})
    lin = CheckResult("linearizable", valid="unknown", error="timed out\nstack")
    rows = verdict_rows(compose("run", [log, lin]), {"acks": "1"})
    got = [(r.checker, r.anomaly, r.verdict, r.count, r.allowed_reason, r.note) for r in rows]
    assert got == [
        ("log", "duplicate", "fail", 7, None, None),
        ("linearizable", None, "unknown", 0, None, "timed out"),
        ("log", "lost-write", "allowed", 1,
         "acks=1: only the leader had the record when it was acknowledged", None),
    ]
    assert rows[0].guarantee == guarantee_table()["duplicate"]


def test_uncomposed_result_is_its_own_row() -> None:
    rows = verdict_rows(CheckResult("log", valid=True), {})
    assert [(r.checker, r.verdict, r.guarantee) for r in rows] == [
        ("log", "pass", "no anomaly found")]
    assert verdict_rows(None, {}) == []


def test_allowed_reasons_follow_options() -> None:
    assert allowed_reason("poll-skip", {"sub_via": "subscribe"}).startswith("subscribe")
    assert allowed_reason("duplicate", {"idempotence": False}).startswith("idempotence off")
    assert allowed_reason("lost-write", {"acks": "all"}) == "allowed by this run's configuration"
    assert allowed_reason("weird", {}) == "allowed by this run's configuration"


def test_guarantee_table_covers_the_design_anomalies() -> None:
    table = guarantee_table()
    for t in ("inconsistent-offsets", "duplicate", "lost-write", "G1a", "precommitted-read",
              "poll-skip", "nonmonotonic-poll", "int-poll-skip", "int-nonmonotonic-poll",
              "int-send-skip", "int-nonmonotonic-send", "nonmonotonic-send", "unseen",
              "G0", "G1c", "nonlinearizable"):
        assert table.get(t), t
    assert set(FALLBACK_GUARANTEES) <= set(table)


def test_verdict_words() -> None:
    assert [verdict_word(v) for v in (True, False, "unknown", None)] == [
        "pass", "fail", "unknown", "unknown"]


def test_checker_notes_are_shown() -> None:
    r = CheckResult("log", valid=True, stats={"notes": ["assumed sub_via=assign"]})
    [row] = verdict_rows(r, {})
    assert row.note == "assumed sub_via=assign"
