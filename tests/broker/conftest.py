"""Fixtures that run the real reference broker as a subprocess.

`broker_factory(config=..., data_dir=...)` starts `python -m reference_broker` on an
ephemeral 127.0.0.1 port in a temp data dir and waits for its ready line; every broker
it started is killed in teardown, whatever happened. `broker` is one default broker.
`BrokerProcess.kill()` (SIGKILL) / `.stop()` (SIGTERM) / `.restart()` (same data dir
and port) drive crash-recovery tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY = "reference-broker ready on "
START_TIMEOUT_S = 30.0


class BrokerProcess:
    """One running reference broker (restartable on the same port and data dir)."""

    def __init__(self, data_dir: Path, config: Mapping[str, str], log_dir: Path) -> None:
        self.data_dir = data_dir
        self.config = dict(config)
        self.log_dir = log_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def start(self) -> BrokerProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        stderr_path = self.log_dir / f"stderr-{self.starts}.txt"
        cmd = [sys.executable, "-m", "reference_broker", "--node-id", "1",
               "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        for k, v in self.config.items():
            cmd += ["--config", f"{k}={v}"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = stderr_path.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith(READY):
                    self.port = int(line[len(READY):].rsplit(":", 1)[1])
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"broker not ready after {START_TIMEOUT_S}s:\n"
                           f"{stderr_path.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL (a crash) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 15) -> int:
        """SIGTERM (clean shutdown); returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return int(self.proc.returncode)

    def restart(self) -> BrokerProcess:
        self.kill()
        return self.start()

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1

    def stderr_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob("stderr-*.txt")))


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    started: list[BrokerProcess] = []

    def make(config: Mapping[str, str] | None = None,
             data_dir: Path | None = None) -> BrokerProcess:
        n = len(started)
        d = data_dir or tmp_path / f"data-{n}"
        logs = tmp_path / f"logs-{n}"
        logs.mkdir(exist_ok=True)
        b = BrokerProcess(d, config or {}, logs)
        started.append(b)
        return b.start()

    try:
        yield make
    finally:
        for b in started:
            b.kill()


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    return broker_factory({"log.flush.policy": "always"})
