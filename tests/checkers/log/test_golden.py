"""Golden histories: ``tests/data/log/<type>-ok|bad.{jsonl,edn}`` for every type.

A ``-bad`` file must report its type, with the verdict its default classification
implies; a ``-ok`` file (the same story told right) must report nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checkers.log import ANOMALY_TYPES, GUARANTEES, LogCheckOptions, check
from harness.history import load

DATA = Path(__file__).resolve().parents[2] / "data" / "log"
FORMATS = ("jsonl", "edn")
WITNESS_FIELDS = ("ops", "process", "key", "offsets", "values", "message")


def test_every_type_has_golden_files_and_a_guarantee() -> None:
    for t in ANOMALY_TYPES:
        for verdict in ("ok", "bad"):
            for fmt in FORMATS:
                assert (DATA / f"{t}-{verdict}.{fmt}").is_file(), f"{t}-{verdict}.{fmt}"
        assert GUARANTEES[t].endswith(".")
    assert set(GUARANTEES) == set(ANOMALY_TYPES)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_bad_history_reports_its_type(anomaly: str, fmt: str) -> None:
    h = load(DATA / f"{anomaly}-bad.{fmt}")
    r = check(h)
    assert anomaly in r.anomalies, r.to_json()
    assert r.counts[anomaly] == len(r.anomalies[anomaly]) >= 1
    opts = LogCheckOptions()
    assert r.classification[anomaly] == opts.classify(anomaly)
    assert r.valid is (not any(opts.classify(t) == "bad" for t in r.anomalies))
    json.dumps(r.to_json())  # JSON-ready, as the report embeds it
    indices = {op.index for op in h.ops}
    for w in r.anomalies[anomaly]:
        for field in WITNESS_FIELDS:
            assert field in w, (field, w)
        assert w["ops"] and set(w["ops"]) <= indices
        assert isinstance(w["message"], str) and len(w["message"]) > 20


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_ok_history_reports_nothing(anomaly: str, fmt: str) -> None:
    r = check(load(DATA / f"{anomaly}-ok.{fmt}"))
    assert r.anomalies == {}, r.to_json()
    assert r.valid is True


@pytest.mark.parametrize("anomaly", ANOMALY_TYPES)
def test_jsonl_and_edn_agree(anomaly: str) -> None:
    a = check(load(DATA / f"{anomaly}-bad.jsonl")).to_json()
    b = check(load(DATA / f"{anomaly}-bad.edn")).to_json()
    assert a == b
