"""The log checker's entry point: index once, run each family, classify."""

from __future__ import annotations

import gc
from typing import Any

from harness.checkers._result import CheckResult
from harness.checkers.log import _cycles, _offsets, _polls, _sends, _writes
from harness.checkers.log._found import Found
from harness.checkers.log._index import LogIndex, build
from harness.checkers.log._options import ANOMALY_TYPES, LogCheckOptions
from harness.history import History

CHECKER = "log"


def _stats(ix: LogIndex, unseen_by_key: dict[str, int], opts: LogCheckOptions) -> dict[str, Any]:
    per_key: dict[str, Any] = {}
    for k in sorted(ix.keys, key=lambda s: (len(s), s)):
        ki = ix.keys[k]
        per_key[k] = {
            "sends_ok": len(ki.w_ok),
            "sends_info": ki.n_info,
            "sends_fail": ki.n_fail,
            "values_read": len(ki.ok_readers),
            "max_offset": ki.offs[-1] if ki.offs else None,
            "unseen": unseen_by_key.get(k, 0),
        }
    by_f = {f: {t: n for t, n in c.items() if n} for f, c in sorted(ix.by_f.items())}
    notes = []
    if opts.sub_via == "assign" and by_f.get("subscribe", {}).get("ok"):
        notes.append("the history has subscribe ops but the check assumed sub_via=assign: "
                     "poll-skip and nonmonotonic-poll count as bad (pass sub_via=subscribe "
                     "if consumers were rebalanced by a group)")
    if opts.deleted_below:
        notes.append("records below deleted_below (retention may have deleted them) were "
                     "exempt from lost-write, unseen and poll-skip: "
                     + ", ".join(f"key {k} < {o}" for k, o in sorted(opts.deleted_below.items())))
    return {
        "notes": notes,
        "ops": len(ix.ops),
        "kafka_completions": ix.n_kafka_ops,
        "keys": per_key,
        "by_f": by_f,
        "info_sends_committed": len(ix.committed_info),
        "info_sends": len(ix.info_sends),
    }


def check(history: History, options: LogCheckOptions | None = None) -> CheckResult:
    """Judge a Kafka history for Jepsen's log anomalies (see the package docstring).

    Raises HistoryError when an op's value is malformed. ``valid`` is False iff a
    ``bad`` type occurs, ``"unknown"`` when the history holds no send/poll/txn
    completion (nothing to judge), else True.
    """
    # Pause the cyclic garbage collector, first thing (an allocation before this may
    # already trigger a collection). A loaded history holds millions of tracked lists
    # and dicts; the pass allocates many small objects, and each full collection it
    # triggers walks the whole history (measured: a 300k-op check took 1.6 s of CPU
    # with collections, 0.58 s without). Nothing here makes reference cycles.
    was = gc.isenabled()
    gc.disable()
    try:
        opts = options if options is not None else LogCheckOptions()
        return _check(history, opts)
    finally:
        if was:
            gc.enable()


def _check(history: History, opts: LogCheckOptions) -> CheckResult:
    ix = build(history)
    limit = opts.max_witnesses
    found: dict[str, Found] = {}
    found["inconsistent-offsets"] = _offsets.inconsistent_offsets(ix, limit)
    found["duplicate"] = _offsets.duplicates(ix, limit)
    below = opts.deleted_below
    found["lost-write"] = _writes.lost_writes(ix, limit, below)
    found["G1a"] = _writes.g1a(ix, limit)
    found["precommitted-read"] = _writes.precommitted_reads(ix, limit)
    found["poll-skip"], found["nonmonotonic-poll"] = _polls.poll_cases(ix, limit, below)
    found["int-poll-skip"], found["int-nonmonotonic-poll"] = _polls.int_poll_cases(ix, limit)
    found["int-send-skip"], found["int-nonmonotonic-send"] = _sends.int_send_cases(ix, limit)
    found["nonmonotonic-send"] = _sends.nonmonotonic_sends(ix, limit)
    found["unseen"], unseen_by_key = _writes.unseen(ix, limit, below)
    found["G0"] = _cycles.g0(ix, limit)
    found["G1c"] = _cycles.g1c(ix, limit)

    result = CheckResult(checker=CHECKER, valid=True, stats=_stats(ix, unseen_by_key, opts))
    allowed = opts.allowed_types()
    for t in ANOMALY_TYPES:
        result.record(t, found[t].witnesses, found[t].count, allowed=t in allowed)
    if result.bad_types:
        result.valid = False
    elif ix.n_kafka_ops == 0:
        result.valid = "unknown"
        result.error = "the history has no send, poll or txn completions: nothing to check"
    return result
