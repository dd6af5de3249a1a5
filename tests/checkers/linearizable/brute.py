"""An independent, definition-level linearizability checker for cross-checking.

No linked lists, no dominance, no greedy reads, no compiled steps: a depth-first
search over (set of operations done, state), memoized, that picks as next any
operation no pending operation with a known outcome returned before, using only
``Model.step``. Slow but obviously right; used on small or modest histories.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from harness.checkers.linearizable import Model, Operation


def brute_force(ops: Sequence[Operation], model: Model, *, limit: int = 5_000_000) -> bool:
    """True iff ``ops`` is linearizable under ``model`` (deterministic or not)."""
    n = len(ops)
    need = 0
    for i, op in enumerate(ops):
        if op.ret is not None:
            need |= 1 << i
    failed: set[tuple[int, Any]] = set()
    budget = [limit]

    def nexts(state: Any, op: Operation) -> list[Any]:
        if model.nondeterministic:
            return list(model.step(state, op.input, op.output))
        ok, nxt = model.step(state, op.input, op.output)
        return [nxt] if ok else []

    def go(done: int, state: Any) -> bool:
        if done & need == need:
            return True
        key = (done, model.state_key(state))
        if key in failed:
            return False
        budget[0] -= 1
        if budget[0] < 0:
            raise RuntimeError("brute force budget exhausted")
        min_ret = min(r for j in range(n)
                      if not done >> j & 1 and (r := ops[j].ret) is not None)
        for i in range(n):
            if done >> i & 1 or ops[i].call > min_ret:
                continue
            for nxt in nexts(state, ops[i]):
                if go(done | 1 << i, nxt):
                    return True
        failed.add(key)
        return False

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * n + 1000))
    try:
        return go(0, model.init())
    finally:
        sys.setrecursionlimit(old)
