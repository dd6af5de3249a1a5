"""Quality test for the retention checker (Hypothesis's habit): the planted
``early-retention`` bug must be found as ``early-deletion``, and the same run without
the bug must pass, so the verdict is the bug's doing and not noise.

Planted bugs exist only in the reference broker; other targets skip this test.
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.chaos.test_planted_bugs import _summary
from suites.chaos.test_planted_bugs import reference_only as reference_only  # a fixture

pytestmark = pytest.mark.chaos

#: One node, no faults: retention.ms 1 s over 2 KiB segments (~1 s of one key's sends
#: each at the default rate), so segments close and expire several times in 5 s. Two
#: tests of one run each keep each under CI's 15 s per real-cluster test.
RETENTION_RUN: dict[str, Any] = {"nodes": 1, "replication_factor": 1, "nemesis": (),
                                 "time_limit_s": 5.0, "retention_ms": 1000,
                                 "segment_bytes": 2048, "concurrency": 3,
                                 "final_read_timeout_s": 10.0}


@pytest.mark.usefixtures("reference_only")
@pytest.mark.flaky(reruns=1)
def test_early_retention_is_caught_as_early_deletion(run_chaos: Any) -> None:
    """Guarantee: retention by time deletes a record only once it is older than
    retention.ms (Kafka ages a segment by its newest record). With ``early-retention``
    the broker ages a segment by its first record, so a segment that closed a moment
    ago goes with records a few milliseconds old; an ``offsets`` op then reports a log
    start above a record sent less than retention.ms earlier."""
    buggy = run_chaos(bugs=("early-retention",), **RETENTION_RUN)
    retention = buggy.result.children["retention"]
    assert buggy.result.valid is False, _summary(buggy)
    assert "early-deletion" in buggy.result.bad_types, _summary(buggy)
    assert set(retention.anomalies) == {"early-deletion"}, _summary(buggy)
    assert buggy.result.children["log"].valid is True, _summary(buggy)  # deleted, not lost


@pytest.mark.usefixtures("reference_only")
@pytest.mark.flaky(reruns=1)
def test_the_same_run_without_the_bug_is_valid(run_chaos: Any) -> None:
    """The control: the same configuration deletes segments (the log start moves)
    and the retention and log checkers find nothing."""
    clean = run_chaos(**RETENTION_RUN)
    assert clean.result.valid is True, _summary(clean)
    starts = clean.result.children["retention"].stats["keys"]
    assert any(k["max_log_start"] for k in starts.values()), _summary(clean)  # it deleted
