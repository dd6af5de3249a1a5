"""Child processes of a run: started in their own process group, tagged with the run id.

A `Proc` is one OS process (usually a broker node) whose stdout and stderr go to a log
file. It is started in a new session so that signals reach its whole group, and with
``LOGTRIAL_RUN_ID`` in its environment so that `cleanup_stale_runs` can find it after
the controller died. Stopping escalates (first signal, then SIGKILL after a grace
period) because some brokers ignore SIGTERM while clients are connected.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.cluster._run import RUN_ENV
from harness.errors import LogtrialError


class ProcessError(LogtrialError):
    """A node process did not start or did not become ready."""


class Proc:
    """One started process; `pid` is its process group id as well."""

    def __init__(self, argv: Sequence[str], *, run_id: str, log_path: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        full_env[RUN_ENV] = run_id
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait/close
        try:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                env=full_env, cwd=cwd, start_new_session=True)
        except OSError as e:
            self._log.close()
            raise ProcessError(f"cannot start {self.argv[0]!r}: {e}") from None
        self.pid = self.popen.pid
        self.paused = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process group (ignored if it already exited)."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def pause(self) -> None:
        """SIGSTOP the group and wait (up to 2 s) until the leader is stopped."""
        self.send_signal(signal.SIGSTOP)
        self.paused = True
        self._await_state(lambda st: st in ("T", "t", "Z", "X", None))

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)
        self.paused = False
        self._await_state(lambda st: st not in ("T", "t"))

    def state(self) -> str | None:
        """The kernel's one-letter state of the leader (R, S, T, Z...), None if gone."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            return None
        return data[data.rfind(b")") + 2:].split()[0].decode()

    def _await_state(self, ok: Callable[[str | None], bool], timeout_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ok(self.state()) and time.monotonic() < deadline:
            time.sleep(0.005)

    def kill(self) -> None:
        """SIGKILL the group and reap it."""
        self.send_signal(signal.SIGKILL)
        self._reap(5.0)

    def stop(self, first: int = signal.SIGTERM, grace_s: float = 5.0) -> None:
        """Ask politely with ``first``, then SIGKILL after ``grace_s``."""
        if self.paused:
            self.resume()
        self.send_signal(first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(grace_s)
        self.kill()

    def _reap(self, timeout_s: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout_s)
        # Any member of the group that outlived the leader goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()

    def log_tail(self, n_bytes: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-n_bytes:].decode(errors="replace")

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready`` until true; raise with the log tail if the process exits or
        the time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if ready():
                return
            if self.popen.poll() is not None:
                raise ProcessError(
                    f"{what} exited with code {self.popen.returncode} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"{what} not ready after {timeout_s:.0f}s; log {self.log_path}:\n"
                    f"{self.log_tail()}")
            time.sleep(0.05)


def log_contains(path: Path, needle: str) -> Callable[[], bool]:
    b = needle.encode()

    def check() -> bool:
        try:
            return b in path.read_bytes()
        except OSError:
            return False
    return check


def procs_of_run(run_id: str) -> list[int]:
    """Pids whose environment carries ``LOGTRIAL_RUN_ID=run_id``."""
    needle = f"{RUN_ENV}={run_id}".encode()
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(pid)
    return found


def all_run_ids_in_procs(prefix: str) -> dict[str, list[int]]:
    """Run id -> pids, for every process tagged with a run id starting with ``prefix``."""
    key = f"{RUN_ENV}={prefix}".encode()
    out: dict[str, list[int]] = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        for item in env.split(b"\0"):
            if item.startswith(key):
                rid = item.split(b"=", 1)[1].decode(errors="replace")
                out.setdefault(rid, []).append(int(entry))
                break
    return out
