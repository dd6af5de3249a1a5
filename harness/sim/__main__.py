"""``python -m harness.sim``: run simulations of the Raft core from seeds.

    python -m harness.sim --seed 7                 # one run, random schedule
    python -m harness.sim --seed 0 --seeds 500     # seeds 0..499, stop at a failure
    python -m harness.sim --seed 7 --schedule '[["Run",{"ticks":50}]]'   # replay

The options are printed before each run; a failure prints its reason and the
command that replays it. Exit codes: 0 passed, 1 safety violation, 2 usage error,
4 liveness failure, 5 crash (an exception in the core or the simulator).
"""

from __future__ import annotations

import argparse
import sys
import time

from harness.errors import LogtrialError
from reference_broker.raft import PLANTED_BUGS

from ._schedule import schedule_from_json
from ._sim import EXIT_CODES, SimFailure, SimOptions, run_simulation


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sim",
                                 description="Deterministic simulation of the Raft core.")
    ap.add_argument("--seed", type=int, default=0, help="the seed of the (first) run")
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds to run, from --seed")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--length", type=int, default=40, help="commands in a random schedule")
    ap.add_argument("--schedule", help="a schedule as JSON (what a failure prints)")
    ap.add_argument("--bug", action="append", default=[], choices=sorted(PLANTED_BUGS),
                    help="switch on a planted bug (repeatable)")
    defaults = SimOptions(seed=0)
    for name in ("tick_ms", "delay_ms_min", "delay_ms_max", "fsync_ms_max", "clock_drift_pct",
                 "liveness_ticks", "liveness_loss_pct", "max_inflight", "max_batch_entries"):
        ap.add_argument("--" + name.replace("_", "-"), type=int,
                        default=getattr(defaults, name))
    ap.add_argument("--fifo-links", action="store_true",
                    help="keep each link in order (TCP-like); default: messages may overtake")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    args = ap.parse_args(argv)
    try:
        schedule = schedule_from_json(args.schedule) if args.schedule else None
        base = SimOptions(
            seed=args.seed, nodes=args.nodes, tick_ms=args.tick_ms,
            delay_ms_min=args.delay_ms_min, delay_ms_max=args.delay_ms_max,
            fsync_ms_max=args.fsync_ms_max, clock_drift_pct=args.clock_drift_pct,
            liveness_ticks=args.liveness_ticks, liveness_loss_pct=args.liveness_loss_pct,
            max_inflight=args.max_inflight, max_batch_entries=args.max_batch_entries,
            fifo_links=args.fifo_links,
            bugs=frozenset(args.bug))
    except (LogtrialError, ValueError) as e:
        print(f"harness.sim: error: {e}", file=sys.stderr)
        return 2
    for seed in range(args.seed, args.seed + max(args.seeds, 1)):
        opts = SimOptions(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                             "seed": seed})
        if not args.quiet:
            print(f"sim: {opts.describe()} length={args.length}"
                  f"{' schedule=given' if schedule else ''}", flush=True)
        t0 = time.perf_counter()
        try:
            r = run_simulation(opts, schedule, length=args.length)
        except SimFailure as e:
            print(f"FAILED ({e.kind}) at tick {e.tick}: {e.reason}")
            print(f"replay: {e.replay}")
            return EXIT_CODES[e.kind]
        if not args.quiet:
            print(f"  ok: {r.ticks} ticks ({r.liveness_ticks} to converge), {r.committed} "
                  f"committed, {r.leaders} leaders, {r.truncations} truncations, "
                  f"{r.snapshots} snapshots ({r.installs} installed), {r.crashes} "
                  f"crashes, {r.lost_writes} "
                  f"lost writes, {r.network.delivered} messages, "
                  f"{time.perf_counter() - t0:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
