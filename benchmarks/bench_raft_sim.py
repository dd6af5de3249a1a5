"""Speed of the Raft core under the deterministic simulator.

Three measurements, each printed with its ratio:

1. steady: 3 (and 5) nodes, no faults, clients propose ``--per-tick`` entries every
   10 ms tick for ``--sim-s`` simulated seconds. Prints simulated ticks per wall
   second, entries committed (applied by every node) per wall second, and how much
   faster than real time the simulation runs.
2. pipelining: the same load with one entry per round trip
   (``max_inflight=1, max_batch_entries=1``), pipelining only, batching only, and
   the defaults, as entries committed per *simulated* second: what batching and
   pipelining buy under 1-20 ms network delay and 0-10 ms fsyncs.
3. faults: seeded random fault schedules (as ``python -m harness.sim`` runs them):
   seeds and ticks per wall second.

Usage: ``python benchmarks/bench_raft_sim.py [--sim-s 20] [--per-tick 10] [--seeds 100]``.
"""

from __future__ import annotations

import argparse
import time

from harness.sim import Propose, SimOptions, Simulation, run_simulation


def steady(nodes: int, sim_s: float, per_tick: int, max_inflight: int = 8,
           max_batch_entries: int = 64, fifo_links: bool = False) -> dict[str, float]:
    sim = Simulation(SimOptions(seed=1, nodes=nodes, max_inflight=max_inflight,
                                max_batch_entries=max_batch_entries, fifo_links=fifo_links))
    for _ in range(50):  # elect a leader first
        sim.tick()
    ticks = int(sim_s * 1000 / sim.options.tick_ms)
    committed0 = min(s.applied for s in sim.slots.values())
    sent0 = sim.net.stats.delivered
    t0 = time.perf_counter()
    for _ in range(ticks):
        sim.execute(Propose(count=per_tick))
        sim.tick()
    wall = time.perf_counter() - t0
    committed = min(s.applied for s in sim.slots.values()) - committed0
    return {"wall_s": wall, "ticks_per_s": ticks / wall, "committed": committed,
            "committed_per_s": committed / wall, "committed_per_sim_s": committed / sim_s,
            "speedup": sim_s / wall, "messages_per_s": (sim.net.stats.delivered - sent0) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-s", type=float, default=20.0, help="simulated seconds per run")
    ap.add_argument("--per-tick", type=int, default=10, help="proposals per 10 ms tick")
    ap.add_argument("--seeds", type=int, default=100, help="seeds for the fault runs")
    args = ap.parse_args()

    print(f"steady state, {args.per_tick} proposals per 10 ms tick, {args.sim_s:g} simulated s")
    for nodes in (3, 5):
        r = steady(nodes, args.sim_s, args.per_tick)
        print(f"  {nodes} nodes: {r['ticks_per_s']:9,.0f} ticks/s  "
              f"{r['committed_per_s']:9,.0f} committed entries/s  "
              f"{r['messages_per_s']:9,.0f} messages/s  {r['speedup']:5.1f}x real time")

    offered = args.per_tick * 100
    print(f"pipelining and batching (3 nodes, {offered:,} proposals offered per simulated s),"
          " entries committed per simulated second")
    print(f"  {'':40s} {'reordering links':>18s} {'in-order links':>16s}")
    base: dict[bool, float] = {}
    for label, inflight, batch in (("one entry per round trip", 1, 1),
                                   ("pipelined (8 in flight), 1 entry each", 8, 1),
                                   ("batched (64), 1 in flight", 1, 64),
                                   ("batched + pipelined (defaults)", 8, 64)):
        cells = []
        for fifo in (False, True):
            rate = steady(3, args.sim_s / 2, args.per_tick, max_inflight=inflight,
                          max_batch_entries=batch, fifo_links=fifo)["committed_per_sim_s"]
            base.setdefault(fifo, rate)
            cells.append(f"{rate:7,.0f}/s ({rate / max(base[fifo], 1):4.1f}x)")
        print(f"  {label:40s} {cells[0]:>18s} {cells[1]:>16s}")

    print(f"random fault schedules (3 nodes, 40 commands), {args.seeds} seeds")
    t0 = time.perf_counter()
    ticks = 0
    for seed in range(args.seeds):
        ticks += run_simulation(SimOptions(seed=seed)).ticks
    wall = time.perf_counter() - t0
    print(f"  {args.seeds / wall:7,.1f} seeds/s  {ticks / wall:9,.0f} ticks/s  "
          f"({ticks / args.seeds:,.0f} ticks per seed)")


if __name__ == "__main__":
    main()
