"""Conformance: retention by time, observed through a workload run, against any
``--target``.

The run lists every key's log start and end while it produces and consumes (the
workload's ``offsets`` op); the retention checker judges every deletion it saw, and
the log checker everything else. A target that deletes nothing within the run still
passes: the guarantee is about what may not be deleted.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.conformance


def test_retention_deletes_nothing_young_and_the_log_start_never_goes_back(
        run_chaos: Any) -> None:
    """Guarantee (Kafka's topic configs, ``retention.ms``): a record is deleted by
    retention only once it is older than retention.ms (whole segments, aged by their
    newest record), and a partition's log start offset never moves back; records
    below it are gone for good, every acknowledged record at or above it is readable."""
    outcome = run_chaos(nemesis=(), time_limit_s=5.0, retention_ms=1000,
                        segment_bytes=2048, concurrency=3, final_read_timeout_s=10.0)
    r = outcome.result
    summary = f"verdict {r.valid}; anomalies {dict(r.counts)}; run dir {outcome.run_dir}"
    assert r.valid is True, summary
    retention = r.children["retention"]
    assert retention.valid is True and retention.stats["offsets_ops"]["ok"] > 0, summary
