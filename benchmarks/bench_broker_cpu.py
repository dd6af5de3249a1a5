"""Broker CPU per replicated acks=all produce, and idle CPU, of the reference broker.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_broker_cpu.py [--sends 2000]
        [--topics 4] [--idle-s 10] [--election-timeout-ms 1000]

Why: a 3-node chaos run on a 2-core machine is CPU-bound, and the brokers' share of
it is what replication costs per op. Wall time here says little (other processes
share the cores); CPU time per op, read from /proc, does not depend on them much.

Two brokers, started here and stopped at the end (temp data dirs removed):

1. single: one node. ``--topics`` one-partition topics; one kafka-python producer
   (acks=all, idempotent, as `logtrial run` uses it) sends ``--sends`` small records
   one at a time (each waits for its answer), round robin over the topics. The
   broker's CPU per send is the baseline: what a produce costs with no replication.
2. cluster: three nodes (Raft election timeout ``--election-timeout-ms``, as
   ``reference-broker`` defaults), the same topics with a replication factor of 3, so
   each send waits for a Raft commit (an fsync on every replica).

For each: idle CPU of every node over ``--idle-s`` seconds once the topics exist
(ticks of the Raft groups: controller, ``__consumer_offsets`` and the topics), then
CPU per send, user and system, per node and summed, also net of idle (minus what the
idle rate costs over the wall time of a send, which other load on the machine
stretches). Prints the cluster/single ratio
of CPU per send (how many single-node produces one replicated produce costs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_broker import reference_broker

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Cpu:
    """User and system CPU seconds of one process."""

    user_s: float
    sys_s: float


def _cpu(pid: int) -> Cpu:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return Cpu(int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK)


def _cpus(pids: list[int]) -> list[Cpu]:
    return [_cpu(p) for p in pids]


def _delta(before: list[Cpu], after: list[Cpu]) -> list[Cpu]:
    return [Cpu(b.user_s - a.user_s, b.sys_s - a.sys_s) for a, b in zip(before, after,
                                                                         strict=True)]


def _create_topics(bootstrap: str, topics: list[str], rf: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(t, 1, rf) for t in topics], timeout_ms=30000)
    finally:
        admin.close()


def _producer(bootstrap: str, topics: list[str]) -> KafkaProducer:
    """An idempotent acks=all producer that has sent once to every topic (leaders
    elected, metadata known, connections open)."""
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                      enable_idempotence=True, linger_ms=0, retries=5,
                      request_timeout_ms=10000)
    deadline = time.monotonic() + 60
    for t in topics:
        while True:
            try:
                p.send(t, b"warm-up", partition=0).get(timeout=10)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return p


def measure(name: str, bootstrap: str, pids: list[int], topics: list[str], rf: int,
            sends: int, idle_s: float) -> float:
    """Print idle CPU and CPU per send of ``pids``; returns the summed CPU per send (s)."""
    _create_topics(bootstrap, topics, rf)
    producer = _producer(bootstrap, topics)
    try:
        time.sleep(1.0)  # let the warm-up's commits and announcements settle
        c0, w0 = _cpus(pids), time.monotonic()
        time.sleep(idle_s)
        idle = _delta(c0, _cpus(pids))
        idle_wall = time.monotonic() - w0
        shares = [(c.user_s + c.sys_s) / idle_wall * 100 for c in idle]
        print(f"{name:8s} idle: {' '.join(f'{s:4.1f}%' for s in shares)} of a core per node "
              f"(sum {sum(shares):.1f}%) over {idle_wall:.1f} s", flush=True)
        c0, w0 = _cpus(pids), time.monotonic()
        for i in range(sends):
            producer.send(topics[i % len(topics)], str(i).encode(), partition=0).get(
                timeout=10)
        wall = time.monotonic() - w0
        per = _delta(c0, _cpus(pids))
    finally:
        producer.close()
    us = [(c.user_s / sends * 1e6, c.sys_s / sends * 1e6) for c in per]
    total = sum(u + s for u, s in us)
    nodes = " ".join(f"{u:.0f}+{s:.0f}" for u, s in us)
    # What the idle nodes would have burnt meanwhile: the part of the cost that grows
    # with wall time (a loaded machine), not with the sends.
    idle_us = sum(shares) / 100 * wall / sends * 1e6
    print(f"{name:8s} send: {total:6.0f} us CPU per acks=all send (user+sys per node: "
          f"{nodes}); {total - idle_us:.0f} us net of idle; wall {wall / sends * 1e6:.0f} "
          f"us per send", flush=True)
    return total / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sends", type=int, default=2000)
    ap.add_argument("--topics", type=int, default=4)
    ap.add_argument("--idle-s", type=float, default=10.0)
    ap.add_argument("--election-timeout-ms", type=int, default=1000)
    ap.add_argument("--only", default="single,cluster",
                    help="comma-separated: single, cluster (default both)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    if not only or only - {"single", "cluster"}:
        ap.error(f"--only: expected single and/or cluster, got {args.only!r}")
    if args.sends < 1 or args.topics < 1 or args.idle_s < 0:
        ap.error("--sends and --topics must be >= 1, --idle-s >= 0")
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the start",
          flush=True)
    tag = uuid.uuid4().hex[:6]
    topics = [f"cpu-{tag}-{i}" for i in range(args.topics)]
    results = {}
    if "single" in only:
        with reference_broker("always", nodes=1, pids=(pids := [])) as bs:
            results["single"] = measure("single", bs, pids, topics, 1, args.sends,
                                        args.idle_s)
    if "cluster" in only:
        with reference_broker("always", nodes=3, pids=(pids := []),
                              election_timeout_ms=args.election_timeout_ms) as bs:
            results["cluster"] = measure("cluster", bs, pids, topics, 3, args.sends,
                                         args.idle_s)
    if len(results) == 2:
        print(f"ratio cluster/single CPU per send: "
              f"{results['cluster'] / results['single']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
