"""Explaining an illegal partition as JSON-ready data, for people and for the report.

The search remembers the deepest configuration it could not extend: the longest
linearizable prefix it found, the model state after it, the operation whose return
was reached without it taking effect (the "blocking" one), and the candidates that
could have gone next. This module replays that prefix through the model to give the
state after each operation, places each on a linearization point inside its
interval, and says for each candidate whether the model accepts it from the final
state (a candidate the model accepts only led to dead ends further on).

The data has what a Porcupine-style drawing needs: one row per client, operations
as intervals (``call``/``return`` in history positions; ``return`` None when the
outcome is unknown, drawn to the end), ``times_ns`` when known, a description per
operation, the prefix order with linearization points, and the state after each
prefixed operation for hover text. It holds no model objects, only strings and
numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.checkers.linearizable._model import ILLEGAL, Model, Operation
from harness.checkers.linearizable._search import SearchResult, Stuck, op_functions


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


def explain(key: str, ops: Sequence[Operation], model: Model, res: SearchResult,
            ) -> dict[str, Any]:
    """The explanation of an illegal partition (see the module docstring)."""
    stuck = res.stuck
    if stuck is None:  # cannot happen for an illegal result; stay total anyway
        stuck = Stuck(prefix=[], state=0, candidates=[], blocking=None)
    fns, init, unwrap = op_functions(ops, model)
    state = init
    states_after: list[str] = []
    points: list[int] = []
    point = None
    for i in stuck.prefix:
        nxt = fns[i](state)
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
        nxt = fns[i](state)
        cands.append({
            "id": i,
            "index": ops[i].index,
            "description": model.describe_operation(ops[i].input, ops[i].output),
            "legal": nxt is not ILLEGAL,
            "state_after": None if nxt is ILLEGAL else _describe_state(model, unwrap, nxt),
        })
    blocking = stuck.blocking
    if blocking is not None:
        b = ops[blocking]
        bdesc = _short(model.describe_operation(b.input, b.output))
        msg = (f"key {key!r}: no linearization exists. The longest linearizable prefix has "
               f"{len(stuck.prefix)} of {len(ops)} operations and leaves the state "
               f"{_short(final)}; op {b.index} ({bdesc}, client {b.client}) returned before it "
               f"could take effect")
    else:
        msg = (f"key {key!r}: no linearization exists. The longest linearizable prefix has "
               f"{len(stuck.prefix)} of {len(ops)} operations and leaves the state "
               f"{_short(final)}")
    illegal = [c for c in cands if not c["legal"]]
    if illegal:
        shown = ", ".join(f"op {c['index']} ({_short(str(c['description']))})"
                          for c in illegal[:5])
        more = f" and {len(illegal) - 5} more" if len(illegal) > 5 else ""
        msg += f"; from that state the model rejects {shown}{more}"
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
