"""The retention checker's entry point: index once, run each family, classify."""

from __future__ import annotations

from typing import Any

from harness.checkers._result import CheckResult
from harness.checkers.log._found import Found
from harness.checkers.retention import _early, _regression
from harness.checkers.retention._index import RetentionIndex, build
from harness.checkers.retention._options import ANOMALY_TYPES, RetentionCheckOptions
from harness.history import History

CHECKER = "retention"


def _stats(ix: RetentionIndex, opts: RetentionCheckOptions) -> dict[str, Any]:
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for obs in ix.observations:
        for k, (start, _) in obs.starts.items():
            first.setdefault(k, start)
            last[k] = max(last.get(k, start), start)
    keys = sorted(set(first) | set(ix.records), key=lambda s: (len(s), s))
    notes = []
    if opts.retention_ms is None and not opts.retention_ms_by_key:
        notes.append("no retention.ms given: early-deletion was not checked")
    return {
        "notes": notes,
        "offsets_ops": {"ok": len(ix.observations), "fail": ix.fails, "info": ix.infos},
        "keys": {k: {"records_timed": len(ix.records[k].offsets) if k in ix.records else 0,
                     "first_log_start": first.get(k), "max_log_start": last.get(k),
                     "retention_ms": opts.retention_of(k)} for k in keys},
        "tolerance_ms": opts.tolerance_ms,
    }


def check(history: History, options: RetentionCheckOptions | None = None) -> CheckResult:
    """Judge a history for retention anomalies (see the package docstring).

    Raises HistoryError when an ``offsets`` op's value is malformed. ``valid`` is False
    iff a ``bad`` type occurs; ``"unknown"`` when no ``offsets`` op succeeded (nothing
    to judge), else True.
    """
    opts = options if options is not None else RetentionCheckOptions()
    ix = build(history)
    found: dict[str, Found] = {
        "early-deletion": _early.early_deletions(ix, opts),
        "log-start-regression": _regression.regressions(ix, opts.max_witnesses),
    }
    result = CheckResult(checker=CHECKER, valid=True, stats=_stats(ix, opts))
    allowed = opts.allowed_types()
    for t in ANOMALY_TYPES:
        result.record(t, found[t].witnesses, found[t].count, allowed=t in allowed)
    if result.bad_types:
        result.valid = False
    elif not ix.observations:
        result.valid = "unknown"
        result.error = ("the history has no successful offsets op: nothing to check (did "
                        "the workload observe log starts? runs do with --retention-ms)")
    return result
