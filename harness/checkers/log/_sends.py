"""Producers' sends out of order: ``nonmonotonic-send``, ``int-send-skip``,
``int-nonmonotonic-send``.

A send is placed at the dense index of the offset its acknowledgement gave when the
op must have committed; otherwise (an ``info`` send, a ``fail``ed one, an offset the
client never learnt) at the index of the last offset its value appears at, if any.
A send that cannot be placed is never part of a case (Jepsen: delta unknown is 1).

- ``nonmonotonic-send`` (Jepsen, per process, ``ok`` and ``info`` ops): the last
  value a process's previous op sent to a key, against the first value its next op
  sends to that key: index(second) - index(first) < 1 means the log does not keep the
  producer's order. Remembered sends follow the sequencing rules in `_index`.
- ``int-send-skip`` / ``int-nonmonotonic-send`` (Jepsen, per op, any outcome):
  consecutive sends to one key within one op; a skip (others' records landed in
  between) is normal in Kafka and always allowed, going backwards is not.
"""

from __future__ import annotations

from typing import Any

from harness.checkers.log._found import Found, fmt_list
from harness.checkers.log._index import KeyIndex, LogIndex


def _place(ix: LogIndex, ki: KeyIndex, off: Any, v: Any, p: int) -> int | None:
    if off is not None and off in ki.log and ix.committed(p):
        return ki.dense(off)
    return ki.value_index(v)


def nonmonotonic_sends(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops, keys = ix.ops, ix.keys
    for k, o1, v1, p1, o2, v2, p2, proc in ix.send_pairs:
        ki = keys[k]
        i1 = _place(ix, ki, o1, v1, p1)
        i2 = _place(ix, ki, o2, v2, p2)
        if i1 is None or i2 is None or i2 - i1 >= 1:
            continue
        if not found.take():
            continue
        a, b = ops[p1].index, ops[p2].index
        delta = i2 - i1
        found.add({
            "key": k, "process": proc, "ops": [a, b],
            "offsets": [ki.offs[i1], ki.offs[i2]], "values": [v1, v2], "delta": delta,
            "message": f"process {proc!r} sent {v1!r} to key {k} in op {a} (log offset "
                       f"{ki.offs[i1]}), then {v2!r} in op {b}, which the log holds "
                       + ("at the same offset" if delta == 0 else
                          f"earlier, at offset {ki.offs[i2]}")
                       + ": the producer's order was not kept",
        })
    return found


def int_send_cases(ix: LogIndex, limit: int) -> tuple[Found, Found]:
    """(int-send-skip, int-nonmonotonic-send)."""
    skips, backs = Found(limit), Found(limit)
    ops, keys = ix.ops, ix.keys
    for k, o1, v1, o2, v2, p, _t in ix.int_send_pairs:
        ki = keys[k]
        i1 = _place(ix, ki, o1, v1, p)
        i2 = _place(ix, ki, o2, v2, p)
        if i1 is None or i2 is None:
            continue
        delta = i2 - i1
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
            "key": k, "process": op.process, "ops": [op.index],
            "offsets": [ki.offs[i1], ki.offs[i2]], "values": [v1, v2], "delta": delta,
        }
        head = (f"op {op.index} ({op.type} {op.f}) of process {op.process!r} sent {v1!r} "
                f"then {v2!r} to key {k}; the log holds them at offsets {ki.offs[i1]} and "
                f"{ki.offs[i2]}")
        if target is skips:
            skipped = [ki.log[o] for o in ki.offs[i1 + 1:i2]]
            w["skipped"] = skipped
            w["message"] = f"{head}, with {len(skipped)} other record(s) between: " \
                           f"{fmt_list(skipped)}"
        else:
            w["message"] = head + (": the same offset" if delta == 0 else
                                   ": in the opposite order")
        target.add(w)
    return skips, backs
