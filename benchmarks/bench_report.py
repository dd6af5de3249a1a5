"""Report scale: a 100,000-op run's page must stay under 10 MB and render in headless
Chromium in under 3 s (issue 8). Prints the measurements and their ratio to the
targets (a ratio below 1.0 meets the target).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_report.py [--ops 100000] [--keep DIR]

The run directory is simulated (tests/report/fixtures/make.py: clients, a nemesis,
planted anomalies of every log family) and judged by the real log checker; the
browser is Debian's /usr/bin/chromium driven by Playwright, offline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.report import write_report
from harness.report._build import build_report
from harness.report._load import load_run
from harness.report._render import render_report
from tests.report.fixtures.make import (
    FAMILIES,
    Sim,
    result_json,
    run_config,
    simulate,
    write_run,
)

SIZE_TARGET_BYTES = 10 * 1024 * 1024
RENDER_TARGET_S = 3.0
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def make_run(root: Path, n_ops: int) -> Path:
    t = time.perf_counter()
    sim = simulate(Sim(seed=42, n_ops=n_ops, keys=20, processes=10, rate=200.0,
                       plant=FAMILIES * 3))
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    results = result_json(sim.ops)
    t_check = time.perf_counter() - t
    d = write_run(root / "big", run_config("big", seed=42, duration_s=0), sim.ops, results)
    print(f"history: {len(sim.ops):,} ops (simulated in {t_sim:.1f}s, "
          f"log checker {t_check:.1f}s)")
    return d


def measure_render(path: Path, repeats: int = 3) -> float:
    from playwright.sync_api import sync_playwright

    best = float("inf")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        errors: list[str] = []
        try:
            for _ in range(repeats):
                ctx = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
                page = ctx.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                t = time.perf_counter()
                page.goto(path.resolve().as_uri(), wait_until="load")
                page.wait_for_selector("body[data-charts='2']")
                # One more frame: everything laid out and painted.
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(0)))")
                best = min(best, time.perf_counter() - t)
                if errors:
                    raise SystemExit(f"page errors: {errors}")
                ctx.close()
        finally:
            browser.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="copy the run directory (and report) here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        d = make_run(Path(tmp), args.ops)
        t = time.perf_counter()
        run = load_run(d)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        model = build_report(run)
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        html = render_report(model)
        t_render = time.perf_counter() - t
        out = write_report(d, run)
        size = out.stat().st_size
        print(f"python: load {t_load:.2f}s, build {t_build:.2f}s, render {t_render:.2f}s "
              f"({len(html):,} chars)")
        if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
            secs = measure_render(out)
        else:
            secs = float("nan")
            print("chromium not installed: browser timing skipped")
        print(f"report size: {size / 1e6:.2f} MB  target {SIZE_TARGET_BYTES / 1e6:.2f} MB  "
              f"ratio {size / SIZE_TARGET_BYTES:.3f}")
        print(f"chromium open+render: {secs:.2f}s  target {RENDER_TARGET_S:.1f}s  "
              f"ratio {secs / RENDER_TARGET_S:.3f}")
        if args.keep:
            shutil.copytree(d, args.keep / d.name, dirs_exist_ok=True)
            print(f"kept {args.keep / d.name / 'report.html'}")


if __name__ == "__main__":
    main()
