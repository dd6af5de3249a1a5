"""``offset-reset-below-commit``: a consumer newly assigned a key re-read below the
group's acknowledged commit.

Definition: process P reports a new assignment (a new ``epoch`` in its membership)
first at the completion of op J. For every key ``k``, let ``c`` be the highest offset
of ``k`` that an acknowledged commit (an ``ok`` commit, or the offsets of an ``ok``
txn) had acknowledged before J was invoked, and ``r`` the offset of the first record
of ``k`` that P's ``ok`` polls and ``ok`` txns returned while it reported that
assignment. ``r < c`` is the anomaly. Reads of aborted txns are left out (the client
rewinds to where they began, so the next read starts there again), and so are those
of ``info`` txns (the process is replaced after one).

Why it is bad: with eager rebalancing (both clients' default) every assignment resets
the consumer's positions, and the consumer fetches the committed offsets (OffsetFetch)
after its SyncGroup, which happened after J was invoked. A commit acknowledged before
then is durable, so the fetch returns at least ``c`` (commits never go back, see
`_commits`), and the first record read is at ``c`` or later. Reading below ``c`` means
the coordinator returned an older offset or none (the consumer then resets to the
earliest offset): the acknowledged commit was lost, typically across a coordinator
restart. A commit acknowledged after J's invocation cannot be required: it may race
with the fetch. If the commits themselves went back (``commit-regression``), the read
is judged against the highest one, so both types report the same loss.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex, how
from harness.checkers.log._found import Found


def offset_resets(ix: GroupIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for ep in ix.epochs:
        for k, (r, v, pos) in ep.first.items():
            prior = ep.acked_at_join.get(k)
            if prior is None or r >= prior[0]:
                continue
            if not found.take():
                continue
            c, c_pos = prior
            c_op, j_op, r_op = ops[c_pos], ops[ep.join], ops[pos]
            gen = "" if ep.generation is None else f" (generation {ep.generation})"
            found.add({
                "key": k, "process": ep.process, "processes": [c_op.process, ep.process],
                "ops": [c_op.index, j_op.index, r_op.index], "offsets": [c, r],
                "values": [v], "generation": ep.generation, "epoch": ep.epoch,
                "message": f"process {c_op.process!r} committed offset {c} of key {k}{how(c_op)} "
                           f"(acknowledged in op {c_op.index}); process {ep.process!r} was "
                           f"then assigned anew{gen}, first reported in op {ops[ep.seen].index} "
                           f"(invoked in op {j_op.index}), and its first read of the key, "
                           f"op {r_op.index}, began at offset {r} (value {v!r}), "
                           f"{c - r} below the commit",
            })
    return found
