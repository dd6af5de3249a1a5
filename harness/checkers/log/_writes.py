"""What happened to writes: ``lost-write``, ``unseen``, ``G1a``, ``precommitted-read``.

- ``lost-write`` (Jepsen): for each key, take the values read by ``ok`` ops; the
  *bound* is the highest dense index among their first appearances. Every value whose
  last appearance in the log is at or below the bound should have been read by some
  ``ok`` op; one that was not, and whose writer must have committed (``ok``, or
  ``info`` with some value read by an ``ok`` op), is lost. Values nobody sent are left
  alone (they are not lost writes).
- ``unseen`` (Jepsen): a value sent by an ``ok`` op that no ``ok`` op ever read. A
  lost write is also unseen; an unseen write above the bound may simply not have been
  polled yet (the run should end with final polls that catch up).
- both exempt a record at an offset below ``deleted_below[key]`` (retention may have
  deleted it before anyone read it; `LogCheckOptions.deleted_below`).
- ``G1a`` (aborted read, Jepsen): an ``ok`` op read a value whose send ``fail``ed.
- ``precommitted-read`` (Jepsen): an op read a value that the same op sent: Kafka's
  read_committed consumers must not see a transaction's records before it commits.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from heapq import nsmallest

from harness.checkers.log._found import Found
from harness.checkers.log._index import LogIndex


def lost_writes(ix: LogIndex, limit: int, deleted_below: Mapping[str, int]) -> Found:
    found = Found(limit)
    ops = ix.ops
    for k, ki in ix.keys.items():
        rd = ki.ok_readers
        if not rd:
            continue
        dups = ki.dups
        first_off = ki.first_off
        if dups:
            bound_off = max(min(dups[v]) if v in dups else first_off[v] for v in rd)
        else:
            bound_off = max(map(first_off.__getitem__, rd))
        offs = ki.offs
        log = ki.log
        conflicts = ki.conflicts
        n = bisect_right(offs, bound_off)
        max_reader = -1
        for o in offs[bisect_left(offs, deleted_below.get(k, 0)):n]:
            vs = (log[o],) if o not in conflicts else tuple(conflicts[o])
            for v in vs:
                if v in rd:
                    continue
                d = dups.get(v)
                if d is not None and max(d) > bound_off:
                    continue
                w = ki.writer(v)
                if w is None or not ix.committed(w):
                    continue
                if not found.take():
                    continue
                if max_reader < 0:
                    at = conflicts.get(bound_off, {log[bound_off]: 0})
                    max_reader = next((rd[x] for x in at if x in rd), -1)
                bound = n - 1
                wop = ops[w]
                rop = ops[max_reader] if max_reader >= 0 else None
                found.add({
                    "key": k,
                    "values": [v],
                    "offsets": [o],
                    "index": ki.dense(o),
                    "max_read_index": bound,
                    "max_read_offset": bound_off,
                    "ops": [wop.index] + ([rop.index] if rop is not None else []),
                    "process": wop.process,
                    "message": (
                        f"value {v!r} sent to key {k} by op {wop.index} ({wop.type}) sits at "
                        f"offset {o}, yet no successful poll read it, although "
                        + (f"op {rop.index}" if rop is not None else "a poll")
                        + f" read up to offset {bound_off} of that key"),
                })
    return found


def unseen(ix: LogIndex, limit: int,
           deleted_below: Mapping[str, int]) -> tuple[Found, dict[str, int]]:
    """Also returns key -> number of unseen values (for the report's stats)."""
    found = Found(limit)
    ops = ix.ops
    by_key: dict[str, int] = {}
    firsts: list[tuple[int, str, object]] = []
    for k, ki in ix.keys.items():
        missing = ki.w_ok.keys() - ki.ok_readers.keys()
        below = deleted_below.get(k, 0)
        if missing and below > 0:
            missing = {v for v in missing if ki.first_off.get(v, below) >= below}
        if not missing:
            continue
        by_key[k] = len(missing)
        found.count += len(missing)
        w_ok = ki.w_ok
        for v in nsmallest(limit, missing, key=w_ok.__getitem__):
            firsts.append((w_ok[v], k, v))
    for p, k, v in sorted(firsts, key=lambda x: x[0])[:limit]:
        wop = ops[p]
        ki = ix.keys[k]
        o = ki.first_off.get(v)
        found.add({
            "key": k,
            "values": [v],
            "offsets": [o] if o is not None else [],
            "ops": [wop.index],
            "process": wop.process,
            "message": f"value {v!r} sent to key {k} by op {wop.index} (ok"
                       + (f", offset {o}" if o is not None else "")
                       + ") was never read by any successful poll",
        })
    return found, by_key


def g1a(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    cases: list[tuple[int, str, object]] = []
    for k, ki in ix.keys.items():
        if ki.w_fail:
            rd = ki.ok_readers
            for v in ki.w_fail.keys() & rd.keys():
                cases.append((rd[v], k, v))
    cases.sort(key=lambda x: x[0])
    for r, k, v in cases:
        if not found.take():
            continue
        ki = ix.keys[k]
        w = ki.w_fail[v]
        wop, rop = ops[w], ops[r]
        o = ki.first_off.get(v)
        found.add({
            "key": k,
            "values": [v],
            "offsets": [o] if o is not None else [],
            "ops": [wop.index, rop.index],
            "process": rop.process,
            "message": f"op {rop.index} (ok) read value {v!r} of key {k}"
                       + (f" at offset {o}" if o is not None else "")
                       + f", but op {wop.index}, which sent it, failed: an aborted write "
                       f"became visible",
        })
    return found


def precommitted_reads(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for p, k, v in ix.precommitted:
        if not found.take():
            continue
        op = ops[p]
        o = ix.keys[k].first_off.get(v)
        found.add({
            "key": k,
            "values": [v],
            "offsets": [o] if o is not None else [],
            "ops": [op.index],
            "process": op.process,
            "message": f"op {op.index} ({op.type} {op.f}) sent {v!r} to key {k} and its own "
                       f"poll returned it"
                       + (f" at offset {o}" if o is not None else "")
                       + ", before the transaction could have committed",
        })
    return found
