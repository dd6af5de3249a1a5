"""Chaos with transactions (``logtrial run --txn``): Jepsen's ``txn`` ops (sends and
polls in Kafka transactions, 10% aborted on purpose) read by read_committed consumers,
judged by the log checker for aborted reads (G1a), precommitted reads and G1c.

A target (or cluster size) that refuses transactional producers is detected before
the run (`harness.runner` probes one): a third-party target is skipped with its
answer; the reference broker, which coordinates transactions on one node only, shows
a cluster run as an expected failure (work not done yet), not a skip.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import UsageError
from suites.chaos.test_faults import _loses_data_on_kill
from suites.chaos.test_planted_bugs import _summary
from suites.chaos.test_planted_bugs import reference_only as reference_only  # a fixture

pytestmark = pytest.mark.chaos

TXN_BAD = {"G1a", "precommitted-read", "G1c"}


def _txn_run(run_chaos: Any, target: str, **kw: Any) -> Any:
    try:
        return run_chaos(txn=True, **kw)
    except UsageError as e:
        if "refused a transactional producer" not in str(e):
            raise
        if target == "reference":  # our own gap, shown as such rather than skipped
            pytest.xfail(f"not yet: transactions in a reference cluster ({e})")
        pytest.skip(f"the {target} target offers no transactions: {e}")


def test_transactions_under_kill_keep_every_promise(run_chaos: Any,
                                                    logtrial_config: Any) -> None:
    """Guarantee: with a broker killed (SIGKILL) and restarted now and then, committed
    transactions stay atomic and durable and read_committed consumers never return a
    record of an aborted or still open transaction: the coordinator's state survives
    the restart, and a transaction a client gave up on is aborted (by the fencing of
    its id, or its timeout) and its records are skipped. A target whose storage is
    declared to lose data on a kill (Tansu's memory storage) is paused instead.
    Measured on the 2-core box (reference, one node, 10 s, two kills): 4 of 4 seeds
    valid, each with 310-650 committed and 30-70 aborted transactions."""
    nemesis = ("pause",) if _loses_data_on_kill(logtrial_config.target) else ("kill",)
    outcome = _txn_run(run_chaos, logtrial_config.target, nemesis=nemesis,
                       final_read_timeout_s=20.0)
    assert outcome.result.valid is True, _summary(outcome)
    log = outcome.result.children["log"]
    by_f = log.stats["by_f"]["txn"]
    assert by_f["ok"] > 0 and by_f["fail"] > 0, _summary(outcome)


@pytest.mark.usefixtures("reference_only")
@pytest.mark.flaky(reruns=1)
def test_aborted_read_is_caught_as_g1a(run_chaos: Any, logtrial_config: Any) -> None:
    """Guarantee: a read_committed consumer never returns records of an aborted
    transaction, nor of one still open (it stops at the last stable offset). With
    ``aborted-read`` the broker's read_committed fetches ignore the LSO and list no
    aborted transactions, so consumers return both: records of the aborted
    transactions (G1a), a transaction's own uncommitted sends (precommitted-read)
    and cycles through uncommitted writes (G1c). The control run, the same seed
    without the bug, is valid. Short runs, no faults: the bug shows in every fetch.
    Measured on the 2-core box: 4 of 4 seeds caught (73-98 G1a in 5 s runs), the 4
    control runs valid."""
    opts: dict[str, Any] = {"time_limit_s": 5.0, "final_read_timeout_s": 10.0}
    buggy = _txn_run(run_chaos, logtrial_config.target, bugs=("aborted-read",), **opts)
    log = buggy.result.children["log"]
    assert buggy.result.valid is False, _summary(buggy)
    assert "G1a" in log.anomalies and "G1a" in buggy.result.bad_types, _summary(buggy)
    assert set(buggy.result.bad_types) <= TXN_BAD, _summary(buggy)

    clean = _txn_run(run_chaos, logtrial_config.target, **opts)
    assert clean.result.valid is True, _summary(clean)
