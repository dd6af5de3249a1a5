"""The index across run directories: conformance matrix, recent runs, trends.

A run directory is any directory under the reports root that holds ``run.json``
(searched ``max_depth`` levels deep). Only ``run.json`` and ``results.json`` are read,
never histories, so an index over hundreds of runs stays quick.

- Matrix: rows are properties (each checker, and under it each anomaly type it ever
  reported), columns are targets. A cell is the verdict of the latest run of that
  target that checked the property, linked to that run's report, with the tally over
  all its runs. For an anomaly-type row a run is ``fail`` if it found the type as bad,
  ``allowed`` if as allowed, ``unknown`` if its checker could not decide, else ``pass``.
- Recent runs: newest first (by ``started_at``).
- Trend: runs grouped by suite (``run.json``'s ``suite``, else its command without the
  ``--seed`` argument); each group of two or more runs shows its verdicts in order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checkers import CheckResult
from harness.errors import LogtrialError

from ._load import RUN_FILE, load_summary
from ._verdict import checkers_of, verdict_word

INDEX_FILE = "index.html"
_SEED_ARG = re.compile(r"\s--seed(?:=|\s+)\S+")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the index knows about one run."""

    path: Path
    run_id: str
    target: str
    started_at: str
    duration_s: float | None
    seed: Any
    command: str
    suite: str
    verdict: str
    #: property name -> verdict word (checker names and "checker/anomaly" rows).
    properties: dict[str, str]
    bad: list[str]
    problem: str | None = None


def suite_of(config: dict[str, Any]) -> str:
    """The group a run belongs to for trends: its suite, else its seedless command."""
    if config.get("suite"):
        return str(config["suite"])
    cmd = str(config.get("command") or "")
    return _SEED_ARG.sub("", " " + cmd).strip() or str(config.get("target", "?"))


def properties_of(result: CheckResult | None) -> dict[str, str]:
    """Verdict per property for one run (see the module docstring)."""
    if result is None:
        return {}
    out: dict[str, str] = {}
    for r in checkers_of(result):
        out[r.checker] = verdict_word(r.valid)
        for t in r.anomalies:
            out[f"{r.checker}/{t}"] = "fail" if r.classification.get(t, "bad") == "bad" \
                else "allowed"
    return out


def summarize(run_dir: Path) -> RunSummary:
    """Summary of one run directory; an unreadable one gets ``problem`` set."""
    try:
        config, result = load_summary(run_dir)
    except LogtrialError as e:
        return RunSummary(run_dir, run_dir.name, "?", "", None, None, "", run_dir.name,
                          "unknown", {}, [], str(e))
    dur = config.get("duration_s")
    bad = []
    if result is not None:
        bad = sorted({t for r in checkers_of(result) for t in r.anomalies
                      if r.classification.get(t, "bad") == "bad"})
    return RunSummary(
        path=run_dir, run_id=str(config.get("run_id") or run_dir.name),
        target=str(config.get("target", "?")), started_at=str(config.get("started_at") or ""),
        duration_s=float(dur) if isinstance(dur, (int, float)) else None,
        seed=config.get("seed"), command=str(config.get("command") or ""),
        suite=suite_of(config), verdict=verdict_word(result.valid if result else None),
        properties=properties_of(result), bad=bad,
        problem=None if result is not None else "no results.json")


def find_runs(root: Path, max_depth: int = 4) -> list[Path]:
    """Directories under ``root`` holding ``run.json``, sorted by path."""
    out = []
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        if RUN_FILE in filenames:
            out.append(Path(dirpath))
            dirnames[:] = []  # a run directory holds no other runs
            continue
        if depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "nodes"]
    return sorted(out)


def _cell(runs: list[RunSummary], prop: str) -> dict[str, Any] | None:
    checker = prop.split("/", 1)[0]
    verdicts = []
    for s in runs:
        if prop in s.properties:
            verdicts.append((s, s.properties[prop]))
        elif "/" in prop and checker in s.properties:
            v = s.properties[checker]
            verdicts.append((s, "unknown" if v == "unknown" else "pass"))
    if not verdicts:
        return None
    latest, word = verdicts[-1]
    tally = {w: sum(1 for _, v in verdicts if v == w) for w in
             ("pass", "fail", "allowed", "unknown")}
    return {"verdict": word, "run": latest, "tally": tally, "n": len(verdicts)}


def index_model(root: Path, summaries: list[RunSummary], *, recent: int = 50) -> dict[str, Any]:
    """The index page's data (pure over the summaries; links relative to ``root``)."""
    runs = sorted(summaries, key=lambda s: (s.started_at, s.run_id))
    targets = sorted({s.target for s in runs})
    props = sorted({p for s in runs for p in s.properties},
                   key=lambda p: (p.split("/", 1)[0], "/" in p, p))

    def link(s: RunSummary) -> str:
        """The run's report, or its directory while it has none."""
        report = s.path / "report.html"
        if report.is_file():
            return report.relative_to(root).as_posix()
        return s.path.relative_to(root).as_posix() + "/"

    matrix = []
    for p in props:
        cells: list[dict[str, Any] | None] = []
        for t in targets:
            c = _cell([s for s in runs if s.target == t], p)
            if c is not None:
                c = {"verdict": c["verdict"], "href": link(c["run"]), "run_id": c["run"].run_id,
                     "tally": c["tally"], "n": c["n"]}
            cells.append(c)
        matrix.append({"property": p, "is_anomaly": "/" in p, "cells": cells})
    groups: dict[str, list[RunSummary]] = {}
    for s in runs:
        groups.setdefault(s.suite, []).append(s)
    trends = [{"suite": k, "runs": [{"verdict": s.verdict, "href": link(s), "run_id": s.run_id,
                                     "started_at": s.started_at, "bad": s.bad} for s in v],
               "fails": sum(1 for s in v if s.verdict == "fail"), "n": len(v)}
              for k, v in sorted(groups.items()) if len(v) > 1]
    recent_runs = [{"run_id": s.run_id, "href": link(s), "target": s.target,
                    "started_at": s.started_at, "duration_s": s.duration_s, "seed": s.seed,
                    "verdict": s.verdict, "bad": s.bad, "command": s.command,
                    "problem": s.problem,
                    "has_report": (s.path / "report.html").is_file()}
                   for s in reversed(runs[-recent:])]
    return {"targets": targets, "matrix": matrix, "trends": trends, "recent": recent_runs,
            "n_runs": len(runs),
            "totals": {w: sum(1 for s in runs if s.verdict == w)
                       for w in ("pass", "fail", "unknown")}}


def write_index(reports_root: Path) -> Path:
    """Write ``reports_root/index.html`` over every run directory below it."""
    from ._render import atomic_write, environment

    root = Path(reports_root)
    if not root.is_dir():
        from harness.errors import UsageError

        raise UsageError(f"{root}: not a directory; expected the folder holding run "
                         f"directories (e.g. reports/)")
    model = index_model(root, [summarize(p) for p in find_runs(root)])
    out = root / INDEX_FILE
    atomic_write(out, environment().get_template("index.html.j2").render(x=model))
    return out
