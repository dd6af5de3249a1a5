"""Benchmark of the linearizability checker on Porcupine's recorded histories.

Prints per-file and total times and the ratio to Go Porcupine measured on the same
machine (the ``GO_*`` constants) and to the targets (2x Go). Parsing is not timed
(Porcupine's Go benchmarks reset their timer after parsing too). Each case is run
``--repeat`` times and the best time is kept, as the machine is shared.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_linearizable.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from harness.checkers.linearizable import (
    check_operations,
    read_porcupine_etcd,
    read_porcupine_kv,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "porcupine"
#: Go Porcupine on this machine (milliseconds).
GO_ETCD_TOTAL_MS = 445.0
GO_ETCD_WORST_MS = 168.0
GO_C50_OK_MS = 182.0
GO_C10_OK_UNPARTITIONED_MS = 2400.0
GO_C10_BAD_UNPARTITIONED_MS = 2900.0
#: Targets: within 2x of Go.
TARGET_ETCD_TOTAL_MS = 900.0
TARGET_C50_OK_MS = 400.0
TARGET_C10_UNPARTITIONED_MS = 5000.0


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0, out


def line(name: str, ms: float, go_ms: float | None, target_ms: float | None,
         extra: str = "") -> None:
    parts = [f"{name:<34} {ms:9.1f} ms"]
    if go_ms is not None:
        parts.append(f"vs Go {go_ms:7.1f} ms: x{ms / go_ms:5.2f}")
    if target_ms is not None:
        ok = "MET" if ms <= target_ms else "MISSED"
        parts.append(f"target {target_ms:6.0f} ms: {ms / target_ms:4.2f} of it ({ok})")
    print("  ".join(parts) + (f"  {extra}" if extra else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--c50-bad-timeout", type=float, default=10.0,
                    help="per-key timeout for c50-bad, all partitions (s)")
    ap.add_argument("--skip-slow", action="store_true",
                    help="skip the unpartitioned c10 runs and c50-bad")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}  cores: {os.cpu_count()}")

    # -- etcd: 102 logs, one register each --------------------------------------------
    files = sorted((args.data / "jepsen").glob("etcd_*.log"))
    etcd = [(f.stem, read_porcupine_etcd(f)) for f in files]
    etcd = [(name, ops) for name, ops in etcd if ops]
    times = []
    verdicts: dict[Any, int] = {}
    search_ms = 0.0
    for name, ops in etcd:
        ms, res = best_of(args.repeat, partial(check_operations, ops, "register"))
        times.append((name, ms))
        verdicts[res.valid] = verdicts.get(res.valid, 0) + 1
        search_ms += 1000.0 * sum(res.stats["partition_time_s"].values())
    print(f"\netcd: {len(etcd)} logs, verdicts {verdicts}")
    for i in range(0, len(times), 6):
        print("  " + "  ".join(f"{n[5:]}:{ms:6.2f}" for n, ms in times[i:i + 6]))
    total = sum(ms for _, ms in times)
    worst = max(times, key=lambda t: t[1])
    line("etcd total (102 files)", total, GO_ETCD_TOTAL_MS, TARGET_ETCD_TOTAL_MS,
         "(with explanations)")
    line("etcd verdicts only (search time)", search_ms, GO_ETCD_TOTAL_MS, TARGET_ETCD_TOTAL_MS)
    line(f"etcd worst file ({worst[0]})", worst[1], GO_ETCD_WORST_MS, None)

    # -- kv ------------------------------------------------------------------------------
    print()
    kv = {n: read_porcupine_kv(args.data / "kv" / f"{n}.txt")
          for n in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok")}
    for n, ops in kv.items():
        ms, res = best_of(args.repeat, partial(check_operations, ops, "kv"))
        if n == "c50-ok":
            line(f"kv {n} (default workers)", ms, GO_C50_OK_MS, TARGET_C50_OK_MS,
                 f"valid={res.valid} workers={res.stats['worker_processes']}")
            ms1, res1 = best_of(args.repeat,
                                partial(check_operations, ops, "kv", workers=1))
            line(f"kv {n} (one process)", ms1, GO_C50_OK_MS, TARGET_C50_OK_MS,
                 f"valid={res1.valid}")
        else:
            line(f"kv {n}", ms, None, None, f"valid={res.valid}")
    if args.skip_slow:
        return

    for n, go in (("c10-ok", GO_C10_OK_UNPARTITIONED_MS),
                  ("c10-bad", GO_C10_BAD_UNPARTITIONED_MS)):
        ops = kv[n]
        ms, res = best_of(1, partial(check_operations, ops, "kv", partition=False,
                                          timeout_s=120))
        line(f"kv {n} unpartitioned", ms, go, TARGET_C10_UNPARTITIONED_MS,
             f"valid={res.valid} memo={res.stats['memo_entries']}")

    # -- c50-bad: every key, each within its timeout ------------------------------------
    ops = read_porcupine_kv(args.data / "kv" / "c50-bad.txt")
    ms, res = best_of(1, partial(check_operations, ops, "kv", all_partitions=True,
                                          timeout_s=args.c50_bad_timeout))
    expl_ms = 1000.0 * sum(res.stats["explain_time_s"].values())
    print(f"\nkv c50-bad, all partitions, {args.c50_bad_timeout} s per key: valid={res.valid}, "
          f"{ms:.0f} ms wall, workers={res.stats['worker_processes']}, explanations "
          f"{expl_ms:.0f} ms of CPU (at most 2x the verdict's time or 0.5 s per key)")
    illegal = {w["key"] for w in res.anomalies.get("nonlinearizable", [])}
    unknown = res.stats.get("unknown_partitions", {})
    for key, t in res.stats["partition_time_s"].items():
        v = "illegal" if key in illegal else (f"unknown ({unknown[key]})" if key in unknown
                                              else "ok")
        print(f"  key {key}: {v:<20} {t * 1000:8.1f} ms")
    ms, res = best_of(args.repeat, partial(check_operations, ops, "kv"))
    print(f"kv c50-bad, stop at first illegal: valid={res.valid}, {ms:.1f} ms")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
