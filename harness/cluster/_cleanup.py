"""Reaping what dead runs left behind, and only that.

A run is *live* while the pid in its ``state.json`` runs (same start time). Anything
carrying a run id that is not live is reaped: processes tagged ``LOGTRIAL_RUN_ID``,
network namespaces (and whatever runs inside them), links (bridges, veths) and the
run directory. iptables rules need no separate step: a run adds rules only inside its
own namespaces, which go with them. A run directory without a state file younger
than `FRESH_S` is being created and counts as live.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from harness.cluster import _run
from harness.cluster._proc import all_run_ids_in_procs
from harness.errors import UsageError

FRESH_S: Final[float] = 10.0


@dataclass
class CleanupReport:
    """What `cleanup_stale_runs` found and removed."""

    stale_runs: list[str] = field(default_factory=list)
    live_runs: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.stale_runs:
            return f"nothing to clean ({len(self.live_runs)} live run(s))"
        lines = [f"reaped {len(self.stale_runs)} stale run(s): {', '.join(self.stale_runs)}"]
        lines += [f"  removed {r}" for r in self.removed]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def _network_names(prefix: str) -> tuple[list[str], list[str]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return [], []
    from harness.cluster._netns import links_list, netns_list
    return ([n for n in netns_list() if n.startswith(prefix)],
            [n for n in links_list() if n.startswith(prefix)])


def _await_gone(pids: list[int], timeout_s: float = 5.0) -> None:
    """Wait until the SIGKILLed pids are gone or zombies (their parent reaps them)."""
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while time.monotonic() < deadline and _run.pid_alive(pid, None):
            time.sleep(0.01)


def cleanup_stale_runs(prefix: str = _run.PREFIX, *,
                       runs_dir: Path | None = None) -> CleanupReport:
    """Reap every resource whose run id starts with ``prefix`` and whose run is dead."""
    if not prefix or not prefix.startswith("lt"):
        raise UsageError(f"cleanup prefix {prefix!r} must start with 'lt' (logtrial's own "
                         "names); refusing to touch anything else")
    base = runs_dir or _run.RUNS_DIR
    report = CleanupReport()
    live: set[str] = set()
    candidates: set[str] = set()
    now = time.time()
    if base.is_dir():
        for d in base.iterdir():
            rid = _run.run_id_of(d.name, _run.PREFIX)
            if rid is None or not d.name.startswith(prefix) or rid != d.name:
                continue
            fresh = _run.read_state(d) is None and now - d.stat().st_mtime < FRESH_S
            if _run.run_is_live(d) or fresh:
                live.add(rid)
            else:
                candidates.add(rid)
    procs = all_run_ids_in_procs(prefix)
    namespaces, links = _network_names(prefix)
    for name in (*procs, *namespaces, *links):
        rid = _run.run_id_of(name, _run.PREFIX)
        if rid is not None and rid.startswith(prefix):
            candidates.add(rid)
    stale = sorted(candidates - live)
    report.live_runs = sorted(live)
    report.stale_runs = stale
    for rid in stale:
        killed = []
        for pid in procs.get(rid, []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                report.removed.append(f"process {pid}")
        _await_gone(killed)
        if namespaces or links:
            from harness.cluster._netns import remove_run_network
            try:
                report.removed += remove_run_network(rid)
            except Exception as e:  # keep reaping the others
                report.errors.append(f"{rid}: {e}")
        d = base / rid
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
            report.removed.append(f"dir {d}")
    return report
