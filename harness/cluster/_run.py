"""Run identity and the run directory: what lets cleanup tell live runs from dead ones.

Every resource a run creates (network namespace, veth, bridge, iptables chain, temp
dir, process) carries the run id, ``lt-`` followed by 8 hex digits (11 characters,
which leaves room under Linux's 15-character interface-name limit). A run owns
``<RUNS_DIR>/<run-id>/``; its ``state.json`` names the pid of the controlling process.
A run whose controlling pid is gone (or has been reused by another program, checked
through the process start time) is *stale* and `cleanup_stale_runs` may reap it.

Processes started for a run carry ``LOGTRIAL_RUN_ID=<run-id>`` in their environment
so that they can be found after the controller was SIGKILLed, without trusting pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.errors import UsageError

PREFIX: Final[str] = "lt-"
RUN_ID_RE: Final[re.Pattern[str]] = re.compile(r"^lt-[0-9a-f]{8}$")
RUN_ENV: Final[str] = "LOGTRIAL_RUN_ID"
RUNS_DIR: Final[Path] = Path(os.environ.get("LOGTRIAL_RUNS_DIR", "/tmp/logtrial-runs"))


def new_run_id(prefix: str = PREFIX) -> str:
    """A fresh run id: the prefix and 8 random hex digits."""
    return f"{prefix}{secrets.token_hex(4)}"


def run_id_of(name: str, prefix: str = PREFIX) -> str | None:
    """The run id a resource name starts with, or None if it is not ours."""
    if not name.startswith(prefix):
        return None
    rid = name[: len(prefix) + 8]
    tail = rid[len(prefix):]
    if len(tail) != 8 or any(c not in "0123456789abcdef" for c in tail):
        return None
    return rid


def proc_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, start_time: int | None) -> bool:
    st = proc_start_time(pid)
    if st is None:
        return False
    if _is_zombie(pid):
        return False
    return start_time is None or st == start_time


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True
    rest = data[data.rfind(b")") + 2:].split()
    return bool(rest) and rest[0] in (b"Z", b"X")


@dataclass
class RunDir:
    """The directory and state file of one run; create with `RunDir.create`."""

    run_id: str
    path: Path
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, run_id: str | None = None, *, runs_dir: Path | None = None) -> RunDir:
        rid = run_id or new_run_id()
        if not RUN_ID_RE.match(rid):
            raise UsageError(f"run id {rid!r} is malformed (expected lt- and 8 hex digits)")
        base = runs_dir or RUNS_DIR
        if not base.exists():
            base.mkdir(parents=True, exist_ok=True)
            # shared by every user's runs, like /tmp (each run dir itself is 0700)
            with contextlib.suppress(OSError):
                os.chmod(base, 0o1777)
        path = base / rid
        path.mkdir(mode=0o700)
        pid = os.getpid()
        rd = cls(rid, path, {"run_id": rid, "pid": pid, "start_time": proc_start_time(pid),
                             "resources": {}})
        rd.save()
        return rd

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    def save(self) -> None:
        tmp = self.path / "state.json.tmp"
        tmp.write_text(json.dumps(self.state, sort_keys=True))
        os.replace(tmp, self.state_file)

    def note(self, kind: str, name: str) -> None:
        """Record a created resource (for the report of what cleanup removed)."""
        names = self.state["resources"].setdefault(kind, [])
        if name not in names:
            names.append(name)
            self.save()

    def subdir(self, *parts: str) -> Path:
        p = self.path.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_is_live(path: Path) -> bool:
    """True if the run directory's controlling process still runs."""
    st = read_state(path)
    if st is None:
        return False
    pid = st.get("pid")
    if not isinstance(pid, int):
        return False
    start = st.get("start_time")
    return pid_alive(pid, start if isinstance(start, int) else None)
