"""Offsets that disagree: ``inconsistent-offsets`` and ``duplicate``.

- ``inconsistent-offsets`` (Jepsen): two ops show different values at the same
  offset of a key, counting polls of any outcome and the sends that must have
  committed. One witness per (key, offset).
- ``duplicate`` (Jepsen): one value appears at more than one offset of a key. One
  witness per (key, value). (Reading the same offset twice is not a duplicate; it is a
  nonmonotonic poll.)
"""

from __future__ import annotations

from harness.checkers.log._found import Found, fmt_list
from harness.checkers.log._index import LogIndex


def inconsistent_offsets(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for k, ki in ix.keys.items():
        for o in sorted(ki.conflicts):
            if not found.take():
                continue
            seen = ki.conflicts[o]
            values = list(seen)
            positions = list(seen.values())
            idx = [ops[p].index for p in positions]
            shown = ", ".join(f"{v!r} (op {i})" for v, i in zip(values, idx))
            found.add({
                "key": k,
                "offsets": [o],
                "index": ki.dense(o),
                "values": values,
                "ops": idx,
                "process": ops[positions[0]].process,
                "message": f"offset {o} of key {k} holds {len(values)} different values: "
                           f"{shown}; a partition's log must agree at every offset",
            })
    return found


def duplicates(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for k, ki in ix.keys.items():
        for v, where in ki.dups.items():
            if not found.take():
                continue
            offsets = sorted(where)
            idx = [ops[where[o]].index for o in offsets]
            found.add({
                "key": k,
                "values": [v],
                "offsets": offsets,
                "count": len(offsets),
                "ops": idx,
                "process": ops[where[offsets[0]]].process,
                "message": f"value {v!r} appears at {len(offsets)} offsets of key {k}: "
                           f"{fmt_list(offsets)} (shown by ops {fmt_list(idx)}); "
                           f"it was appended more than once",
            })
    return found
