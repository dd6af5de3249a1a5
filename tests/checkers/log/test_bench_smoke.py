"""The checker benchmark runs end to end at a small scale and finds what it plants
(no timing is asserted: speed targets live in the benchmark's printed ratios)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_log_checker.py"


@pytest.mark.parametrize("txn", ["0.02", "0.9"])
def test_benchmark_finds_its_planted_anomalies(txn: str, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    spec = importlib.util.spec_from_file_location("bench_log_checker", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--ops", "4000", "--txn", txn]) == 0
    out = capsys.readouterr().out
    assert "MISSED" not in out and "ratio check ops/s" in out
    for planted in ("lost-write", "duplicate", "G1a", "nonmonotonic-poll"):
        assert f"'{planted}'" in out
