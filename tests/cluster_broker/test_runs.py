"""`logtrial run --target reference --nodes 3` end to end (proxy backend): the
harness finds nothing under kills or partitions of a correct cluster.

The planted bug ``ack-before-commit`` is proven observable by `test_lost_writes`,
whose scenario loses writes every time; a random partition schedule only loses
them when it happens to cut off a node that leads a partition."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "harness.cli", "run", "--target", "reference",
           "--nodes", "3", "--time-limit", "14", "--nemesis-interval", "3",
           "--rate", "150", "--report-dir", str(tmp_path), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results: dict[str, Any] = orjson.loads((run_dir / "results.json").read_bytes())
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return results


# Whole chaos runs depend on timing on a shared 2-core machine; one rerun is allowed
# (see the closing note of 2026-11-25: an `unseen` pair seen once in CI is unexplained).
@pytest.mark.flaky(reruns=1)
def test_kills_of_a_correct_cluster_lose_nothing(tmp_path: Path) -> None:
    results = _run(tmp_path, "--nemesis", "kill", "--seed", "3")
    assert results["valid"] is True, orjson.dumps(results).decode()[:3000]


@pytest.mark.flaky(reruns=1)
def test_partitions_of_a_correct_cluster_lose_nothing(tmp_path: Path) -> None:
    results = _run(tmp_path, "--nemesis", "partition", "--seed", "4")
    assert results["valid"] is True, orjson.dumps(results).decode()[:3000]
