"""Explaining an illegal partition as JSON-ready data, for people and for the report.

Blame: the culprit is the operation whose return ends the shortest prefix of the
history (cut at a return; operations still running at the cut have an unknown
outcome) that is not linearizable: everything before it is, so it is where the
history goes wrong (for one stale read, that read). `find_culprit` checks the
search's own guess and its predecessor, and bisects if the guess was wrong.

Then, from the search of that prefix: the longest linearizable prefix found (the
configuration that got furthest), the model state after it, the culprit (which
returned before it could take effect), and the other candidates that could have
gone next. This module replays the prefix through the model to give the state
after each operation, places each on a linearization point inside its interval,
and says for each candidate whether the model accepts it from the final state (a
candidate the model accepts only led to dead ends further on).

The data has what a Porcupine-style drawing needs: one row per client, operations
as intervals (``call``/``return`` in history positions; ``return`` None when the
outcome is unknown, drawn to the end), ``times_ns`` when known, a description per
operation, the prefix order with linearization points, and the state after each
prefixed operation for hover text. It holds no model objects, only strings and
numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.checkers.linearizable._model import ILLEGAL, Model, Operation
from harness.checkers.linearizable._search import SearchResult, Stuck, op_functions, search


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 20] + " ... " + text[-15:]


def _describe_state(model: Model, unwrap: Any, es: Any) -> str:
    ss = unwrap(es)
    if len(ss) == 1:
        return model.describe_state(ss[0])
    return "one of {" + " | ".join(sorted(model.describe_state(s) for s in ss)) + "}"


def _op_json(i: int, op: Operation, model: Model) -> dict[str, Any]:
    return {
        "id": i,
        "index": op.index,
        "client": op.client,
        "call": op.call,
        "return": op.ret,
        "times_ns": list(op.times) if op.times is not None else None,
        "unknown": op.ret is None,
        "description": model.describe_operation(op.input, op.output),
    }


def truncate(ops: Sequence[Operation], model: Model, t: int,
             ) -> tuple[list[Operation], list[int]]:
    """The history as it stood at time ``t`` (just after returns at ``t``): operations
    called by then; those still running may or may not have taken effect (if they
    did, with the output they later returned; reads among them are dropped). If the
    whole history is linearizable, so is this (take the operations linearized by
    ``t``). Also each kept operation's position in ``ops``."""
    ro = model.is_read_only
    out: list[Operation] = []
    pos: list[int] = []
    for i, op in enumerate(ops):
        if op.call > t:
            continue
        if op.ret is not None and op.ret > t:
            if ro is not None and ro(op.input, op.output):
                continue
            op = replace(op, ret=None)
        out.append(op)
        pos.append(i)
    return out, pos


#: Memo cap of the unpruned search an explanation may run.
_EXPLAIN_MEMO_CAP = 100_000


@dataclass(slots=True)
class _Culprit:
    op: int  # position in the partition
    res: SearchResult  # the search of the shortest failing prefix
    sub: list[Operation]
    pos: list[int]
    probes: int


def find_culprit(ops: Sequence[Operation], model: Model, res: SearchResult, *,
                 deadline: float | None, clock: Callable[[], float],
                 memo_cap: int | None) -> _Culprit | None:
    """The operation whose return ends the shortest non-linearizable prefix of the
    history (prefixes are cut at returns; failing is monotone in the cut). Starts
    from the search's own blame, which is usually right, so that this costs two
    searches of shorter histories; otherwise bisects. None if a probe runs out of
    time or memory."""
    rets = sorted({op.ret for op in ops if op.ret is not None})
    if not rets:
        return None
    probes = 0

    def probe(k: int) -> tuple[SearchResult, list[Operation], list[int]] | None:
        nonlocal probes
        probes += 1
        sub, pos = truncate(ops, model, rets[k])
        r = search(sub, model, deadline=deadline, clock=clock, memo_cap=memo_cap)
        return None if r.verdict == "unknown" else (r, sub, pos)

    stuck = res.stuck
    guess = len(rets) - 1
    if stuck is not None and stuck.blocking is not None:
        b = ops[stuck.blocking].ret
        if b is not None:
            guess = rets.index(b)
    got = probe(guess)
    if got is None:
        return None
    found: tuple[SearchResult, list[Operation], list[int]] | None
    if got[0].verdict == "illegal":
        hi, found = guess, got
        lo = -1
        if hi > 0:
            before = probe(hi - 1)
            if before is None:
                return None
            if before[0].verdict == "illegal":
                hi, found = hi - 1, before
            else:
                lo = hi - 1
        else:
            lo = -1
    else:
        lo, hi, found = guess, len(rets) - 1, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = probe(mid)
        if got is None:
            return None
        if got[0].verdict == "illegal":
            hi, found = mid, got
        else:
            lo = mid
    if found is None:
        got = probe(hi)
        if got is None or got[0].verdict != "illegal":
            return None
        found = got
    r, sub, pos = found
    t = rets[hi]
    culprit = next(i for i, op in enumerate(ops) if op.ret == t)
    # pruning cuts doomed branches early, so its deepest configuration can be short:
    # search the failing prefix once more without it, if that fits the budget
    full = search(sub, model, deadline=deadline, clock=clock, prune=False,
                  memo_cap=min(memo_cap or _EXPLAIN_MEMO_CAP, _EXPLAIN_MEMO_CAP))
    if full.verdict == "illegal" and full.stuck is not None:
        r = full
    return _Culprit(op=culprit, res=r, sub=sub, pos=pos, probes=probes + 1)


def explain(key: str, ops: Sequence[Operation], model: Model, res: SearchResult, *,
            deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
            memo_cap: int | None = None) -> dict[str, Any]:
    """The explanation of an illegal partition (see the module docstring)."""
    culprit = find_culprit(ops, model, res, deadline=deadline, clock=clock,
                           memo_cap=memo_cap)
    if culprit is not None and culprit.res.stuck is not None:
        sub, pos = culprit.sub, culprit.pos
        st = culprit.res.stuck
        stuck = Stuck(prefix=[pos[i] for i in st.prefix], state=st.state,
                      candidates=[pos[i] for i in st.candidates if pos[i] != culprit.op],
                      blocking=culprit.op)
        replay_ops: Sequence[Operation] = sub
        to_sub = {p: i for i, p in enumerate(pos)}
    else:
        stuck = res.stuck if res.stuck is not None else Stuck(
            prefix=[], state=0, candidates=[], blocking=None)
        stuck = Stuck(prefix=stuck.prefix, state=stuck.state, blocking=stuck.blocking,
                      candidates=[i for i in stuck.candidates if i != stuck.blocking])
        replay_ops = ops
        to_sub = {i: i for i in range(len(ops))}
    fns, init, unwrap = op_functions(replay_ops, model)
    state = init
    states_after: list[str] = []
    points: list[int] = []
    point = None
    for i in stuck.prefix:
        nxt = fns[to_sub[i]](state)
        state = init if nxt is ILLEGAL else nxt  # never ILLEGAL: the prefix was legal
        states_after.append(_describe_state(model, unwrap, state))
        op = ops[i]
        point = op.call if point is None else max(point, op.call)
        if op.ret is not None and point > op.ret:
            point = op.ret
        points.append(point)
    final = _describe_state(model, unwrap, state)
    cands = []
    for i in stuck.candidates:
        nxt = fns[to_sub[i]](state)
        cands.append({
            "id": i,
            "index": ops[i].index,
            "description": model.describe_operation(ops[i].input, ops[i].output),
            "legal": nxt is not ILLEGAL,
            "state_after": None if nxt is ILLEGAL else _describe_state(model, unwrap, nxt),
        })
    blocking = stuck.blocking
    head = (f"key {key!r}: no linearization exists. ")
    if blocking is not None:
        b = ops[blocking]
        bdesc = _short(model.describe_operation(b.input, b.output))
        if culprit is not None:
            head += (f"The history is linearizable until op {b.index} returns, and not "
                     "after. ")
            msg = head + "The longest linearizable prefix found then has "
        else:
            msg = head + "The longest linearizable prefix found has "
        msg += (f"{len(stuck.prefix)} of {len(ops)} operations and leaves the state "
                f"{_short(final)}; op {b.index} ({bdesc}, client {b.client}) returned "
                "before it could take effect")
        blocked = fns[to_sub[blocking]](state) if blocking in to_sub else ILLEGAL
        if blocked is ILLEGAL:
            msg += " and the model rejects it in that state"
    else:
        msg = (head + f"The longest linearizable prefix has {len(stuck.prefix)} of "
               f"{len(ops)} operations and leaves the state {_short(final)}")
    illegal = [c for c in cands if not c["legal"]]
    if illegal:
        shown = ", ".join(f"op {c['index']} ({_short(str(c['description']))})"
                          for c in illegal[:5])
        more = f" and {len(illegal) - 5} more" if len(illegal) > 5 else ""
        msg += f"; it also rejects {shown}{more}"
    legal = [c for c in cands if c["legal"]]
    if legal:
        msg += (f"; {len(legal)} other candidate(s) are accepted but every continuation "
                "from them fails")
    clients = sorted({op.client for op in ops}, key=lambda c: (isinstance(c, str), c))
    return {
        "key": key,
        "model": model.name,
        "clients": clients,
        "ops": [_op_json(i, op, model) for i, op in enumerate(ops)],
        "initial_state": _describe_state(model, unwrap, init),
        "linearized": list(stuck.prefix),
        "points": points,
        "states": states_after,
        "final_state": final,
        "blocking": blocking,
        "candidates": cands,
        "shortest_failing_prefix": culprit is not None,
        "message": msg,
    }


def witness_ops(expl: dict[str, Any], ops: Sequence[Operation]) -> list[int]:
    """History indices of the operations an explanation blames: the blocking one and
    the candidates that could not go next."""
    ids: list[int] = []
    if expl.get("blocking") is not None:
        ids.append(expl["blocking"])
    ids.extend(c["id"] for c in expl.get("candidates", []) if c["id"] not in ids)
    out = []
    for i in ids:
        idx = ops[i].index
        out.append(i if idx is None else idx)
    return out
