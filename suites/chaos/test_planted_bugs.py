"""Quality tests (Hypothesis's habit): a bug planted in the reference broker must be
found by the checker that owns its guarantee, and the same run without the bug must
pass, so the verdict is the bug's doing and not noise.

Planted bugs exist only in the reference broker (``reference-broker --list-bugs``);
other targets skip these tests.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.chaos

GROUP_RESET_TYPES = {"lost-commit", "offset-reset-below-commit", "commit-regression",
                     "commit-skip"}

#: A 3-node RF=3 cluster under the ``kill`` nemesis, whose first fault is the
#: leader-last cascade (the followers die, the leader 0.5 s later; the followers come
#: back first, the old leader 4 s after them): 14 s runs with a fault change every
#: 3 s hold that cascade and its recovery, then writes to the new leader.
KILL_RUN: dict[str, Any] = {"nodes": 3, "replication_factor": 3, "nemesis": ("kill",),
                            "time_limit_s": 14.0, "nemesis_interval_s": 3.0,
                            "final_read_timeout_s": 10.0}


def _summary(outcome: Any) -> str:
    r = outcome.result
    return (f"verdict {r.valid}; anomalies {dict(r.counts)}; error {r.error}; "
            f"run dir {outcome.run_dir}")


@pytest.fixture
def reference_only(logtrial_config: Any) -> None:
    if logtrial_config.target != "reference":
        pytest.skip("planted bugs exist only in the reference broker")


@pytest.mark.usefixtures("reference_only")
# Nightly only: on the loaded 2-core CI machine a 10 s run under kills every 1.5 s made
# ~165 ops and sometimes no commit landed before a kill (2 CI runs missed it). The
# planted bug is proven in CI at the coordinator level (tests/broker/groups/test_model.py)
# and end to end here with `make nightly` (120 s runs).
@pytest.mark.nightly
@pytest.mark.flaky(reruns=1)
def test_lost_group_commits_are_caught_by_the_groups_checker(run_chaos: Any) -> None:
    """Guarantee: an acknowledged offset commit survives a coordinator restart, so a
    member assigned a partition afterwards resumes from it. With ``lost-group-commits``
    the broker acknowledges commits it never persists; after a kill the group's
    offsets are gone: fetches of the committed offsets come back empty (lost-commit)
    and new owners re-read from the start (offset-reset-below-commit).

    The client is confluent-kafka: librdkafka runs the group protocol on its own
    threads, so the group is stable and committing within a second; kafka-python
    joins only inside poll calls and, with the workload's short polls and frequent
    re-subscriptions, often commits nothing before the kill (measured: 2 of 4 seeds
    caught with kafka-python, 4 of 4 with confluent-kafka). Kills every 1.5 s give
    several restarts per run, each a chance for a fetch to see the loss before the
    partition's owner commits again (with 2.5 s: one restart, 3 of 4 seeds caught)."""
    opts: dict[str, Any] = {"nemesis": ("kill",), "sub_via": "subscribe",
                            "client": "confluent", "nemesis_interval_s": 1.5,
                            "final_read_timeout_s": 10.0}
    buggy = run_chaos(bugs=("lost-group-commits",), **opts)
    found = set(buggy.result.children["groups"].anomalies)
    assert buggy.result.valid is False, _summary(buggy)
    assert found & GROUP_RESET_TYPES, _summary(buggy)
    assert set(buggy.result.bad_types) & GROUP_RESET_TYPES, _summary(buggy)

    clean = run_chaos(**opts)
    assert clean.result.valid is True, _summary(clean)
    groups = clean.result.children["groups"]
    assert groups.valid is True and groups.stats["commits"]["ok"] > 0, _summary(clean)


@pytest.mark.usefixtures("reference_only")
@pytest.mark.flaky(reruns=1)
def test_ack_before_commit_is_caught_as_lost_writes(run_chaos: Any) -> None:
    """Guarantee: a record acknowledged with acks=all is committed by a majority, so it
    survives the loss of its leader. With ``ack-before-commit`` the leader answers
    after its own append; while its followers are dead it acknowledges records no
    other node has, dies, and the followers elect a leader without them: the final
    reads never see those acknowledged values (lost-write; their offsets are reused,
    so inconsistent-offsets and unseen come along). Measured on the 2-core box:
    caught in every run (``kill`` runs of 20 s: 6 of 6 seeds)."""
    buggy = run_chaos(bugs=("ack-before-commit",), **KILL_RUN)
    log = buggy.result.children["log"]
    assert buggy.result.valid is False, _summary(buggy)
    assert "lost-write" in log.anomalies, _summary(buggy)
    assert "lost-write" in buggy.result.bad_types, _summary(buggy)

    clean = run_chaos(**KILL_RUN)
    assert clean.result.valid is True, _summary(clean)


@pytest.mark.usefixtures("reference_only")
# Nightly: with the ack-before-commit test this file would exceed its 90 s CI budget.
@pytest.mark.nightly
@pytest.mark.flaky(reruns=1)
def test_unclean_election_is_caught_as_overwritten_writes(run_chaos: Any) -> None:
    """Guarantee: a committed record is never lost, because only a node holding every
    committed entry can be elected. With ``unclean-election`` voters grant votes
    without comparing logs. The stale-first cascade (one node dies, the others commit
    without it for 2 s and then die; the stale node restarts first, the others 4 s
    later) lets the stale node win and overwrite committed entries: acknowledged
    offsets come back with other values (inconsistent-offsets) and acknowledged values
    are never read again (lost-write). Measured on the 2-core box: 3 of 3 seeds in
    20 s runs (inconsistent-offsets in 3, lost-write in 2); bug-free: 3 of 3 valid."""
    opts = {**KILL_RUN, "nemesis": ("kill-stale-first",)}
    buggy = run_chaos(bugs=("unclean-election",), **opts)
    found = set(buggy.result.children["log"].anomalies)
    assert buggy.result.valid is False, _summary(buggy)
    assert found & {"lost-write", "inconsistent-offsets"}, _summary(buggy)
    assert set(buggy.result.bad_types) & {"lost-write", "inconsistent-offsets"}

    clean = run_chaos(**opts)
    assert clean.result.valid is True, _summary(clean)
