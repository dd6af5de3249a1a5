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

All raise `harness.errors.LogtrialError` subclasses (never a traceback) on bad input.
"""

from pathlib import Path

from harness.report._build import build_report
from harness.report._index import index_model, write_index
from harness.report._junit import junit_tree, write_junit
from harness.report._load import Run, load_run
from harness.report._render import render_report, write_report


def write_all(run_dir: Path) -> list[Path]:
    """Write the run's HTML report and JUnit XML; returns both paths."""
    run = load_run(Path(run_dir))
    return [write_report(Path(run_dir), run), write_junit(Path(run_dir))]


__all__ = [
    "Run",
    "build_report",
    "index_model",
    "junit_tree",
    "load_run",
    "render_report",
    "write_all",
    "write_index",
    "write_junit",
    "write_report",
]
