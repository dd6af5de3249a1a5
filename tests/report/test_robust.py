"""Whatever a results file holds, the page renders, and every string stays text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers import CheckResult, compose
from harness.report import build_report, render_report
from harness.report._load import load_run
from tests.report._dom import parse

FIXTURE = Path(__file__).parent / "fixtures" / "invalid-log-bad"

texts = st.text(alphabet=st.sampled_from(list("<>\"'&/ab =\u2028\x00é")), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                                                                      allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)
witnesses = st.fixed_dictionaries({}, optional={
    "ops": st.lists(st.integers(-5, 2000), max_size=5) | json_values,
    "key": json_values, "process": json_values, "offsets": json_values,
    "values": json_values, "message": json_values, "explanation": json_values,
    "partition": json_values})
anomalies = st.dictionaries(
    st.sampled_from(["lost-write", "duplicate", "nonlinearizable", "G1a"]) | texts,
    st.lists(witnesses | json_values, max_size=3), max_size=3)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anomalies=anomalies, valid=st.sampled_from([True, False, "unknown"]),
       error=st.none() | texts)
def test_any_result_renders_as_text(anomalies: dict[str, Any], valid: Any,
                                    error: str | None) -> None:
    run = load_run(FIXTURE)
    child = CheckResult("log", valid=valid, anomalies=anomalies,
                        classification={t: "bad" for t in anomalies}, error=error)
    run.result = CheckResult.from_json(orjson.loads(orjson.dumps(
        compose("run", [child]).to_json(), option=orjson.OPT_NON_STR_KEYS)))
    html = render_report(build_report(run))
    dom = parse(html)
    assert not dom.find_all("img")
    assert len(dom.find_all("script")) == 3
    assert dom.by_id("overall-verdict").norm_text() in ("PASS", "FAIL", "UNKNOWN")
    orjson.loads(dom.by_id("report-data").text)


small = st.integers(0, 6)
exp_ops = st.lists(st.fixed_dictionaries({
    "id": small, "client": small | texts, "call": small,
    "return": st.none() | small, "index": st.none() | small,
    "times_ns": st.none() | st.lists(st.none() | st.integers(0, 10**9), min_size=2,
                                     max_size=2),
    "unknown": st.booleans(), "description": json_values}), max_size=6)
explanations = st.fixed_dictionaries({
    "key": json_values, "ops": exp_ops, "linearized": st.lists(small, max_size=6),
    "points": st.lists(small, max_size=6), "states": st.lists(json_values, max_size=6),
    "final_state": json_values, "blocking": st.none() | small,
    "candidates": st.lists(st.fixed_dictionaries({"id": small, "legal": st.booleans()}),
                           max_size=3),
    "model": json_values})


@settings(max_examples=60, deadline=None)
@given(explanation=explanations, message=json_values)
def test_any_linearizability_explanation_renders(explanation: dict[str, Any],
                                                 message: Any) -> None:
    from harness.report._linear import linear_layout

    w = {"key": explanation["key"], "ops": [1], "message": message,
         "explanation": explanation}
    lay = linear_layout(w)
    run = load_run(FIXTURE)
    run.result = CheckResult("linearizable", valid=False, anomalies={"nonlinearizable": [w]},
                             classification={"nonlinearizable": "bad"})
    dom = parse(render_report(build_report(run)))
    fig = dom.by_id("linearizability").find("figure")
    if lay["drawable"]:
        assert len(fig.find_all("g", cls="op")) == len(lay["bars"])
        for p in lay["points"]:
            bar = next(b for b in lay["bars"] if b["id"] == p["id"])
            assert bar["x0"] <= p["x"] <= bar["x1"]
    else:
        assert fig.find("pre")
