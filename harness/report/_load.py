"""Reading a run directory: the only I/O the report's data side does.

A run directory (written by ``logtrial run``) holds:

- ``run.json``: the run's configuration (target, versions, nodes, backend, seed,
  started_at, duration_s, options, command). Required: without it this is not a run.
- ``history.jsonl``: the ops. Optional for the report (a run that crashed before its
  first op still gets a page that says so).
- ``results.json``: ``CheckResult.to_json()`` of the composed verdict. Optional: without
  it the verdict is ``unknown`` ("the checkers did not run").
- ``nodes/<node>/*.log``: node logs, linked by relative path.

Bad input raises `UsageError` / `HistoryError` naming the file and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.checkers import CheckResult
from harness.errors import UsageError
from harness.history import History, load

RUN_FILE = "run.json"
HISTORY_FILE = "history.jsonl"
RESULTS_FILE = "results.json"
NODES_DIR = "nodes"


@dataclass(frozen=True, slots=True)
class NodeLog:
    """A node log, ``path`` relative to the run directory (for a link)."""

    node: str
    path: str
    size_bytes: int


@dataclass(slots=True)
class Run:
    """A loaded run directory."""

    path: Path
    config: dict[str, Any]
    history: History | None
    result: CheckResult | None
    node_logs: list[NodeLog] = field(default_factory=list)
    #: why the history or results could not be read (the page says so).
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.config.get("run_id") or self.path.name)


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON ({e}); expected the file `logtrial run` "
                         f"writes, re-run the test or fix the file") from None


def load_history(path: Path) -> History:
    """The history at ``path`` (raises `HistoryError` naming the bad line)."""
    return load(path)


def _node_logs(run_dir: Path) -> list[NodeLog]:
    nodes = run_dir / NODES_DIR
    if not nodes.is_dir():
        return []
    out = []
    # `logtrial run` keeps one file per node (nodes/<node>.log); other tools may keep a
    # folder per node (nodes/<node>/*.log).
    for f in sorted(p for p in nodes.iterdir() if p.is_file() and p.suffix == ".log"):
        out.append(NodeLog(f.stem, f.relative_to(run_dir).as_posix(), f.stat().st_size))
    for node_dir in sorted(p for p in nodes.iterdir() if p.is_dir()):
        for f in sorted(node_dir.rglob("*.log")):
            if f.is_file():
                out.append(NodeLog(node_dir.name, f.relative_to(run_dir).as_posix(),
                                   f.stat().st_size))
    return out


def _config(run_dir: Path) -> dict[str, Any]:
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise UsageError(f"{run_dir}: no {RUN_FILE}; expected a run directory written by "
                         f"`logtrial run` (it holds run.json, history.jsonl, results.json)")
    config = _read_json(run_file)
    if not isinstance(config, dict):
        raise UsageError(f"{run_file}: expected a JSON object, got {type(config).__name__}")
    return config


def _result(run_dir: Path) -> CheckResult | None:
    res_file = run_dir / RESULTS_FILE
    if not res_file.is_file():
        return None
    data = _read_json(res_file)
    if not isinstance(data, dict) or "valid" not in data:
        raise UsageError(f"{res_file}: expected CheckResult.to_json() output "
                         f"(an object with \"valid\")")
    try:
        return CheckResult.from_json(data)
    except (TypeError, ValueError, AttributeError) as e:
        raise UsageError(f"{res_file}: not a CheckResult ({e})") from None


def load_summary(run_dir: Path) -> tuple[dict[str, Any], CheckResult | None]:
    """``run.json`` and the result, without the history (for JUnit and the index)."""
    run_dir = Path(run_dir)
    return _config(run_dir), _result(run_dir)


def load_run(run_dir: Path) -> Run:
    """Load ``run_dir``; a missing ``run.json`` is a usage error, the rest degrades."""
    run_dir = Path(run_dir)
    config = _config(run_dir)
    problems: list[str] = []
    history: History | None = None
    hist_file = run_dir / HISTORY_FILE
    if hist_file.is_file():
        history = load_history(hist_file)
    else:
        problems.append(f"no {HISTORY_FILE}: the run recorded no operations")
    result = _result(run_dir)
    if result is None:
        problems.append(f"no {RESULTS_FILE}: the checkers did not run, so the verdict is "
                        f"unknown")
    return Run(run_dir, config, history, result, _node_logs(run_dir), problems)
