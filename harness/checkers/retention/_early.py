"""``early-deletion``: a record was deleted while younger than ``retention.ms``.

Definition: a record at offset ``o`` of key ``k`` was sent by an op invoked at
``t_send``; an ``ok`` ``offsets`` op that completed at ``t_done`` reported a log start
``> o`` (the record is gone), and ``t_done - t_send < retention.ms - tolerance``.

Why it is sound: the record's timestamp (set by the producer when it sends, or by the
broker when it appends) is not before ``t_send``, and the broker deleted it before
``t_done``, so its age when deleted was at most ``t_done - t_send``. Kafka's time
rule deletes a segment only when its *newest* record is older than ``retention.ms``,
so no record younger than that may go; ``tolerance`` covers the harness's monotonic
clock against the wall clock of timestamps and brokers. A record is judged at its
first observation only (later ``offsets`` ops see the same deletion again), and per
observation only the youngest record below the log start matters.
"""

from __future__ import annotations

from harness.checkers.log._found import Found
from harness.checkers.retention._index import RetentionIndex
from harness.checkers.retention._options import RetentionCheckOptions


def early_deletions(ix: RetentionIndex, opts: RetentionCheckOptions) -> Found:
    found = Found(opts.max_witnesses)
    ops = ix.ops
    partner = ix.partner
    judged: set[tuple[str, int]] = set()
    for obs in ix.observations:
        for k, (start, _) in sorted(obs.starts.items()):
            retention_ms = opts.retention_of(k)
            kr = ix.records.get(k)
            if retention_ms is None or kr is None:
                continue
            i = kr.youngest_below(start)
            if i is None or (k, kr.offsets[i]) in judged:
                continue
            judged.add((k, kr.offsets[i]))
            s = kr.sent_at[i]
            age_ms = (obs.time_ns - ops[s].time) / 1e6
            if retention_ms >= 0 and age_ms >= retention_ms - opts.tolerance_ms:
                continue
            if not found.take():
                continue
            o, v, send = kr.offsets[i], kr.values[i], ops[s]
            done = partner[s] if s < len(partner) else -1
            inv_op, obs_op = ops[obs.inv], ops[obs.done]
            limit = "no time limit (-1)" if retention_ms < 0 else f"{retention_ms} ms"
            found.add({
                "key": k, "process": obs.process, "offsets": [o, start], "values": [v],
                "ops": [send.index] + ([ops[done].index] if done >= 0 else [])
                       + [inv_op.index, obs_op.index],
                "age_ms_max": round(age_ms, 3), "retention_ms": retention_ms,
                "message": f"value {v!r} of key {k} (offset {o}) was sent in op "
                           f"{send.index}; op {obs_op.index} (process {obs.process!r}) "
                           f"reported log start {start}, so the record was deleted at most "
                           f"{age_ms:.0f} ms after it was sent, younger than retention.ms "
                           f"({limit})",
            })
    return found
