"""Runs with ``--retention-ms``: the options reach run.json and the replay command,
`check_history` composes the retention checker (and exempts deleted records in the
log checker), and a real run against one reference node observes the log start move
and stays valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.errors import UsageError
from harness.history import History, load, op_from_dict
from harness.runner import RunOptions, check_history

LOGTRIAL = [sys.executable, "-m", "harness.cli"]


def hist(*records: tuple[int, Any, str, str, Any]) -> History:
    """Ops from ``(time_ms, process, type, f, value)``."""
    return History.of(op_from_dict({"index": i, "time": t * 1_000_000, "process": p,
                                    "type": typ, "f": f, "value": v}, i)
                      for i, (t, p, typ, f, v) in enumerate(records))


#: two records of key 0; the first is gone (log start 1) 500 ms after it was sent; the
#: second is read by the final reader
DELETED = hist((0, 0, "invoke", "send", [["send", "0", 1]]),
               (1, 0, "ok", "send", [["send", "0", [0, 1]]]),
               (2, 0, "invoke", "send", [["send", "0", 2]]),
               (3, 0, "ok", "send", [["send", "0", [1, 2]]]),
               (499, 1, "invoke", "offsets", ["0"]),
               (500, 1, "ok", "offsets", {"0": [1, 2]}),
               (501, 2, "invoke", "poll", [["poll"]]),
               (502, 2, "ok", "poll", [["poll", {"0": [[1, 2]]}]]))


def test_check_history_composes_retention_only_when_configured() -> None:
    plain = check_history(DELETED, RunOptions())
    # freshness judges the offsets ops of every run; retention only when configured
    assert set(plain.children) == {"log", "freshness"} and plain.valid is False  # 1 unseen
    long_retention = check_history(DELETED, RunOptions(retention_ms=2000))
    assert set(long_retention.children) == {"log", "retention", "freshness"}
    assert long_retention.children["log"].valid is True  # deleted, not lost
    assert long_retention.bad_types == ["early-deletion"] and long_retention.valid is False
    short = check_history(DELETED, RunOptions(retention_ms=100))
    assert short.valid is True, short.to_json()
    clock = check_history(DELETED, RunOptions(retention_ms=2000, nemesis=("clock",)))
    assert clock.valid is True and clock.allowed_types == ["early-deletion"]


def test_retention_options_validate_and_replay() -> None:
    with pytest.raises(UsageError, match="--retention-ms must be >= 1"):
        RunOptions(retention_ms=0)
    with pytest.raises(UsageError, match="--segment-bytes"):
        RunOptions(retention_ms=10, segment_bytes=4)
    cmd = RunOptions(retention_ms=1500, segment_bytes=8192).replay_command()
    assert "--retention-ms 1500 --segment-bytes 8192" in cmd
    assert "--retention-ms" not in RunOptions().replay_command()
    assert RunOptions(retention_ms=5).to_json()["retention_ms"] == 5


def test_run_with_retention_observes_the_log_start_move(tmp_path: Path) -> None:
    r = subprocess.run([*LOGTRIAL, "run", "--target", "reference", "--time-limit", "10",
                        "--retention-ms", "2000", "--seed", "11", "--concurrency", "4",
                        "--report-dir", str(tmp_path)], capture_output=True, text=True,
                       timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stdout + r.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = orjson.loads((run_dir / "run.json").read_bytes())
    assert run["options"]["retention_ms"] == 2000
    assert "--retention-ms 2000 --segment-bytes 4096" in run["command"]
    history = load(run_dir / "history.jsonl")
    listed = [op for op in history.ops if op.f == "offsets" and op.type == "ok"]
    assert len(listed) >= 10
    assert max(start for op in listed for start, _ in op.value.values()) > 0
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert results["valid"] is True, results
    retention = results["children"]["retention"]
    assert retention["valid"] is True and retention["stats"]["offsets_ops"]["ok"] >= 10
