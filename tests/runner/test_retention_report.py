"""A run whose retention checker found ``early-deletion`` renders: the verdict table
lists it under ``retention``, and its witness shows the message and names the ops."""

from __future__ import annotations

from pathlib import Path

import orjson

from harness.history import write_jsonl
from harness.report import write_report
from harness.runner import RunOptions, check_history
from harness.runner._run import write_json
from tests.report._dom import parse
from tests.runner.test_retention_run import DELETED


def test_a_retention_anomaly_renders(tmp_path: Path) -> None:
    opts = RunOptions(retention_ms=2000, seed=3)
    result = check_history(DELETED, opts)
    assert result.bad_types == ["early-deletion"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_json(run_dir / "run.json", {
        "run_id": "retention-bad", "target": "reference", "nodes": 1, "backend": "proxy",
        "seed": 3, "started_at": "2026-11-25T10:00:00Z", "duration_s": 1.0,
        "versions": {}, "options": opts.to_json(), "command": opts.replay_command()})
    write_jsonl(run_dir / "history.jsonl", DELETED.ops)
    write_json(run_dir / "results.json", result.to_json())
    dom = parse(write_report(run_dir).read_text())
    assert dom.by_id("overall-verdict").norm_text() == "FAIL"
    rows = [[td.norm_text() for td in tr.find_all("td")]
            for tr in dom.by_id("verdict").find("tbody").find_all("tr")]
    assert ["retention", "early-deletion", "fail", "1"] in [r[:4] for r in rows], rows
    (w,) = orjson.loads((run_dir / "results.json").read_bytes())["anomalies"]["early-deletion"]
    art = dom.by_id("anomaly-retention-early-deletion")
    div = art.find("div", cls="witness")
    assert div.find("p", cls="witness-msg").norm_text() == w["message"]
    shown = [int(tr.find("td").norm_text()) for tr in div.find("tbody").find_all("tr")]
    assert shown == w["ops"] == [0, 1, 4, 5]
