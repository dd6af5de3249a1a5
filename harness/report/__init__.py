"""Reports: one self-contained HTML page per run, an index across runs, JUnit XML.

The checker returns data; this package draws it. The data side (`build_report`,
`index_model`, `junit_tree` and the modules below them) is pure and tested without
HTML; `render_report` and the templates only lay that data out.

Entry points for the CLI (``logtrial report RUN_DIR... [--index]``) and ``logtrial run``:

- `write_report(run_dir) -> Path`: ``run_dir/report.html``
- `write_junit(run_dir) -> Path`: ``run_dir/junit.xml``
- `write_index(reports_root) -> Path`: ``reports_root/index.html`` over every run
  directory below it
- `write_all(run_dir) -> list[Path]`: the report and the JUnit file
- `regenerate(run_dirs, index=False, reports_root=None) -> list[Path]`: the whole
  ``logtrial report`` command (every run's files, then the index)

All raise `harness.errors.LogtrialError` subclasses (never a traceback) on bad input.
``python -m harness.report RUN_DIR... [--index]`` runs `regenerate` without the CLI.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from harness.errors import UsageError
from harness.report._build import build_report
from harness.report._index import index_model, write_index
from harness.report._junit import junit_tree, write_junit
from harness.report._load import Run, load_run
from harness.report._render import render_report, write_report


def write_all(run_dir: Path) -> list[Path]:
    """Write the run's HTML report and JUnit XML; returns both paths."""
    run = load_run(Path(run_dir))
    return [write_report(Path(run_dir), run), write_junit(Path(run_dir))]


def regenerate(run_dirs: Sequence[Path], *, index: bool = False,
               reports_root: Path | None = None) -> list[Path]:
    """What ``logtrial report RUN_DIR... [--index]`` does: each run's report and JUnit
    file, then (``index``) the index over ``reports_root``, by default the deepest
    folder holding every run directory given. Returns the paths written."""
    dirs = [Path(d) for d in run_dirs]
    if not dirs and not (index and reports_root is not None):
        raise UsageError("no run directory given; pass one or more directories written by "
                         "`logtrial run` (each holds run.json)")
    out: list[Path] = []
    for d in dirs:
        out += write_all(d)
    if index:
        root = reports_root if reports_root is not None else Path(
            os.path.commonpath([str(d.resolve().parent) for d in dirs]))
        out.append(write_index(root))
    return out


__all__ = [
    "Run",
    "build_report",
    "index_model",
    "junit_tree",
    "load_run",
    "regenerate",
    "render_report",
    "write_all",
    "write_index",
    "write_junit",
    "write_report",
]
