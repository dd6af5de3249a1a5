"""The entry points: operations or a history in, a `CheckResult` out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.checkers._result import CheckResult, Validity
from harness.checkers.linearizable._from_history import (
    check_sorted,
    default_model_for,
    from_history,
    load_operations,
)
from harness.checkers.linearizable._model import UNKNOWN, Model, Operation, partition_by_key
from harness.checkers.linearizable._models import get_model
from harness.checkers.linearizable._partition import run_partitions
from harness.errors import UsageError
from harness.history import History

CHECKER = "linearizable"
ANOMALY = "nonlinearizable"
#: Default memo entries per partition, lowered for big partitions by
#: `default_memory_cap` so that one partition's search stays near 256 MB.
DEFAULT_MEMORY_CAP = 500_000
MEMORY_BUDGET_BYTES = 256 * 2 ** 20


def check_operations(ops: Sequence[Operation], model: str | Model, *,
                     timeout_s: float | None = None, all_partitions: bool = False,
                     memory_cap: int | None = None, workers: int | None = None,
                     partition: bool = True) -> CheckResult:
    """Is this set of operations linearizable under ``model``?

    ``timeout_s`` and ``memory_cap`` (memo entries) bound each partition's search;
    hitting either makes that partition ``unknown``. The default cap keeps a
    partition's search near 256 MB (`default_memory_cap`). With ``all_partitions`` every
    partition is checked; otherwise checking stops at the first illegal one.
    ``partition=False`` checks the whole history as one (slower; for comparisons).
    ``workers``: processes for partitions (default: the usable cores).
    """
    m = get_model(model)
    if timeout_s is not None and not timeout_s > 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout_s!r}")
    if memory_cap is not None and memory_cap < 1:
        raise UsageError(f"memory cap must be a positive number of memo entries, got "
                         f"{memory_cap!r}")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers!r}")
    check_sorted(ops)
    ro = m.is_read_only
    kept = [op for op in ops
            if not (op.ret is None and ro is not None and ro(op.input, UNKNOWN))]
    if partition:
        # in call order: the search's look-ahead examines the earliest reads first
        parts = [(k, sorted(p, key=_call)) for k, p in m.partition(kept)]
        pmodel = m.per_key if (m.per_key is not None
                               and m.partition is partition_by_key) else m
    else:
        parts = [("", sorted(kept, key=_call))]
        pmodel = m
    t0 = time.monotonic()
    caps = [default_memory_cap(len(p)) if memory_cap is None else memory_cap
            for _, p in parts]
    summaries, used = run_partitions(parts, pmodel, timeout_s=timeout_s, memory_cap=caps,
                                     all_partitions=all_partitions, workers=workers)
    wall = time.monotonic() - t0
    cap = memory_cap if memory_cap is not None else min(caps, default=DEFAULT_MEMORY_CAP)
    return _result(m, summaries, len(ops), len(ops) - len(kept), used, wall, timeout_s, cap,
                   partition)


def check_history(history: History, model: str, *, timeout_s: float | None = None,
                  all_partitions: bool = False, memory_cap: int | None = None,
                  workers: int | None = None) -> CheckResult:
    """Check a recorded history; see the package docstring for the op encodings."""
    ops, skipped = from_history(history, model)
    res = check_operations(ops, model, timeout_s=timeout_s, all_partitions=all_partitions,
                           memory_cap=memory_cap, workers=workers)
    res.stats["skipped_client_ops"] = skipped
    return res


def check_file(path: str | Path, model: str | None = None, *, fmt: str | None = None,
               timeout_s: float | None = None, all_partitions: bool = False,
               memory_cap: int | None = None, workers: int | None = None) -> CheckResult:
    """Load and check a history file (what ``logtrial check --checker linearizable``
    needs). ``fmt``: ``etcd``, ``porcupine-kv``, ``jsonl`` or ``edn``; by default
    ``.log`` means etcd, ``.txt`` porcupine-kv, else the history's own formats.
    ``model`` defaults to the one a Porcupine format implies."""
    if fmt is None:
        suffix = Path(path).suffix.lower()
        fmt = {".log": "etcd", ".txt": "porcupine-kv"}.get(suffix)
        if fmt is None:
            from harness.history import detect_format

            fmt = detect_format(path)
    name = model if model is not None else default_model_for(fmt)
    if name is None:
        raise UsageError(f"a {fmt} history needs --model (register, kv or log)")
    if fmt in ("jsonl", "edn"):
        from harness.history import load

        return check_history(load(path, fmt), name, timeout_s=timeout_s,
                             all_partitions=all_partitions, memory_cap=memory_cap,
                             workers=workers)
    ops = load_operations(path, fmt, name)
    return check_operations(ops, name, timeout_s=timeout_s, all_partitions=all_partitions,
                            memory_cap=memory_cap, workers=workers)


def default_memory_cap(n_ops: int) -> int:
    """Memo entries for a partition of ``n_ops`` operations: each entry costs about
    120 bytes plus a bitset of n/8 bytes (and its share of the model states)."""
    return max(1000, min(DEFAULT_MEMORY_CAP, MEMORY_BUDGET_BYTES // (240 + n_ops // 4)))


def _call(op: Operation) -> int:
    return op.call


def _result(model: Model, summaries: list[dict[str, Any]], n_ops: int, dropped: int,
            workers: int, wall: float, timeout_s: float | None, cap: int,
            partitioned: bool) -> CheckResult:
    counts = {"ok": 0, "illegal": 0, "unknown": 0, "skipped": 0}
    for s in summaries:
        counts[s["verdict"]] += 1
    witnesses = []
    for s in summaries:
        if s["verdict"] != "illegal":
            continue
        expl = s["explanation"]
        witnesses.append({
            "key": s["key"],
            "ops": s["witness_ops"],
            "message": expl["message"],
            "explanation": expl,
        })
    valid: Validity
    if counts["illegal"]:
        valid = False
    elif counts["unknown"]:
        valid = "unknown"
    else:
        valid = True
    res = CheckResult(checker=CHECKER, valid=valid)
    if witnesses:
        res.anomalies[ANOMALY] = witnesses
        res.classification[ANOMALY] = "bad"
        res.counts[ANOMALY] = len(witnesses)
    unknown = {s["key"]: s["reason"] for s in summaries if s["verdict"] == "unknown"}
    if unknown:
        why = ", ".join(f"{k!r}: {_reason(r, timeout_s, cap)}" for k, r in
                        list(unknown.items())[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        msg = f"{len(unknown)} partition(s) undecided ({why}{more})"
        if valid == "unknown":
            res.error = msg
        res.stats["unknown_partitions"] = unknown
    res.stats.update({
        "model": model.name,
        "ops": n_ops,
        "dropped_unknown_reads": dropped,
        "partitioned": partitioned,
        "partitions": len(summaries),
        "partitions_checked": len(summaries) - counts["skipped"],
        "partitions_ok": counts["ok"],
        "partitions_illegal": counts["illegal"],
        "partitions_unknown": counts["unknown"],
        "partitions_skipped": counts["skipped"],
        "partition_verdicts": {s["key"]: s["verdict"] for s in summaries},
        "partition_time_s": {s["key"]: round(s["time_s"], 6) for s in summaries},
        "explain_time_s": {s["key"]: round(s["explain_time_s"], 6) for s in summaries
                           if s["verdict"] == "illegal"},
        "partition_ops": {s["key"]: s["ops"] for s in summaries},
        "memo_entries": sum(s["memo_entries"] for s in summaries),
        "worker_processes": workers,
        "time_s": round(wall, 6),
        "timeout_s": timeout_s,
        "memory_cap": cap,
    })
    return res


def _reason(reason: str | None, timeout_s: float | None, cap: int) -> str:
    if reason == "timeout":
        return f"timed out after {timeout_s} s"
    if reason == "memory":
        return f"memo cap of {cap} entries reached"
    return reason or "?"
