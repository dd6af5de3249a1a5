"""The report in a real browser: Debian's Chromium, headless, driven by Playwright.

The page is opened from disk with the network off (the context is offline and any
request that is not a ``file:`` or ``data:`` URL fails the test). Screenshots are
kept as test artefacts in ``reports/artifacts/`` (git-ignored) and the tmp dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.report import write_index, write_report
from tests.report.fixtures.make import PAYLOADS, escape_run, result_json, run_config, write_run

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python (pip: playwright) is not installed")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (scripts/setup-debian.sh installs it)",
                allow_module_level=True)


class Page:
    """A page plus everything it said: console messages, errors, requests, dialogs."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def problems(self) -> list[str]:
        out = [f"console {t}: {m}" for t, m in self.console if t in ("error", "warning")]
        out += [f"page error: {e}" for e in self.errors]
        out += [f"network request: {u}" for u in self.requests]
        out += [f"dialog: {d}" for d in self.dialogs]
        return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[Path], Page]]:
    contexts = []

    def open_(path: Path) -> Page:
        ctx = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        pg = Page(page)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(("file:", "data:")):
                r.continue_()
            else:
                pg.requests.append(url)
                r.abort()

        page.route("**/*", route)
        page.goto(path.resolve().as_uri(), wait_until="load")
        return pg

    try:
        yield open_
    finally:
        for c in contexts:
            c.close()


def keep(pg: Page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / f"{name}.png"
    pg.page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    assert shot.stat().st_size > 10_000
    return shot


def canvas_ink(pg: Page, selector: str) -> int:
    """Pixels drawn (not transparent) on the canvases under ``selector``."""
    return int(pg.page.evaluate(
        """sel => { let n = 0;
          for (const c of document.querySelectorAll(sel + ' canvas')) {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          } return n; }""", selector))


def test_invalid_report_in_chromium(open_page: Callable[[Path], Page],
                                    run_dir: Callable[[str], Path], tmp_path: Path) -> None:
    pg = open_page(write_report(run_dir("invalid-log-bad")))
    page = pg.page
    assert page.locator("#overall-verdict").inner_text() == "FAIL"
    # The timeline: two uPlot charts, drawn, with the fault bands and the series.
    assert page.locator("body").get_attribute("data-charts") == "2"
    assert page.locator("#chart-throughput canvas").count() == 1
    assert page.locator("#chart-latency canvas").count() == 1
    assert canvas_ink(pg, "#chart-throughput") > 5000
    assert canvas_ink(pg, "#chart-latency") > 5000
    assert "ok" in page.locator("#chart-throughput .u-legend").inner_text()
    # The order diagrams have cells, visibly laid out.
    cells = page.locator("#order svg g.cell")
    assert cells.count() > 50
    box = cells.first.bounding_box()
    assert box is not None and box["width"] > 10 and box["height"] > 10
    # Hovering a cell shows who wrote or read what at that offset.
    tip = page.locator("#tip")
    assert tip.is_hidden()
    page.locator("#order svg g.cell.unread").first.hover()
    assert tip.is_visible()
    assert "written by process" in tip.inner_text()
    assert "offset" in tip.inner_text()
    # ... and hovering a witness op row shows the op.
    page.locator("#anomaly-log-lost-write tbody tr").first.hover()
    assert tip.inner_text().startswith("op ")
    page.mouse.move(5, 5)
    assert tip.is_hidden()
    keep(pg, tmp_path, "report-invalid-log-bad")
    assert pg.problems() == []


def test_linearizability_in_chromium(open_page: Callable[[Path], Page],
                                     run_dir: Callable[[str], Path], tmp_path: Path) -> None:
    pg = open_page(write_report(run_dir("invalid-linear-bad")))
    page = pg.page
    bars = page.locator("#linearizability svg g.op")
    assert bars.count() == 5
    page.locator("#linearizability svg g.op.linearized").nth(1).hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "linearized as #2" in text and "state after: 2" in text
    page.locator("#linearizability svg g.op.failing").hover()
    assert "cannot be linearized" in tip.inner_text()
    page.locator("#linearizability").screenshot(path=str(tmp_path / "linear.png"))
    keep(pg, tmp_path, "report-invalid-linear-bad")
    assert pg.problems() == []


def test_valid_and_unknown_reports_in_chromium(open_page: Callable[[Path], Page],
                                               run_dir: Callable[[str], Path],
                                               tmp_path: Path) -> None:
    pg = open_page(write_report(run_dir("valid-ok")))
    assert pg.page.locator("#overall-verdict").inner_text() == "PASS"
    assert canvas_ink(pg, "#chart-throughput") > 5000
    keep(pg, tmp_path, "report-valid-ok")
    assert pg.problems() == []
    pg = open_page(write_report(run_dir("unknown-noresults")))
    assert pg.page.locator("#overall-verdict").inner_text() == "UNKNOWN"
    assert pg.page.locator("canvas").count() == 0
    assert pg.problems() == []
    # A run of one op, one time bin, no fault: still drawn without complaint.
    ops = [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "send",
            "value": [["send", 1, 5]]},
           {"index": 1, "time": 1000, "process": 0, "type": "ok", "f": "send",
            "value": [["send", 1, [0, 5]]]}]
    d = write_run(tmp_path / "tiny", run_config("tiny", seed=1, duration_s=0), ops,
                  result_json(ops))
    pg = open_page(write_report(d))
    assert pg.page.locator("body").get_attribute("data-charts") == "2"
    assert pg.page.locator("#order svg g.cell").count() == 1  # the send; nothing polled
    assert pg.problems() == []


def test_hostile_history_runs_no_script(open_page: Callable[[Path], Page],
                                        tmp_path: Path) -> None:
    d = escape_run(tmp_path / "hostile")
    pg = open_page(write_report(d))
    page = pg.page
    assert pg.dialogs == []
    assert page.locator("img").count() == 0
    assert PAYLOADS[0] in page.locator("#replay-command").inner_text()
    page.locator("#order svg g.cell").first.hover()
    assert page.locator("#tip").is_visible()
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    keep(pg, tmp_path, "report-hostile")
    assert pg.problems() == []


def test_index_in_chromium(open_page: Callable[[Path], Page],
                           run_dir: Callable[[str], Path], tmp_path: Path) -> None:
    for name in ("valid-ok", "invalid-log-bad", "unknown-timeout"):
        write_report(run_dir(name))
    pg = open_page(write_index(tmp_path))
    page = pg.page
    assert page.locator("#matrix tbody tr").count() > 3
    keep(pg, tmp_path, "index")
    page.locator("#matrix a").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/report.html")
    assert pg.problems() == []
