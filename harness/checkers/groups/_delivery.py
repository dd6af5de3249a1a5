"""``commit-skip``: the group committed past a record none of its members read.

Definition: an ``ok`` send put value ``v`` at offset ``o`` of key ``k``; some ``ok``
commit of ``k`` has offset ``> o``; and no ``ok`` poll of a group member (a process
that subscribed) returned offset ``o`` of ``k``. One witness per record.

Why it is bad: the workload commits after processing: a consumer commits only the
offset after records its polls returned, starting from the committed offset (or the
earliest one, before any commit). By induction every offset below a commit was
returned to some member, which is Kafka's at-least-once delivery for a group. A skip
means a member started above the committed offset (a commit from nowhere, or a
position reset forward) or the log lost or moved the record.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex
from harness.checkers.log._found import Found


def commit_skips(ix: GroupIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for k in sorted(ix.acked, key=lambda s: (len(s), s)):
        c, c_pos = ix.acked[k]
        read = ix.reads.get(k, set())
        for o, (v, s_pos) in sorted(ix.sends.get(k, {}).items()):
            if o >= c:
                break
            if o in read:
                continue
            if not found.take():
                continue
            s_op, c_op = ops[s_pos], ops[c_pos]
            found.add({
                "key": k, "process": c_op.process, "ops": [s_op.index, c_op.index],
                "offsets": [o, c], "values": [v],
                "message": f"value {v!r} was acknowledged at offset {o} of key {k} (op "
                           f"{s_op.index}); the group committed offset {c} of the key "
                           f"(process {c_op.process!r}, op {c_op.index}) but no member of "
                           f"the group ever polled offset {o}",
            })
    return found
