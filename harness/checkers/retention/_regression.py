"""``log-start-regression``: a key's log start went back.

Definition: ``offsets`` op B (``ok``) reported log start ``b`` for key ``k`` although
an ``offsets`` op A, which completed before B was invoked, reported ``a > b``.

Why it is bad (Kafka's semantics): the log start offset only grows (retention and
DeleteRecords move it forward, followers take the leader's); records below it are
gone. A smaller start later means either deleted records came back or a broker (a
new leader, a restarted node) serves a log start older than one it already
published.
"""

from __future__ import annotations

from harness.checkers.log._found import Found
from harness.checkers.retention._index import RetentionIndex


def regressions(ix: RetentionIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for obs in ix.observations:
        for k, (b, _) in sorted(obs.starts.items()):
            prior = obs.highest_at_inv.get(k)
            if prior is None or b >= prior[0]:
                continue
            if not found.take():
                continue
            a, a_pos = prior
            a_op, b_inv, b_op = ops[a_pos], ops[obs.inv], ops[obs.done]
            found.add({
                "key": k, "process": b_op.process, "processes": [a_op.process, b_op.process],
                "ops": [a_op.index, b_inv.index, b_op.index], "offsets": [a, b],
                "message": f"op {a_op.index} (process {a_op.process!r}) reported log start "
                           f"{a} of key {k}; op {b_op.index} (process {b_op.process!r}), "
                           f"invoked afterwards in op {b_inv.index}, reported {b}: the log "
                           f"start went back by {a - b}",
            })
    return found
