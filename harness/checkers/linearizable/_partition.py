"""Checking partitions independently (P-compositionality), on every core.

Linearizability is local: a history is linearizable iff each object's sub-history
is, so partitions are searched independently: first in this process, and when
that turns out to take a while (or the history is big) in a pool of forked worker
processes, largest partition first, on every usable core. When the caller wants
only the first illegal partition, finding one sets a shared flag that the other
searches poll, so they stop (as "stopped", reported as not checked).

Each partition has its own timeout (from when its search starts) and memo cap; the
explanation of an illegal one may search prefixes again within the same timeout
(and twice the verdict's time, or half a second), falling back to a rougher blame.
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

#: This many operations in all partitions: use a pool from the start.
POOL_MIN_OPS = 20_000
#: Searching here for this long (s) with partitions left: move the rest to a pool.
POOL_AFTER_S = 0.3

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
                    clock: Callable[[], float] = time.monotonic,
                    on_verdict: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Search one partition; a JSON-ready summary (with the explanation if illegal).
    ``on_verdict`` hears the verdict before the explanation is worked out."""
    t0 = clock()
    deadline = None if timeout_s is None else t0 + timeout_s
    res = search(ops, model, deadline=deadline, clock=clock, memo_cap=memory_cap,
                 should_stop=should_stop)
    if on_verdict is not None:
        on_verdict(res.verdict)
    out: dict[str, Any] = {
        "key": key,
        "verdict": res.verdict,
        "reason": res.reason,
        "ops": len(ops),
        "time_s": clock() - t0,
        "explain_time_s": 0.0,
        "memo_entries": res.memo_entries,
        "backtracks": res.backtracks,
    }
    if res.verdict == "illegal":
        # the explanation may search prefixes again: within the partition's deadline
        # and at most twice the time the verdict took, or half a second (else it falls
        # back to a rougher blame)
        spent = clock() - t0
        budget = clock() + max(0.5, 2 * spent)
        edl = budget if deadline is None else min(deadline, budget)
        expl = explain(key, ops, model, res, deadline=edl, clock=clock, memo_cap=memory_cap)
        out["explanation"] = expl
        out["witness_ops"] = witness_ops(expl, ops)
        out["explain_time_s"] = clock() - t0 - out["time_s"]
    return out


def _init_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop


def _stopped() -> bool:
    return bool(_STOP is not None and _STOP.is_set())


def _stop_if_illegal(verdict: str) -> None:
    if verdict == "illegal" and _STOP is not None:
        _STOP.set()


def _work(task: tuple[str, list[Operation], Any, float | None, int | None, bool],
          ) -> dict[str, Any]:
    key, ops, ref, timeout_s, memory_cap, stop_on_illegal = task
    return check_partition(key, ops, _resolve(ref), timeout_s, memory_cap, _stopped,
                           on_verdict=_stop_if_illegal if stop_on_illegal else None)


def default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def run_partitions(parts: Sequence[tuple[str, list[Operation]]], model: Model, *,
                   timeout_s: float | None, memory_cap: int | Sequence[int | None] | None,
                   all_partitions: bool,
                   workers: int | None,
                   clock: Callable[[], float] = time.monotonic,
                   ) -> tuple[list[dict[str, Any]], int]:
    """Check every partition (or until the first illegal one); returns the summaries
    in partition order (skipped ones say verdict "skipped") and the number of worker
    processes used (0: all in this process).

    Partitions are searched here, in order, until that has taken ``POOL_AFTER_S``;
    the rest then go to a pool of worker processes (at once if there are at least
    ``POOL_MIN_OPS`` operations): most histories are decided before a pool would even
    have started."""
    w = default_workers() if workers is None else max(1, workers)
    caps: list[int | None] = (list(memory_cap) if isinstance(memory_cap, Sequence)
                              else [memory_cap] * len(parts))
    ref = _model_ref(model)
    if w > 1 and len(parts) > 1 and sum(len(p) for _, p in parts) >= POOL_MIN_OPS \
            and _picklable(ref):
        return _run_pool(parts, ref, timeout_s, caps, all_partitions,
                         min(w, len(parts))), min(w, len(parts))
    out: list[dict[str, Any]] = []
    t0 = clock()
    for n, (key, ops) in enumerate(parts):
        rest = parts[n:]
        if (w > 1 and len(rest) > 1 and clock() - t0 >= POOL_AFTER_S
                and _picklable(ref)):
            used = min(w, len(rest))
            return out + _run_pool(rest, ref, timeout_s, caps[n:], all_partitions,
                                   used), used
        r = check_partition(key, ops, model, timeout_s, caps[n], clock=clock)
        out.append(r)
        if r["verdict"] == "illegal" and not all_partitions:
            out.extend(_skipped(k, o) for k, o in parts[n + 1:])
            break
    return out, 0


def _skipped(key: str, ops: Sequence[Operation]) -> dict[str, Any]:
    return {"key": key, "verdict": "skipped", "reason": "an earlier partition was illegal",
            "ops": len(ops), "time_s": 0.0, "explain_time_s": 0.0, "memo_entries": 0,
            "backtracks": 0}


def _picklable(ref: Any) -> bool:
    import pickle

    try:
        pickle.dumps(ref)
    except Exception:
        return False
    return True


def _run_pool(parts: Sequence[tuple[str, list[Operation]]], ref: Any,
              timeout_s: float | None, caps: list[int | None], all_partitions: bool,
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
            futs[pool.submit(_work, (key, ops, ref, timeout_s, caps[i],
                                     not all_partitions))] = i
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                i = futs[f]
                if f.cancelled():
                    continue
                r = f.result()
                results[i] = r
                if r["verdict"] == "illegal" and not all_partitions:
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
