"""Chaos-run throughput on this machine, and where its CPU goes.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_run_throughput.py [--time-limit 30]
        [--client kafka-python|confluent] [--concurrency 10] [--nodes 3] [--ops 600]
        [--backend netns|proxy]

Target (issue "Harness: workloads, runs ..."): a 3-node chaos run with 10 kafka-python
clients sustains >= 2,000 ops/s. Two phases, same cluster kind (reference target,
``--nodes`` nodes, replication factor = nodes, ``--backend``: netns as root, else proxy,
whose fault proxies run in the harness process and cost it CPU per op):

1. floor: one hosted client, the same child process a run uses, does ``--ops`` serial
   send/poll pairs (each poll reads the record just sent). Its CPU per op, read from
   /proc, is what the client library costs per op at best, with no other client
   competing. It is the baseline: ``cores / floor`` is the throughput this machine could
   reach if brokers and harness cost nothing.
2. run: `logtrial run` (`harness.runner.execute`) unthrottled (``--rate 0``) with
   ``--concurrency`` clients and no faults; while it runs, a sampler reads the CPU of
   every process of the run (harness, clients, brokers) from /proc.

Prints the run's ops/s against the target and against the client-bound ceiling, the CPU
per op of each part, and how many cores 2,000 ops/s would take at those costs. Why: a
chaos run here is CPU-bound (every process is Python; kafka-python spends most of a
millisecond per op), so ops/s alone says little without the cost it is made of.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time

from harness.cluster import build_cluster, default_backend_name
from harness.runner import RunOptions, execute
from harness.workload._admin import create_topics
from harness.workload._clients import ClientOptions
from harness.workload._hosted import HostPool
from harness.workload._netns import call_in_netns

TARGET_OPS_S = 2000
_TICK_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK_S


def _descendants(root: int) -> dict[int, str]:
    """pid -> part ("broker", "client" or "harness") of ``root`` and its descendants."""
    parent: dict[int, int] = {}
    cmd: dict[int, str] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd[int(d)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    out: dict[int, str] = {}
    for pid in parent:
        p = pid
        while p not in (0, 1, root) and p in parent:
            p = parent[p]
        if p != root and pid != root:
            continue
        c = cmd.get(pid, "")
        out[pid] = ("broker" if "reference_broker" in c or "reference-broker" in c
                    else "client" if "spawn_main" in c else "harness")
    return out


def _split(pids: dict[int, str]) -> dict[str, float]:
    parts: dict[str, float] = {"broker": 0.0, "client": 0.0, "harness": 0.0}
    for pid, part in pids.items():
        parts[part] += _cpu_s(pid)
    return parts


def floor(client: str, nodes: int, backend: str, n: int) -> tuple[float, float]:
    """(client CPU ms per op, broker CPU ms per op) of ``n`` serial send/poll pairs."""
    cluster = build_cluster("reference", nodes=nodes, backend=backend)
    with cluster:
        bootstrap = cluster.bootstrap_servers()
        ns = cluster.client_netns()
        call_in_netns(ns, lambda: create_topics(bootstrap, "bench-", ["0"], nodes))
        opts = ClientOptions(bootstrap=bootstrap, topic_prefix="bench-",
                             fetch_max_wait_ms=500)
        with HostPool(client, opts, ns, 1) as pool:
            pool.start()
            c = pool(0)
            c.assign(["0"])
            for i in range(20):  # warm up: connections, metadata, the producer id
                c.send("0", i)
                c.poll()
            proc = pool.hosts[0]._proc
            assert proc is not None and proc.pid is not None
            brokers = [p for p, part in _descendants(os.getpid()).items()
                       if part == "broker"]
            c0, b0 = _cpu_s(proc.pid), sum(_cpu_s(p) for p in brokers)
            for i in range(n):
                c.send("0", 1000 + i)
                c.poll()
            c1, b1 = _cpu_s(proc.pid), sum(_cpu_s(p) for p in brokers)
            c.close()
    return (c1 - c0) * 1e3 / (2 * n), (b1 - b0) * 1e3 / (2 * n)


def run(client: str, nodes: int, backend: str, concurrency: int, time_limit_s: float
        ) -> tuple[float, dict[str, float], float]:
    """(ops/s, CPU seconds per part over the sampled window, window seconds)."""
    window: dict[str, float] = {}
    span = [0.0]
    done = threading.Event()

    def sample() -> None:
        me = os.getpid()
        while not done.is_set():  # wait for the clients: the workload has started
            if sum(1 for p in _descendants(me).values() if p == "client") >= concurrency:
                break
            time.sleep(0.2)
        if done.wait(0.25 * time_limit_s):
            return
        pids = _descendants(me)
        t0, before = time.monotonic(), {p: _cpu_s(p) for p in pids}
        if done.wait(0.5 * time_limit_s):
            return
        for pid, part in pids.items():
            window[part] = window.get(part, 0.0) + _cpu_s(pid) - before[pid]
        span[0] = time.monotonic() - t0

    sampler = threading.Thread(target=sample, daemon=True)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as d:
        sampler.start()
        try:
            outcome = execute(RunOptions(
                target="reference", nodes=nodes, backend=backend, replication_factor=nodes,
                concurrency=concurrency, rate=0, time_limit_s=time_limit_s,
                client=client, seed=1, report_dir=d))
        finally:
            done.set()
            sampler.join()
    return outcome.ops_per_s, window, span[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--client", default="kafka-python", choices=("kafka-python", "confluent"))
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--ops", type=int, default=600, help="send/poll pairs of the floor phase")
    ap.add_argument("--backend", default=default_backend_name(), choices=("netns", "proxy"))
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f}")
    client_ms, broker_ms = floor(a.client, a.nodes, a.backend, a.ops)
    print(f"floor, one {a.client} client, serial send/poll: client {client_ms:.2f} ms "
          f"CPU per op, brokers {broker_ms:.2f} ms CPU per op (sum over {a.nodes} nodes)")
    ceiling = cores / (client_ms / 1e3)
    print(f"baseline: client-bound ceiling {ceiling:,.0f} ops/s ({cores} cores / client "
          f"CPU per op, brokers and harness free)")
    ops_s, window, span = run(a.client, a.nodes, a.backend, a.concurrency, a.time_limit)
    print(f"run: {ops_s:,.0f} ops/s, {a.nodes} nodes RF={a.nodes}, {a.concurrency} {a.client} "
          f"clients, no faults, {a.backend} backend, {a.time_limit:.0f} s")
    if span > 0 and ops_s > 0:
        busy = sum(window.values()) / span
        per_op = {k: v / span / ops_s * 1e3 for k, v in window.items()}
        total = sum(per_op.values())
        print(f"  cores busy {busy:.2f} of {cores}: " + ", ".join(
            f"{k} {v / span:.2f}" for k, v in sorted(window.items())))
        print("  CPU per op: " + ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(per_op.items()))
              + f"; total {total:.2f} ms")
        print(f"  at these costs {TARGET_OPS_S:,} ops/s needs {TARGET_OPS_S * total / 1e3:.1f} "
              f"cores (the clients alone {TARGET_OPS_S * per_op.get('client', 0) / 1e3:.1f})")
    print(f"ratio run/client-bound ceiling: {ops_s / ceiling:.2f}")
    print(f"ratio run/target ({TARGET_OPS_S:,} ops/s): {ops_s / TARGET_OPS_S:.2f} -> "
          f"{'MET' if ops_s >= TARGET_OPS_S else 'MISSED'}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
