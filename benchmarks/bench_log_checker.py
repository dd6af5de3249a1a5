"""Speed of the log checker on a large history: load, then check, timed apart.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_log_checker.py [--ops 1000000]
        [--keys 10] [--processes 20] [--seed 1] [--profile]

Generates a history of about --ops ops (default 1,000,000) in the shape of Jepsen's
kafka workload: half the processes produce (single sends, some two-send ops, ~1% info
and ~1% fail), half consume with `assign` (three keys each, batches of 0-8 records per
key, polls of their own keys only, occasional reassignments and crashes), all
interleaved at random so that up to --processes ops are open at once; a share of
transactions (--txn, default 0.02; each leaves a commit marker in the log); and a few
planted anomalies (a lost write, a duplicate, an aborted read,
a nonmonotonic poll). It is written as JSONL to a temporary directory (removed after),
read with `harness.history.load`, and checked with `harness.checkers.log.check`.

Prints ops/s (wall clock, with CPU time beside it) for each phase and ratios against
the targets: check >= 300,000 ops/s
(Jepsen's JVM checkers do 250k-900k ops/s) and load + check <= 10 s for 1M ops.
A ratio >= 1.0 meets its target. --profile prints the check phase's top functions;
--pause-gc-on-load shows what `load` gains by pausing the cyclic GC (as `check` does).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.checkers.log import check  # noqa: E402
from harness.history import load  # noqa: E402

CHECK_TARGET_OPS_S = 300_000
TOTAL_TARGET_S_PER_M = 10.0
PLANTED = ("lost-write", "duplicate", "G1a", "nonmonotonic-poll")


def generate(path: Path, n_ops: int, n_keys: int, n_procs: int, seed: int,
             txn_share: float = 0.02) -> int:
    """Write a history of about ``n_ops`` ops; returns how many were written."""
    rnd = random.Random(seed)
    keys = [str(k) for k in range(n_keys)]
    log: dict[str, list[tuple[int, int]]] = {k: [] for k in keys}
    next_off = dict.fromkeys(keys, 0)
    producers = list(range(n_procs // 2))
    consumers = list(range(n_procs // 2, n_procs))
    pos: dict[int, dict[str, int]] = {
        c: {k: 0 for k in rnd.sample(keys, min(3, n_keys))} for c in consumers}
    pending: dict[int, tuple[str, Any]] = {}
    value = 0
    t = 0
    n = 0
    plant_at = {name: int(n_ops * (i + 1) / (len(PLANTED) + 1))
                for i, name in enumerate(PLANTED)}
    planted: set[str] = set()
    opt = orjson.OPT_APPEND_NEWLINE
    dumps = orjson.dumps
    buf: list[bytes] = []

    def emit(p: int, typ: str, f: str, v: object) -> None:
        nonlocal n, t
        t += rnd.randint(100_000, 2_000_000)
        buf.append(dumps({"index": n, "time": t, "process": p, "type": typ, "f": f,
                          "value": v}, option=opt))
        n += 1

    def append(k: str, v: int) -> int:
        o = next_off[k]
        next_off[k] = o + 1
        log[k].append((o, v))
        return o

    with open(path, "wb") as fh:
        procs = producers + consumers
        while n < n_ops:
            for name, at in plant_at.items():
                if n >= at and name not in planted:
                    planted.add(name)
                    k = rnd.choice(keys)
                    value += 1
                    p = 10_000 + len(planted)
                    emit(p, "invoke", "send", [["send", k, value]])
                    if name == "lost-write":  # acknowledged, never stored
                        o = next_off[k]
                        next_off[k] += 1
                        emit(p, "ok", "send", [["send", k, [o, value]]])
                    elif name == "duplicate":  # stored twice
                        o = append(k, value)
                        append(k, value)
                        emit(p, "ok", "send", [["send", k, [o, value]]])
                    elif name == "G1a":  # failed, yet stored
                        append(k, value)
                        emit(p, "fail", "send", [["send", k, value]])
                    else:  # a consumer's position moves back by one record
                        moved = False
                        for c in consumers:
                            for ck, i in pos[c].items():
                                if i > 0 and c not in pending and not moved:
                                    pos[c][ck] = i - 1
                                    moved = True
                        if not moved:
                            planted.discard(name)  # try again later
                        o = append(k, value)
                        emit(p, "ok", "send", [["send", k, [o, value]]])
            p = rnd.choice(procs)
            op = pending.pop(p, None)
            mops: Any
            if op is None:
                if p in producers:
                    value += 1
                    x = rnd.random()
                    if x < txn_share:
                        mops = [["send", rnd.choice(keys), value], ["poll"]]
                        f = "txn"
                    elif x < txn_share + 0.05:
                        mops = [["send", rnd.choice(keys), value]]
                        value += 1
                        mops.append(["send", rnd.choice(keys), value])
                        f = "send"
                    else:
                        mops = [["send", rnd.choice(keys), value]]
                        f = "send"
                else:
                    x = rnd.random()
                    if x < 0.002:
                        f, mops = "crash", None
                    elif x < 0.004:
                        f, mops = "assign", sorted(rnd.sample(keys, min(3, n_keys)))
                    else:
                        f, mops = "poll", [["poll"]]
                pending[p] = (f, mops)
                emit(p, "invoke", f, mops)
                continue
            f, mops = op
            if f == "crash":
                pos[p] = {}
                emit(p, "info", "crash", None)
            elif f == "assign":
                old = pos[p]
                pos[p] = {k: old.get(k, 0) for k in mops}
                emit(p, "ok", "assign", mops)
            elif f == "poll":
                got = {}
                cp = pos[p]
                for k in cp:
                    i = cp[k]
                    recs = log[k][i:i + rnd.randint(0, 8)]
                    if recs:
                        got[k] = [[o, v] for o, v in recs]
                        cp[k] = i + len(recs)
                emit(p, "ok", "poll", [["poll", got]])
            else:
                x = rnd.random()
                sends = [m for m in mops if m[0] == "send"]
                if x < 0.01:
                    emit(p, "fail", f, mops)
                elif x < 0.02:
                    if rnd.random() < 0.5:
                        for _, k, v in sends:
                            append(k, v)
                    emit(p, "info", f, mops)
                else:
                    out = []
                    for m in mops:
                        if m[0] == "send":
                            out.append(["send", m[1], [append(m[1], m[2]), m[2]]])
                        else:
                            out.append(["poll", {}])
                    if f == "txn":
                        for k in {m[1] for m in sends}:
                            next_off[k] += 1  # commit marker
                    emit(p, "ok", f, out)
            if len(buf) >= 50_000:
                fh.writelines(buf)
                buf.clear()
        for p, (f, mops) in list(pending.items()):
            emit(p, "info", f, mops)
        # final polls: a fresh client reads every key from the start
        emit(20_000, "invoke", "assign", keys)
        emit(20_000, "ok", "assign", keys)
        for k in keys:
            emit(20_000, "invoke", "poll", [["poll"]])
            emit(20_000, "ok", "poll", [["poll", {k: [[o, v] for o, v in log[k]]}]])
        fh.writelines(buf)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--processes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--txn", type=float, default=0.02,
                    help="share of producer ops that are transactions (each leaves a "
                         "commit marker, an offset no poll returns)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--pause-gc-on-load", action="store_true",
                    help="pause Python's cyclic GC around load (what load could do "
                         "itself; check always does)")
    a = ap.parse_args(argv)
    if a.ops < 100 or a.keys < 1 or a.processes < 2:
        ap.error("need --ops >= 100, --keys >= 1, --processes >= 2")
    tmp = Path(tempfile.mkdtemp(prefix="logtrial-bench-"))
    try:
        path = tmp / "history.jsonl"
        t0 = time.perf_counter()
        n = generate(path, a.ops, a.keys, a.processes, a.seed, a.txn)
        t_gen = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(f"generated {n:,} ops ({size_mb:.0f} MB JSONL, {a.keys} keys, "
              f"{a.processes} processes) in {t_gen:.1f} s")
        t0, c0 = time.perf_counter(), time.process_time()
        if a.pause_gc_on_load:
            gc.disable()
        try:
            h = load(path)
        finally:
            gc.enable()
        t_load, c_load = time.perf_counter() - t0, time.process_time() - c0
        if a.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        r = check(h)
        t_check, c_check = time.perf_counter() - t0, time.process_time() - c0
        if a.profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = {t: r.counts[t] for t in r.counts}
    missing = [t for t in PLANTED if t not in found]
    reads = sum(len(pairs) for op in h.ops if op.type != "invoke" and op.f == "poll"
                for mop in op.value or () if len(mop) > 1 for pairs in mop[1].values())
    print(f"load : {t_load:6.2f} s  {n / t_load:>10,.0f} ops/s   (CPU {c_load:.2f} s"
          + ("; GC paused)" if a.pause_gc_on_load else ")"))
    print(f"check: {t_check:6.2f} s  {n / t_check:>10,.0f} ops/s   (CPU {c_check:.2f} s; "
          f"{reads:,} read pairs, valid={r.valid})")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(f"note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
              "wall times include waiting for a CPU")
    print(f"found: {found}")
    if missing:
        print(f"MISSED planted anomalies: {missing}")
    check_ratio = (n / t_check) / CHECK_TARGET_OPS_S
    total_budget = TOTAL_TARGET_S_PER_M * n / 1_000_000
    total_ratio = total_budget / (t_load + t_check)
    print(f"ratio check ops/s / {CHECK_TARGET_OPS_S:,}: {check_ratio:.2f} "
          f"({'meets' if check_ratio >= 1 else 'MISSES'} target)")
    print(f"ratio {total_budget:.1f} s budget / (load + check = {t_load + t_check:.2f} s): "
          f"{total_ratio:.2f} ({'meets' if total_ratio >= 1 else 'MISSES'} target)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
