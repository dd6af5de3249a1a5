"""JUnit XML for CI: one ``<testsuite>`` per run, one ``<testcase>`` per checker.

A checker that found a bad anomaly is a ``<failure>`` (message: the anomaly types and
counts; text: the guarantee each breaks and the first witnesses); an ``unknown``
verdict is an ``<error>`` (the run proved nothing, which CI must not show as green);
allowed anomalies go to ``<system-out>``. A run without results is one errored
testcase. The run's settings and replay command are ``<properties>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.checkers import CheckResult

from ._build import options_of
from ._load import load_summary
from ._verdict import checkers_of, guarantee_table
from ._witness import compact

JUNIT_FILE = "junit.xml"
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(s: Any) -> str:
    """Text safe for XML 1.0 (ElementTree escapes markup, not control characters)."""
    return _BAD_XML.sub("\ufffd", str(s))


def junit_tree(config: dict[str, Any], result: CheckResult | None) -> ET.Element:
    """The ``<testsuites>`` element for one run (pure)."""
    run_id = str(config.get("run_id", "run"))
    target = str(config.get("target", "unknown"))
    duration = config.get("duration_s")
    dur = f"{float(duration):.3f}" if isinstance(duration, (int, float)) else "0"
    suites = ET.Element("testsuites", name="logtrial")
    suite = ET.SubElement(suites, "testsuite", name=_x(f"logtrial.{target}.{run_id}"))
    if config.get("started_at"):
        suite.set("timestamp", _x(str(config["started_at"])[:19]))
    props = ET.SubElement(suite, "properties")
    opts = options_of(config)
    for name, value in [("run_id", run_id), ("target", target),
                        ("seed", config.get("seed")), ("command", config.get("command")),
                        *sorted(opts.items())]:
        if value is not None:
            ET.SubElement(props, "property", name=_x(name),
                          value=_x(value if isinstance(value, str) else compact(value, 400)))
    table = guarantee_table()
    tests = failures = errors = 0
    checkers = checkers_of(result) if result is not None else []
    if result is None:
        tc = ET.SubElement(suite, "testcase", classname=_x(f"logtrial.{target}"),
                           name="checkers", time=dur)
        ET.SubElement(tc, "error", type="unknown",
                      message="no results.json: the checkers did not run")
        tests, errors = 1, 1
    for r in checkers:
        tests += 1
        tc = ET.SubElement(suite, "testcase", classname=_x(f"logtrial.{target}"),
                           name=_x(r.checker), time=dur)
        bad = [t for t in sorted(r.anomalies) if r.classification.get(t, "bad") == "bad"]
        allowed = [t for t in sorted(r.anomalies) if r.classification.get(t) == "allowed"]
        if r.valid is False:
            failures += 1
            msg = ", ".join(f"{t} x{r.counts.get(t, len(r.anomalies[t]))}" for t in bad)
            lines = []
            for t in bad:
                lines.append(f"{t}: breaks: {table.get(t, '?')}")
                for w in r.anomalies[t][:3]:
                    lines.append(f"  witness: {compact(w, 400)}")
            f = ET.SubElement(tc, "failure", type="anomaly",
                              message=_x(msg or "the checker found the history invalid"))
            f.text = _x("\n".join(lines) or (r.error or ""))
        elif r.valid is not True:
            errors += 1
            e = ET.SubElement(tc, "error", type="unknown",
                              message=_x((r.error or "the checker could not decide")
                                         .splitlines()[0]))
            e.text = _x(r.error or "")
        if allowed:
            out = ET.SubElement(tc, "system-out")
            out.text = _x("allowed by this configuration: " + ", ".join(
                f"{t} x{r.counts.get(t, len(r.anomalies[t]))}" for t in allowed))
    for el in (suite, suites):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
        el.set("skipped", "0")
        el.set("time", dur)
    return suites


def write_junit(run_dir: Path) -> Path:
    """Write ``run_dir/junit.xml`` from ``run.json`` and ``results.json``."""
    from ._render import atomic_write

    run_dir = Path(run_dir)
    config, result = load_summary(run_dir)
    config.setdefault("run_id", run_dir.name)
    tree = junit_tree(config, result)
    ET.indent(tree)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="unicode")
    out = run_dir / JUNIT_FILE
    atomic_write(out, text + "\n")
    return out
