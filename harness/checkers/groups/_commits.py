"""``commit-regression``: a group's committed offset of a key went back.

Definition: commit B (``ok``) commits offset ``b`` of key ``k`` although a commit A of
``k`` with offset ``a > b`` was acknowledged (its ``ok`` completion) before B was
invoked. A commit is a ``commit`` op or the offsets of a ``txn`` (see `_index`). Only
acknowledged commits count on both sides; an indefinite (``info``) commit or txn may or
may not have happened, so it proves nothing.

Why it is bad (Kafka's semantics): the coordinator accepts a commit only from a member
of the current generation (``ILLEGAL_GENERATION`` / ``UNKNOWN_MEMBER_ID`` otherwise),
and a generation starts only after the previous one's commits are processed, so the
members that commit ``k`` form a chain, each starting from its predecessor's last
commit. The workload's consumer commits only keys it owns, the offset after records it
polled since its position was reset to the committed offset, so its commits of a key
never fall below what the group had acknowledged before. A transaction's offsets are
the same positions, and its TxnOffsetCommit names the member and generation (KIP-447:
both clients pass the consumer's group metadata), so a fenced member cannot stage them;
an aborted transaction rewinds the consumer to where its reads began. A regression
means an acknowledged commit was lost (e.g. not persisted across a coordinator restart)
or a fenced member's commit was accepted.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex, how
from harness.checkers.log._found import Found


def commit_regressions(ix: GroupIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for c in ix.commits:
        for k, b in c.offsets.items():
            prior = c.acked_at_inv.get(k)
            if prior is None or b >= prior[0]:
                continue
            if not found.take():
                continue
            a, a_pos = prior
            a_op, b_inv, b_op = ops[a_pos], ops[c.inv], ops[c.done]
            found.add({
                "key": k, "process": b_op.process, "processes": [a_op.process, b_op.process],
                "ops": [a_op.index, b_inv.index, b_op.index], "offsets": [a, b],
                "message": f"process {a_op.process!r} committed offset {a} of key {k}{how(a_op)} "
                           f"(acknowledged in op {a_op.index}); afterwards process "
                           f"{b_op.process!r} committed offset {b} of that key{how(b_op)} "
                           f"(invoked in op {b_inv.index}, acknowledged in op {b_op.index}): the "
                           f"group's committed offset went back by {a - b}",
            })
    return found
