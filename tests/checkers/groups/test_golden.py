"""Golden histories: ``tests/data/groups/<type>-ok|bad.jsonl`` for every type.

A ``-bad`` file must report its type (and only it), bad by default; a ``-ok`` file (the
same story told right) must report nothing. The log checker agrees the ok files are
clean too, so the stories are plausible Kafka histories.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checkers.groups import ANOMALY_TYPES, GUARANTEES, GroupsCheckOptions, check
from harness.checkers.log import LogCheckOptions
from harness.checkers.log import check as log_check
from harness.history import load

DATA = Path(__file__).resolve().parents[2] / "data" / "groups"
WITNESS_FIELDS = ("ops", "process", "key", "offsets", "message")


def test_every_type_has_golden_files_and_a_guarantee() -> None:
    for t in ANOMALY_TYPES:
        for verdict in ("ok", "bad"):
            assert (DATA / f"{t}-{verdict}.jsonl").is_file(), f"{t}-{verdict}.jsonl"
        assert GUARANTEES[t].endswith(".")
    assert set(GUARANTEES) == set(ANOMALY_TYPES)


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_bad_history_reports_its_type(anomaly: str) -> None:
    h = load(DATA / f"{anomaly}-bad.jsonl")
    r = check(h)
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
        assert w["key"] == "1"
        assert isinstance(w["message"], str) and len(w["message"]) > 40


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_ok_history_reports_nothing(anomaly: str) -> None:
    h = load(DATA / f"{anomaly}-ok.jsonl")
    r = check(h)
    assert r.anomalies == {}, r.to_json()
    assert r.valid is True
    assert log_check(h, LogCheckOptions(sub_via="subscribe")).valid is True


@pytest.mark.parametrize("anomaly", ["commit-regression", "offset-reset-below-commit",
                                     "commit-skip"])
def test_weak_acks_allow_what_a_truncated_log_explains(anomaly: str) -> None:
    r = check(load(DATA / f"{anomaly}-bad.jsonl"), GroupsCheckOptions(acks="1"))
    assert r.classification == {anomaly: "allowed"}
    assert r.valid is True


@pytest.mark.parametrize("anomaly", ["double-owner", "lost-commit"])
def test_coordinator_state_is_bad_whatever_the_acks(anomaly: str) -> None:
    r = check(load(DATA / f"{anomaly}-bad.jsonl"), GroupsCheckOptions(acks="0"))
    assert r.valid is False


def test_witnesses_name_the_story() -> None:
    r = check(load(DATA / "offset-reset-below-commit-bad.jsonl"))
    (w,) = r.anomalies["offset-reset-below-commit"]
    assert w["offsets"] == [2, 0] and w["processes"] == [0, 1] and w["values"] == [10]
    r = check(load(DATA / "commit-regression-bad.jsonl"))
    (w,) = r.anomalies["commit-regression"]
    assert w["offsets"] == [2, 1] and w["processes"] == [0, 1]
    r = check(load(DATA / "double-owner-bad.jsonl"))
    (w,) = r.anomalies["double-owner"]
    assert w["generation"] == 1 and w["members"] == ["a", "b"]
    r = check(load(DATA / "lost-commit-bad.jsonl"))
    (w,) = r.anomalies["lost-commit"]
    assert w["offsets"] == [2, -1] and w["processes"] == [0, 1]
