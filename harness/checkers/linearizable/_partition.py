"""Checking partitions independently (P-compositionality), on every core.

Linearizability is local: a history is linearizable iff each object's sub-history
is, so partitions are searched independently. With two or more partitions and
enough operations to pay for starting processes, they run in a pool of forked
worker processes, largest first; otherwise in this process. When the caller wants
only the first illegal partition, finding one sets a shared flag that the other
searches poll, so they stop (as "stopped", reported as not checked).

Each partition has its own timeout (from when its search starts) and memo cap.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from harness.checkers.linearizable._explain import explain, witness_ops
from harness.checkers.linearizable._model import Model, Operation
from harness.checkers.linearizable._models import MODELS
from harness.checkers.linearizable._search import search

#: Fewer operations than this in all partitions: a pool costs more than it saves.
POOL_MIN_OPS = 1000

_STOP: Any = None  # the shared stop event, in worker processes


def _model_ref(model: Model) -> Any:
    """A picklable reference to a model: built-ins by name, others as themselves."""
    for name, m in MODELS.items():
        if model is m:
            return ("builtin", name, False)
        if model is m.per_key:
            return ("builtin", name, True)
    return model


def _resolve(ref: Any) -> Model:
    if isinstance(ref, tuple) and ref and ref[0] == "builtin":
        m = MODELS[ref[1]]
        if ref[2]:
            assert m.per_key is not None
            return m.per_key
        return m
    assert isinstance(ref, Model)
    return ref


def check_partition(key: str, ops: Sequence[Operation], model: Model,
                    timeout_s: float | None, memory_cap: int | None,
                    should_stop: Callable[[], bool] | None = None,
                    clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Search one partition; a JSON-ready summary (with the explanation if illegal)."""
    t0 = clock()
    deadline = None if timeout_s is None else t0 + timeout_s
    res = search(ops, model, deadline=deadline, clock=clock, memo_cap=memory_cap,
                 should_stop=should_stop)
    out: dict[str, Any] = {
        "key": key,
        "verdict": res.verdict,
        "reason": res.reason,
        "ops": len(ops),
        "time_s": clock() - t0,
        "memo_entries": res.memo_entries,
        "backtracks": res.backtracks,
    }
    if res.verdict == "illegal":
        # the explanation may search prefixes again: within the partition's deadline
        # and at most about twice the time the verdict took (else a rougher blame)
        spent = clock() - t0
        budget = clock() + max(1.0, 2 * spent)
        edl = budget if deadline is None else min(deadline, budget)
        expl = explain(key, ops, model, res, deadline=edl, clock=clock, memo_cap=memory_cap)
        out["explanation"] = expl
        out["witness_ops"] = witness_ops(expl, ops)
    return out


def _init_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop


def _stopped() -> bool:
    return bool(_STOP is not None and _STOP.is_set())


def _work(task: tuple[str, list[Operation], Any, float | None, int | None]) -> dict[str, Any]:
    key, ops, ref, timeout_s, memory_cap = task
    return check_partition(key, ops, _resolve(ref), timeout_s, memory_cap, _stopped)


def default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def run_partitions(parts: Sequence[tuple[str, list[Operation]]], model: Model, *,
                   timeout_s: float | None, memory_cap: int | None, all_partitions: bool,
                   workers: int | None) -> tuple[list[dict[str, Any]], int]:
    """Check every partition (or until the first illegal one); returns the summaries
    in partition order (None-free: skipped ones say verdict "skipped") and the number
    of worker processes used (0: in this process)."""
    w = default_workers() if workers is None else max(1, workers)
    total = sum(len(p) for _, p in parts)
    w = min(w, len(parts))
    ref = _model_ref(model) if w > 1 else None
    if w > 1 and total >= POOL_MIN_OPS and _picklable(ref):
        return _run_pool(parts, ref, timeout_s, memory_cap, all_partitions, w), w
    out: list[dict[str, Any]] = []
    stop = False
    for key, ops in parts:
        if stop:
            out.append(_skipped(key, ops))
            continue
        r = check_partition(key, ops, model, timeout_s, memory_cap)
        out.append(r)
        if r["verdict"] == "illegal" and not all_partitions:
            stop = True
    return out, 0


def _skipped(key: str, ops: Sequence[Operation]) -> dict[str, Any]:
    return {"key": key, "verdict": "skipped", "reason": "an earlier partition was illegal",
            "ops": len(ops), "time_s": 0.0, "memo_entries": 0, "backtracks": 0}


def _picklable(ref: Any) -> bool:
    import pickle

    try:
        pickle.dumps(ref)
    except Exception:
        return False
    return True


def _run_pool(parts: Sequence[tuple[str, list[Operation]]], ref: Any,
              timeout_s: float | None, memory_cap: int | None, all_partitions: bool,
              w: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i][1]))
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=w, mp_context=ctx, initializer=_init_worker,
                             initargs=(stop,)) as pool:
        futs: dict[Future[dict[str, Any]], int] = {}
        for i in order:
            key, ops = parts[i]
            futs[pool.submit(_work, (key, ops, ref, timeout_s, memory_cap))] = i
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                i = futs[f]
                if f.cancelled():
                    continue
                r = f.result()
                results[i] = r
                if r["verdict"] == "illegal" and not all_partitions and not stop.is_set():
                    stop.set()
                    for g in pending:
                        g.cancel()
    out = []
    for i, (key, ops) in enumerate(parts):
        got = results.get(i)
        if got is None or (got["verdict"] == "unknown" and got.get("reason") == "stopped"):
            got = _skipped(key, ops)
        out.append(got)
    return out
