"""``commit-skip``: the group committed past a record none of its members read.

Definition: an acknowledged record (an ``ok`` send, or a send of an ``ok`` txn) has
value ``v`` at offset ``o`` of key ``k``; some acknowledged commit (an ``ok`` commit, or
the offsets of an ``ok`` txn) of ``k`` has offset ``> o``; and no read of the group (an
``ok`` poll, or a poll micro-op of an ``ok`` or ``info`` txn, of a process that
subscribed) returned offset ``o`` of ``k``. One witness per record. Records of aborted
transactions are not required: read_committed consumers never see them, and skipping
them is right; those of ``info`` txns may or may not exist. Reads of aborted
transactions do not count: the consumer was sought back and must read them again.

Why it is bad: the workload commits after processing: a consumer commits only the
offset after records its polls returned, starting from the committed offset (or the
earliest one, before any commit). By induction every offset below a commit was
returned to some member, which is Kafka's at-least-once delivery for a group. A skip
means a member started above the committed offset (a commit from nowhere, or a
position reset forward) or the log lost or moved the record.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex, how
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
                "message": f"value {v!r} was acknowledged at offset {o} of key {k}"
                           f"{how(s_op)} (op {s_op.index}); the group committed offset {c} "
                           f"of the key{how(c_op)} (process {c_op.process!r}, op "
                           f"{c_op.index}) but no member of the group ever polled offset "
                           f"{o}",
            })
    return found
