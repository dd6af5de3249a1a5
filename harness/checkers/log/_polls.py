"""Consumers reading out of order: ``poll-skip``, ``nonmonotonic-poll``,
``int-poll-skip``, ``int-nonmonotonic-poll``.

All four compare two reads of one key by their *dense indices* in the version order
(offsets with no known record, such as transaction markers, do not count). The delta
is index(second) - index(first): 1 is the next record, more than 1 skips records that
exist, 1 less or below goes back (0: the same record again).

- ``poll-skip`` / ``nonmonotonic-poll`` (Jepsen, per process): the last value a
  process's previous ``ok`` read of a key returned, against the first value its next
  op reads of that key (``ok``, ``info`` or ``fail``). The remembered reads follow the
  sequencing rules in `_index`. Expected with ``subscribe`` (rebalances move
  partitions between consumers). A skip of records that all lie below
  ``deleted_below[key]`` is no anomaly: retention deleted them under the consumer,
  whose next fetch got OFFSET_OUT_OF_RANGE and reset to the log start.
- ``int-poll-skip`` / ``int-nonmonotonic-poll`` (Jepsen, per op): consecutive values
  of a key within one op (across its poll micro-ops, in order), except for keys that
  the op's ``rebalance-log`` says were reassigned during it.

Reads are placed by the offset the poll returned with them, which is what the
consumer saw; Jepsen places them by value, which differs only for duplicated values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checkers.log._found import Found, fmt_list
from harness.checkers.log._index import LogIndex


def _rebalanced(ix: LogIndex, p: int, cache: dict[int, frozenset[str]]) -> frozenset[str]:
    got = cache.get(p)
    if got is None:
        extra = ix.ops[p].extra
        log = extra.get("rebalance-log") or extra.get("rebalance_log") or ()
        ks: set[str] = set()
        for event in log:
            if isinstance(event, dict):
                ks.update(str(k) for k in event.get("keys", ()) or ())
        got = cache[p] = frozenset(ks)
    return got


def poll_cases(ix: LogIndex, limit: int,
               deleted_below: Mapping[str, int]) -> tuple[Found, Found]:
    """(poll-skip, nonmonotonic-poll)."""
    skips, backs = Found(limit), Found(limit)
    ops, keys = ix.ops, ix.keys
    logs = {k: ki.log for k, ki in keys.items()}
    for k, o1, v1, p1, o2, v2, p2, proc in ix.poll_pairs:
        if o2 == o1 + 2 and o1 + 1 not in logs[k]:
            continue  # one offset with no record between: a transaction marker
        ki = keys[k]
        delta = ki.delta(o1, o2)
        if delta > 1:
            if k in deleted_below and ki.offs[ki.dense(o2) - 1] < deleted_below[k]:
                continue  # every skipped record lies below the log start: a reset
            if not skips.take():
                continue
            skipped = ki.between(o1, o2)
            a, b = ops[p1].index, ops[p2].index
            skips.add({
                "key": k, "process": proc, "ops": [a, b], "offsets": [o1, o2],
                "values": [v1, v2], "delta": delta, "skipped": skipped,
                "message": f"process {proc!r} read key {k} up to offset {o1} (value {v1!r}) "
                           f"in op {a}; its next read of that key, op {b}, began at offset "
                           f"{o2} (value {v2!r}), skipping {len(skipped)} record(s) that "
                           f"exist: {fmt_list(skipped)}",
            })
        elif delta < 1:
            if not backs.take():
                continue
            a, b = ops[p1].index, ops[p2].index
            backs.add({
                "key": k, "process": proc, "ops": [a, b], "offsets": [o1, o2],
                "values": [v1, v2], "delta": delta,
                "message": f"process {proc!r} read key {k} up to offset {o1} (value {v1!r}) "
                           f"in op {a}; its next read of that key, op {b}, began at offset "
                           f"{o2} (value {v2!r}), "
                           + ("the same record again" if delta == 0 else
                              f"{-delta} record(s) further back"),
            })
    return skips, backs


def int_poll_cases(ix: LogIndex, limit: int) -> tuple[Found, Found]:
    """(int-poll-skip, int-nonmonotonic-poll)."""
    skips, backs = Found(limit), Found(limit)
    ops, keys = ix.ops, ix.keys
    cache: dict[int, frozenset[str]] = {}
    logs = {k: ki.log for k, ki in keys.items()}
    for k, o1, v1, o2, v2, p in ix.int_poll_pairs:
        if o2 == o1 + 2 and o1 + 1 not in logs[k]:
            continue  # one offset with no record between: a transaction marker
        ki = keys[k]
        delta = ki.delta(o1, o2)
        if delta == 1:
            continue
        if ops[p].extra and k in _rebalanced(ix, p, cache):
            continue
        if delta > 1:
            target = skips
        elif delta < 1:
            target = backs
        else:
            continue
        if not target.take():
            continue
        op = ops[p]
        w: dict[str, Any] = {
            "key": k, "process": op.process, "ops": [op.index], "offsets": [o1, o2],
            "values": [v1, v2], "delta": delta,
        }
        head = (f"within op {op.index} ({op.type} {op.f}) process {op.process!r} read key "
                f"{k} at offset {o1} (value {v1!r}) and next at offset {o2} (value {v2!r})")
        if target is skips:
            skipped = ki.between(o1, o2)
            w["skipped"] = skipped
            w["message"] = f"{head}, skipping {len(skipped)} record(s) that exist: " \
                           f"{fmt_list(skipped)}"
        else:
            w["message"] = head + (", the same record twice" if delta == 0 else
                                   f", {-delta} record(s) backwards")
        target.add(w)
    return skips, backs
