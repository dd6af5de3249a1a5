"""The index over several run directories: matrix, recent runs, trends."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from harness.report import index_model, write_index, write_report
from harness.report._index import find_runs, suite_of, summarize
from tests.report._dom import parse
from tests.report.fixtures.make import hand_result_json, run_config, write_run

FIXTURES = Path(__file__).parent / "fixtures"


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    for name in ("valid-ok", "invalid-log-bad", "unknown-timeout", "unknown-noresults"):
        shutil.copytree(FIXTURES / name, root / name,
                        ignore=shutil.ignore_patterns("report.html", "junit.xml"))
    # Three repeated runs of one command on another target, nested one level deeper.
    lost = {"lost-write": [{"key": "1", "offsets": [3], "ops": [1], "message": "lost"}]}
    for i, (seed, w) in enumerate([(11, {}), (12, lost), (13, {})]):
        cfg = run_config(f"tansu-{i}", seed=seed, duration_s=5, target="tansu",
                         started_at=f"2026-11-25T11:0{i}:00Z")
        write_run(root / "nightly" / f"tansu-{i}", cfg, None, hand_result_json(w),
                  logs=False)
    write_report(root / "valid-ok")
    return root


def test_finds_runs_and_groups_by_seedless_command(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    runs = find_runs(root)
    assert [p.relative_to(root).as_posix() for p in runs] == [
        "invalid-log-bad", "nightly/tansu-0", "nightly/tansu-1", "nightly/tansu-2",
        "unknown-noresults", "unknown-timeout", "valid-ok"]
    cfg = orjson.loads((root / "nightly/tansu-0/run.json").read_bytes())
    assert "--seed" not in suite_of(cfg)
    assert suite_of({"suite": "conformance/acks", "command": "x"}) == "conformance/acks"


def test_matrix_trend_and_recent(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    m = index_model(root, [summarize(p) for p in find_runs(root)])
    assert m["targets"] == ["reference", "tansu"]
    assert m["totals"] == {"pass": 3, "fail": 2, "unknown": 2}
    rows = {r["property"]: r["cells"] for r in m["matrix"]}
    ref, tansu = 0, 1
    # log on tansu: the latest of three runs passed; one of three failed.
    assert rows["log"][tansu]["verdict"] == "pass"
    assert rows["log"][tansu]["tally"]["fail"] == 1 and rows["log"][tansu]["n"] == 3
    # No report written for it yet: the cell links to the run directory.
    assert rows["log"][tansu]["href"] == "nightly/tansu-2/"
    assert rows["log/lost-write"][tansu]["tally"] == {"pass": 2, "fail": 1, "allowed": 0,
                                                      "unknown": 0}
    assert rows["log/poll-skip"][tansu]["verdict"] == "pass"
    assert rows["log/poll-skip"][ref]["tally"]["fail"] == 1
    assert rows["linearizable"][ref]["tally"]["unknown"] == 1
    # Same started_at for the reference fixtures: the run id breaks the tie.
    assert rows["linearizable"][ref]["run_id"] == "valid-ok"
    # Repeated commands (seed aside): the tansu nightly, and three reference runs.
    assert len(m["trends"]) == 2
    trend = next(t for t in m["trends"] if "tansu" in t["suite"])
    assert [r["verdict"] for r in trend["runs"]] == ["pass", "fail", "pass"]
    ref_trend = next(t for t in m["trends"] if "tansu" not in t["suite"])
    assert [r["run_id"] for r in ref_trend["runs"]] == ["unknown-noresults", "unknown-timeout",
                                                        "valid-ok"]
    assert trend["fails"] == 1 and trend["n"] == 3
    assert m["recent"][0]["run_id"] == "tansu-2"
    noresults = next(r for r in m["recent"] if r["run_id"] == "unknown-noresults")
    assert noresults["verdict"] == "unknown" and noresults["problem"] == "no results.json"
    valid = next(r for r in m["recent"] if r["run_id"] == "valid-ok")
    assert valid["has_report"]


def test_index_page(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    out = write_index(root)
    assert out == root / "index.html"
    dom = parse(out.read_text())
    assert dom.by_id("totals").norm_text() == "3 passed · 2 failed · 2 unknown"
    matrix = dom.by_id("matrix")
    heads = [th.norm_text() for th in matrix.find("thead").find_all("th")]
    assert heads == ["property", "reference", "tansu"]
    lw = matrix.find("tr", data_property="log/lost-write")
    cells = {td.attrs["data-target"]: td for td in lw.find_all("td") if "data-target" in td.attrs}
    # The latest reference run (valid-ok) passed; one of its three runs failed.
    assert cells["reference"].attrs["data-verdict"] == "pass"
    assert cells["reference"].find("a").attrs["href"] == "valid-ok/report.html"
    assert "1/3 failed" in cells["reference"].norm_text()
    assert "1/3 failed" in cells["tansu"].norm_text()
    tansu_row = next(tr for tr in dom.by_id("trends").find("tbody").find_all("tr")
                 if "tansu" in tr.find("td").norm_text())
    boxes = tansu_row.find_all("span", cls="tbox")
    assert [b.attrs["class"].split()[1] for b in boxes] == ["badge-pass", "badge-fail",
                                                            "badge-pass"]
    recent = dom.by_id("recent").find("tbody").find_all("tr")
    assert len(recent) == 7
    assert recent[0].find_all("td")[1].norm_text().startswith("tansu-2")
    # Every link points at a report of a run under the root.
    for a in dom.find_all("a"):
        href = a.attrs["href"]
        run = root / href if href.endswith("/") else (root / href).parent
        assert (run / "run.json").is_file(), href
        assert href.endswith("/") or (root / href).is_file()


def test_regenerate_writes_every_run_then_the_index(tmp_path: Path) -> None:
    from harness.errors import UsageError
    from harness.report import regenerate

    root = make_root(tmp_path)
    runs = [root / "valid-ok", root / "invalid-log-bad"]
    out = regenerate(runs, index=True)
    assert out == [runs[0] / "report.html", runs[0] / "junit.xml",
                   runs[1] / "report.html", runs[1] / "junit.xml", root / "index.html"]
    assert all(p.is_file() for p in out)
    nested = regenerate([root / "nightly" / "tansu-0"], index=True)
    assert nested[-1] == root / "nightly" / "index.html"
    assert regenerate([], index=True, reports_root=root) == [root / "index.html"]
    import pytest

    with pytest.raises(UsageError, match="no run directory given"):
        regenerate([])
    with pytest.raises(UsageError, match="not a directory"):
        regenerate([], index=True, reports_root=root / "missing")


def test_module_entry_point(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = make_root(tmp_path)
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-m", "harness.report", str(root / "valid-ok"),
                        "--index", "--root", str(root)], capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [str(root / "valid-ok" / "report.html"),
                                     str(root / "valid-ok" / "junit.xml"),
                                     str(root / "index.html")]
    p = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=env, timeout=60, check=False)
    assert p.returncode == 2
    assert p.stderr.startswith("logtrial report: ") and "no run.json" in p.stderr
    assert "Traceback" not in p.stderr
