"""The groups checker's entry point: index once, run each family, classify."""

from __future__ import annotations

from typing import Any

from harness.checkers._result import CheckResult
from harness.checkers.groups import _commits, _delivery, _fetches, _owners, _resets
from harness.checkers.groups._index import GroupIndex, build
from harness.checkers.groups._options import ANOMALY_TYPES, GroupsCheckOptions
from harness.checkers.log._found import Found
from harness.history import History

CHECKER = "groups"


def _stats(ix: GroupIndex) -> dict[str, Any]:
    notes = []
    if ix.observations and not ix.generations:
        notes.append("no completion reports a generation (confluent-kafka does not expose "
                     "it): double-owner was not checked")
    tc = ix.txn_counts
    return {
        "notes": notes,
        "commits": {t: ix.counts.get(t, 0) for t in ("ok", "fail", "info", "empty")},
        "txn_commits": {"ok": tc.get("ok", 0), "info": tc.get("info", 0),
                        "empty": tc.get("ok-empty", 0) + tc.get("info-empty", 0),
                        "aborted": tc.get("fail", 0)},
        "fetches": {t: ix.fetch_counts.get(t, 0) for t in ("ok", "fail", "info")},
        "committed": {k: ix.acked[k][0] for k in sorted(ix.acked, key=lambda s: (len(s), s))},
        "membership_reports": ix.observations,
        "assignments": len(ix.epochs),
        "generations": len(ix.generations),
        "members": len(ix.members),
    }


def check(history: History, options: GroupsCheckOptions | None = None) -> CheckResult:
    """Judge a history for consumer-group anomalies (see the package docstring).

    Raises HistoryError when a commit's value or a membership is malformed. ``valid``
    is False iff a ``bad`` type occurs; ``"unknown"`` when the history has neither
    commits (``commit`` ops, or ``txn`` ops with offsets) nor membership reports nor
    fetches (nothing to judge: an ``assign`` run), else True. Stats count ``commit``
    ops by outcome (``commits``) and ``txn`` ops (``txn_commits``: with offsets, by
    outcome; ``empty``: committed no offsets; ``aborted``: ``fail``, ignored).
    """
    opts = options if options is not None else GroupsCheckOptions()
    ix = build(history)
    limit = opts.max_witnesses
    found: dict[str, Found] = {
        "commit-regression": _commits.commit_regressions(ix, limit),
        "double-owner": _owners.double_owners(ix, limit),
        "offset-reset-below-commit": _resets.offset_resets(ix, limit),
        "commit-skip": _delivery.commit_skips(ix, limit),
        "lost-commit": _fetches.lost_commits(ix, limit),
    }
    result = CheckResult(checker=CHECKER, valid=True, stats=_stats(ix))
    allowed = opts.allowed_types()
    for t in ANOMALY_TYPES:
        result.record(t, found[t].witnesses, found[t].count, allowed=t in allowed)
    if result.bad_types:
        result.valid = False
    elif not ix.observations and not sum(ix.counts.values()) and not ix.fetches \
            and not ix.txn_counts.get("ok") and not ix.txn_counts.get("info"):
        result.valid = "unknown"
        result.error = ("the history has no commit and no group membership: nothing to "
                        "check (was the run's sub_via assign?)")
    return result
