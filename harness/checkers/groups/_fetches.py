"""``lost-commit``: the coordinator returned a committed offset below one it had
acknowledged.

Definition: a ``committed`` op (OffsetFetch) invoked after commit A of key ``k``
(offset ``a``) was acknowledged returned, for ``k``, an offset below ``a`` or none at
all. Only ``ok`` commits (and ``ok`` txns' offsets) before the fetch's invocation count:
a commit still in flight may or may not be visible. A transaction's offsets count from
its ``ok``: EndTxn answers once they are the group's, or (Kafka) a read_committed
member's fetch requires stable offsets and waits for them (KIP-447).

Why it is bad: a group's committed offsets live at one coordinator, which writes a
commit to ``__consumer_offsets`` (replicated, durable) before acknowledging it and
serves fetches from the same state: a register that, commits never going back (see
`_commits`), only grows. A fetch that returns less than an acknowledged commit means
the coordinator lost it: it acknowledged a commit it never persisted, or reloaded an
older state after a restart or failover. This is the direct observation of what
`_resets` sees through a rebalance.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex, how
from harness.checkers.log._found import Found


def lost_commits(ix: GroupIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for fe in ix.fetches:
        for k, (a, a_pos) in sorted(fe.acked_at_inv.items()):
            if k not in fe.offsets:
                continue
            got = fe.offsets[k]
            if got is not None and got >= a:
                continue
            if not found.take():
                continue
            a_op, f_inv, f_op = ops[a_pos], ops[fe.inv], ops[fe.done]
            shown = "no committed offset" if got is None else f"committed offset {got}"
            found.add({
                "key": k, "process": f_op.process, "processes": [a_op.process, f_op.process],
                "ops": [a_op.index, f_inv.index, f_op.index],
                "offsets": [a, -1 if got is None else got],
                "message": f"process {a_op.process!r} committed offset {a} of key {k}{how(a_op)} "
                           f"(acknowledged in op {a_op.index}); afterwards process "
                           f"{f_op.process!r} fetched the group's committed offsets (invoked "
                           f"in op {f_inv.index}) and got {shown} for the key (op "
                           f"{f_op.index}): the coordinator lost an acknowledged commit",
            })
    return found
