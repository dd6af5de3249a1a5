"""The freshness checker's entry point."""

from __future__ import annotations

from harness.checkers._result import CheckResult
from harness.checkers.freshness._options import FreshnessCheckOptions
from harness.checkers.freshness._stale import stale_reads
from harness.history import History

CHECKER = "freshness"


def check(history: History, options: FreshnessCheckOptions | None = None) -> CheckResult:
    """``valid`` False iff a bad ``stale-read`` occurs; ``"unknown"`` when no end offset
    could be judged (no ``offsets`` op after an acknowledged send of its key)."""
    opts = options if options is not None else FreshnessCheckOptions()
    found, judged = stale_reads(history, opts.max_stale_ms, opts.max_witnesses)
    result = CheckResult(checker=CHECKER, valid=True,
                         stats={"end_offsets_judged": judged,
                                "max_stale_ms": opts.max_stale_ms})
    result.record("stale-read", found.witnesses, found.count,
                  allowed=opts.classify("stale-read") == "allowed")
    if result.bad_types:
        result.valid = False
    elif not judged:
        result.valid = "unknown"
        result.error = ("no offsets op read a key after one of its sends was acknowledged: "
                        "nothing to judge")
    return result
