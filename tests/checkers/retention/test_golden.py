"""Golden histories: ``data/<type>-ok|bad.jsonl`` for every retention anomaly type.

Every file is judged with retention.ms = 2000 and the default tolerance. A ``-bad``
file must report its type (and only once per deleted record); a ``-ok`` file, the
same story told right, must report nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checkers.retention import (
    ANOMALY_TYPES,
    GUARANTEES,
    RetentionCheckOptions,
    check,
)
from harness.history import load

DATA = Path(__file__).resolve().parent / "data"
OPTS = RetentionCheckOptions(retention_ms=2000)
WITNESS_FIELDS = ("ops", "process", "key", "offsets", "message")


def test_every_type_has_golden_files_and_a_guarantee() -> None:
    for t in ANOMALY_TYPES:
        for verdict in ("ok", "bad"):
            assert (DATA / f"{t}-{verdict}.jsonl").is_file(), f"{t}-{verdict}"
        assert GUARANTEES[t].endswith(".")
    assert set(GUARANTEES) == set(ANOMALY_TYPES)


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_bad_history_reports_its_type(anomaly: str) -> None:
    h = load(DATA / f"{anomaly}-bad.jsonl")
    r = check(h, OPTS)
    assert set(r.anomalies) == {anomaly}, r.to_json()
    assert r.counts[anomaly] == len(r.anomalies[anomaly]) == 1
    assert r.classification[anomaly] == "bad"
    assert r.valid is False
    json.dumps(r.to_json())
    indices = {op.index for op in h.ops}
    for w in r.anomalies[anomaly]:
        for field in WITNESS_FIELDS:
            assert field in w, (field, w)
        assert w["ops"] and set(w["ops"]) <= indices
        assert isinstance(w["message"], str) and len(w["message"]) > 20


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_ok_history_reports_nothing(anomaly: str) -> None:
    r = check(load(DATA / f"{anomaly}-ok.jsonl"), OPTS)
    assert r.anomalies == {}, r.to_json()
    assert r.valid is True


def test_early_deletion_witness_names_the_send_and_the_observation() -> None:
    r = check(load(DATA / "early-deletion-bad.jsonl"), OPTS)
    (w,) = r.anomalies["early-deletion"]
    # value 2 (offset 1) was sent in op 2 (an info send a poll proved), gone by op 9
    assert w["ops"] == [2, 3, 8, 9]
    assert w["offsets"] == [1, 2] and w["values"] == [2] and w["key"] == "0"
    assert 690 <= w["age_ms_max"] <= 710
    assert "retention.ms" in w["message"]


def test_log_start_regression_witness() -> None:
    r = check(load(DATA / "log-start-regression-bad.jsonl"), OPTS)
    (w,) = r.anomalies["log-start-regression"]
    assert w["ops"] == [1, 2, 3] and w["offsets"] == [5, 3] and w["key"] == "0"
