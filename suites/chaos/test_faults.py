"""Chaos: the kafka workload under a nemesis, judged by the log checker.

Against a target that keeps its promises the verdict must be valid. A target that
declares that a kill loses acknowledged data (Tansu's in-memory storage) must instead
be caught losing it: that proves the harness sees a real loss.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.chaos


def _loses_data_on_kill(target: str) -> bool:
    from harness.cluster import get_target

    return bool(get_target(target).loses_data_on_kill)


def _summary(outcome: Any) -> str:
    r = outcome.result
    return (f"verdict {r.valid}; anomalies {dict(r.counts)}; error {r.error}; "
            f"run dir {outcome.run_dir}")


def test_pause_resume_keeps_every_promise(run_chaos: Any) -> None:
    """Guarantee: a paused (SIGSTOP) broker may stall clients, but every acknowledged
    record is kept, once, in order."""
    outcome = run_chaos(nemesis=("pause",))
    assert outcome.result.valid is True, _summary(outcome)


def test_kill_restart(run_chaos: Any, logtrial_config: Any) -> None:
    """Guarantee: with acks=all, a broker killed with SIGKILL and restarted loses no
    acknowledged record and reorders nothing (durable storage)."""
    outcome = run_chaos(nemesis=("kill",), final_read_timeout_s=15.0)
    if _loses_data_on_kill(logtrial_config.target):
        found = set(outcome.result.anomalies)
        assert found & {"lost-write", "unseen", "inconsistent-offsets"}, _summary(outcome)
    else:
        assert outcome.result.valid is True, _summary(outcome)


def test_subscribe_with_kill_and_pause(run_chaos: Any, logtrial_config: Any) -> None:
    """Guarantee: consumer groups (subscribe) keep per-partition order for each member
    across coordinator crashes; poll-skips are allowed with subscribe."""
    if _loses_data_on_kill(logtrial_config.target):
        outcome = run_chaos(nemesis=("pause",), sub_via="subscribe")
    else:
        outcome = run_chaos(nemesis=("kill", "pause"), sub_via="subscribe")
    assert outcome.result.valid is True, _summary(outcome)
