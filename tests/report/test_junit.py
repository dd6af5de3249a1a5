"""JUnit XML: one testsuite per run, one testcase per checker, well-formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import orjson

from harness.report import write_junit
from harness.report._verdict import guarantee_table


def suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    s = suites[0]
    cases = s.findall("testcase")
    # Counts are consistent with the testcases, as CI tools require.
    for el in (root, s):
        assert int(el.get("tests")) == len(cases)
        assert int(el.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(el.get("errors")) == sum(c.find("error") is not None for c in cases)
        assert el.get("skipped") == "0"
        float(el.get("time"))
    for c in cases:
        assert c.get("name") and c.get("classname")
        assert len([x for x in c if x.tag in ("failure", "error", "skipped")]) <= 1
    return s


def test_invalid_run(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("invalid-log-bad")
    out = write_junit(d)
    assert out == d / "junit.xml"
    assert out.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
    s = suite(out)
    assert s.get("name") == "logtrial.reference.invalid-log-bad"
    cases = {c.get("name"): c for c in s.findall("testcase")}
    assert set(cases) == {"log", "linearizable"}
    assert cases["linearizable"].find("failure") is None
    f = cases["log"].find("failure")
    counts = orjson.loads((d / "results.json").read_bytes())["children"]["log"]["counts"]
    assert len(counts) == 7
    assert f.get("message") == ", ".join(f"{t} x{n}" for t, n in sorted(counts.items()))
    assert f"lost-write: breaks: {guarantee_table()['lost-write']}" in f.text
    props = {p.get("name"): p.get("value") for p in s.find("properties")}
    assert props["seed"] == "2" and props["acks"] == "all"
    assert props["command"].startswith("logtrial run --target reference")


def test_valid_allowed_and_unknown_runs(run_dir: Callable[[str], Path]) -> None:
    s = suite(write_junit(run_dir("valid-ok")))
    assert s.get("failures") == "0" and s.get("errors") == "0" and s.get("tests") == "2"
    d = run_dir("allowed-ok")
    counts = orjson.loads((d / "results.json").read_bytes())["counts"]
    s = suite(write_junit(d))
    log = next(c for c in s.findall("testcase") if c.get("name") == "log")
    assert log.find("failure") is None
    assert log.find("system-out").text == "allowed by this configuration: " + ", ".join(
        f"{t} x{n}" for t, n in sorted(counts.items()))
    s = suite(write_junit(run_dir("unknown-timeout")))
    lin = next(c for c in s.findall("testcase") if c.get("name") == "linearizable")
    assert lin.find("error").get("message") == "timed out after 10 s searching partition key 2"
    s = suite(write_junit(run_dir("unknown-noresults")))
    [case] = s.findall("testcase")
    assert case.get("name") == "checkers" and case.find("error") is not None
