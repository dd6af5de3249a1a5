"""The nemesis applied to real clusters: schedules, history ops, clock, slow, reset."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.errors import UsageError
from harness.history import Op
from harness.nemesis import (
    Bandwidth,
    Clock,
    Kill,
    ListRecorder,
    Loss,
    Nemesis,
    Partition,
    Pause,
    Reset,
    Slow,
    Step,
    explicit,
    interval,
    mix,
    with_final_heal,
)
from tests.cluster.conftest import reaches, received, send

MakeCluster = Callable[..., Cluster]


def test_run_interprets_a_schedule_and_records_info_ops(make_cluster: MakeCluster,
                                                        backend_name: str) -> None:
    c = make_cluster(backend_name, 3)
    t0 = time.monotonic()
    rec = ListRecorder(now_ns=lambda: time.monotonic_ns() - int(t0 * 1e9))
    nem = Nemesis(c, rec, random.Random(5))
    sched = with_final_heal(mix(
        interval([Partition(topology="majorities-ring"), Partition(topology="bridge")],
                 random.Random(1), interval_s=0.3, duration_s=0.3, until_s=1.5),
        interval([Kill(), Pause()], random.Random(2), interval_s=0.4, duration_s=0.2,
                 jitter_s=0.1, until_s=1.5)), 1.6)
    nem.check([Partition(topology="bridge"), Kill(), Pause()])
    nem.run(sched, now_s=lambda: time.monotonic() - t0)
    fs = rec.fs()
    assert fs[-1] == "heal" and fs.count("heal") == 1
    assert fs.count("start-partition") == fs.count("stop-partition") >= 2
    assert fs.count("kill") == fs.count("start") and fs.count("pause") == fs.count("resume")
    assert nem.errors == [] and nem.active == []
    ops = rec.to_ops(start_index=10)
    assert all(isinstance(o, Op) and o.process == "nemesis" and o.type == "info" for o in ops)
    assert [o.index for o in ops] == list(range(10, 10 + len(ops)))
    assert [o.time for o in ops] == sorted(o.time for o in ops)
    assert all(c.alive(n) for n in c.nodes)
    assert reaches(c, "n1", "n3", wait_s=3.0)


def test_run_stops_early_and_still_heals(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 2)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0))
    stop = threading.Event()
    t0 = time.monotonic()
    k = Kill(nodes=("n1",))
    sched = explicit([Step(at_s=0.0, action="start", fault=k),
                      Step(at_s=60.0, action="stop", fault=k)])
    th = threading.Thread(target=nem.run, args=(sched,),
                          kwargs={"now_s": lambda: time.monotonic() - t0, "stop": stop})
    th.start()
    time.sleep(0.3)
    stop.set()
    th.join(10)
    assert not th.is_alive()
    assert rec.fs() == ["kill", "start", "heal"]
    assert c.alive("n1")


def test_leader_partition_isolates_what_leader_of_says(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 3)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0), leader_of=lambda: "n2")
    nem.start(Partition(topology="leader"))
    assert rec.events[0][2]["grudge"] == {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]}
    assert not reaches(c, "n2", "n1", wait_s=0.5)
    nem2 = Nemesis(c, rec, random.Random(0))
    with pytest.raises(UsageError, match="leader_of"):
        nem2.check([Partition(topology="leader")])


def test_overlapping_partitions_compose(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 3)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    a = Partition(grudge={"n1": ("n2",)})
    b = Partition(grudge={"n3": ("n2",)})
    nem.start(a)
    nem.start(b)
    nem.stop(a)
    assert reaches(c, "n2", "n1", wait_s=2.0)
    assert not reaches(c, "n2", "n3", wait_s=0.5)


def test_clock_skew_moves_the_nodes_wall_clock(make_cluster: MakeCluster,
                                               backend_name: str) -> None:
    c = make_cluster(backend_name, 2, clock=True)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0))
    skew = Clock(offset_s=100.0, random_offset=False, nodes=("n1",))
    nem.start(skew)
    sent = send(c, "n2", "n1", "tcp", "clk")
    time.sleep(0.5)
    arrival = received(c, "n1")["clk-0"]  # the probe stamps arrivals with its own clock
    assert 99 < arrival - sent["clk-0"] < 101
    nem.stop(skew)
    sent = send(c, "n2", "n1", "tcp", "clk2")
    time.sleep(0.5)
    assert abs(received(c, "n1")["clk2-0"] - sent["clk2-0"]) < 1
    assert rec.fs() == ["bump-clock", "reset-clock"]
    assert rec.events[0][2]["offsets_s"] == {"n1": 100.0}


def test_clock_strobe_flips_the_offset(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 1, clock=True)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    strobe = Clock(offset_s=5.0, random_offset=False, nodes=("n1",), strobe_period_ms=20.0)
    nem.start(strobe)
    clock_file = c.run.path / "clock" / "n1"
    seen: set[str] = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(clock_file.read_text().strip())
        time.sleep(0.005)
    nem.stop(strobe)
    assert seen == {"+5.000", "+0.000"}
    assert clock_file.read_text().strip() == "+0.000"


def test_clock_needs_a_clock_cluster(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 1)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    with pytest.raises(UsageError, match="clock=True"):
        nem.check([Clock()])


def test_slow_adds_latency_on_the_proxy(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 2)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    nem.start(Slow(latency_ms=1000.0, jitter_ms=50.0))
    sent = send(c, "n1", "n2", "tcp", "slow", 5)
    time.sleep(2.0)
    got = received(c, "n2")
    delays = [got[t] - ts for t, ts in sent.items()]
    assert all(0.94 < d < 2.0 for d in delays), delays
    nem.heal()
    sent = send(c, "n1", "n2", "tcp", "fast", 5)
    time.sleep(0.6)
    got = received(c, "n2")
    assert all(got[t] - ts < 0.6 for t, ts in sent.items())


def test_slow_is_refused_on_netns(make_cluster: MakeCluster) -> None:
    from tests.cluster.conftest import NEEDS_ROOT, ROOT
    if not ROOT:
        pytest.skip(NEEDS_ROOT)
    c = make_cluster("netns", 2)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    with pytest.raises(UsageError, match="netns backend does not support the 'slow'"):
        nem.check([Slow()])


def test_reset_aborts_open_connections(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 2)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    s = socket.create_connection(c.backend.addr("client", "n1", "kafka"), timeout=2)
    try:
        s.sendall(b"hello\n")
        time.sleep(0.2)
        nem.start(Reset(nodes=("n1",)))
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            for _ in range(50):
                s.sendall(b"more\n")
                if s.recv(1) == b"":
                    raise ConnectionResetError("closed")
    finally:
        s.close()


def test_bandwidth_limits_throughput(make_cluster: MakeCluster, backend_name: str) -> None:
    c = make_cluster(backend_name, 2)
    nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(0))
    nem.start(Bandwidth(kbit_s=800, nodes=("n1",)))  # 100 kB/s out of n1
    payload = b"x" * 149_999 + b"\n"
    t0 = time.monotonic()
    host, port = c.backend.addr("n1", "n2", "kafka")
    if backend_name == "netns":
        # traffic out of n1 must originate in n1's namespace: send from a process there
        code = ("import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])));"
                "s.sendall(b'x'*149999+b'\\n');s.shutdown(1);s.recv(1)")
        subprocess.run(c.backend.wrap("n1", [sys.executable, "-c", code, host, str(port)]),
                       check=True, timeout=30)
    else:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
    elapsed = time.monotonic() - t0
    assert elapsed > 1.0, f"150 kB at 100 kB/s took {elapsed:.2f}s"
    nem.stop(Bandwidth(kbit_s=800, nodes=("n1",)))


def test_loss_on_all_nodes_and_stop(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 2)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0))
    v = nem.start(Loss(probability=0.5))
    assert v == {"kind": "loss", "nodes": ["n1", "n2"], "probability": 0.5}
    assert nem.stop(Loss(probability=0.5)) is not None
    assert nem.stop(Loss(probability=0.5)) is None


def test_metadata_leader_is_the_brokers_own_view(make_cluster: MakeCluster) -> None:
    from kafka import KafkaProducer

    from harness.cluster import ReferenceTarget, TansuTarget
    from harness.nemesis import leader_finder, metadata_leader, partition_leaders
    c = make_cluster("proxy", 1, target=ReferenceTarget())
    assert metadata_leader(c) == "n1"  # the controller
    p = KafkaProducer(bootstrap_servers=c.bootstrap_servers())
    p.send("led", b"x", partition=0).get(timeout=10)
    p.close()
    assert metadata_leader(c, "led", 0) == "n1"
    assert leader_finder(c, topics=["led"])() == "n1"
    assert partition_leaders(c, ["led", "absent"]) == {("led", 0): "n1"}
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0), leader_of=leader_finder(c, "led", 0))
    v = nem.start(Partition(topology="leader"))
    assert "a leader (isolate) partition needs at least 2 nodes, got 1" in v["error"]
    t = make_cluster("proxy", 1, target=TansuTarget())
    assert metadata_leader(t) is None  # tansu calls itself node 111: not one of ours


def test_kill_and_pause_targets_resolve_and_record_their_victims(
        make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 3)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0), leader_of=lambda: "n2")
    assert nem.start(Kill(target="leader")) == {"kind": "kill", "target": "leader",
                                                "nodes": ["n2"]}
    assert not c.alive("n2")
    # the leader is down: a second leader kill has nobody to hit and says so
    assert "already killed or paused" in nem.start(Pause(target="leader"))["error"]
    v = nem.start(Pause(target="all"))  # every node that is still up
    assert v["nodes"] == ["n1", "n3"] and v["target"] == "all"
    nem.heal()
    assert rec.fs() == ["kill", "pause", "pause", "start", "resume", "heal"]
    assert all(c.alive(n) for n in c.nodes)
    v = nem.start(Kill(target="followers"))
    assert v == {"kind": "kill", "target": "followers", "leader": "n2", "nodes": ["n1", "n3"]}
    assert nem.start(Kill(target="all"))["nodes"] == ["n2"]
    nem.heal()  # first down, first up: the followers restart before the old leader
    starts = [v["nodes"] for _, f, v in rec.events if f == "start"]
    assert starts[-2:] == [["n1", "n3"], ["n2"]]
    assert all(c.alive(n) for n in c.nodes)
    v = nem.start(Kill(target="majority"))
    assert len(v["nodes"]) == 2 and v["target"] == "majority"
    nem.heal()
    assert nem.start(Kill(nodes=("n3",))) == {"kind": "kill", "nodes": ["n3"]}
    nem.heal()
    blind = Nemesis(c, rec, random.Random(0))
    with pytest.raises(UsageError, match="kill of the leader needs a leader_of"):
        blind.check([Kill(target="leader")])
    with pytest.raises(UsageError, match="pause of the followers needs a leader_of"):
        blind.check([Pause(target="followers")])


def test_busiest_leader_leads_the_most_partitions() -> None:
    from harness.nemesis import busiest_leader
    leaders = {("t", 0): "n2", ("t", 1): "n3", ("u", 0): "n3", ("v", 0): "n1"}
    assert busiest_leader(leaders) == "n3"
    assert busiest_leader(["n2", "n1"]) == "n1"  # a tie: the first name
    assert busiest_leader({}) is None


def test_the_only_node_is_the_leader_whatever_metadata_says(make_cluster: MakeCluster) -> None:
    c = make_cluster("proxy", 1)
    rec = ListRecorder(now_ns=time.monotonic_ns)
    nem = Nemesis(c, rec, random.Random(0), leader_of=lambda: None)  # e.g. Tansu's id 111
    assert nem.start(Pause(target="leader"))["nodes"] == ["n1"]
    assert "no follower of n1" in nem.start(Kill(target="followers"))["error"]
    nem.heal()
    assert rec.fs() == ["pause", "kill", "resume", "heal"]
