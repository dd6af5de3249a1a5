"""The shared backend suite: every backend must pass it, with real processes.

Checks are at the socket level (probe nodes log what reaches them). The broker's own
view of a partition needs the reference broker's Raft cluster, which is not here yet.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.nemesis import (
    Kill,
    ListRecorder,
    Loss,
    Nemesis,
    Partition,
    Pause,
    complete_grudge,
)

from .conftest import reaches, received, send

MakeCluster = Callable[..., Cluster]


def nemesis_for(c: Cluster, seed: int = 1) -> tuple[Nemesis, ListRecorder]:
    rec = ListRecorder(now_ns=time.monotonic_ns)
    return Nemesis(c, rec, random.Random(seed)), rec


def test_three_nodes_all_reach_each_other(make_cluster: MakeCluster, backend_name: str) -> None:
    c = make_cluster(backend_name, 3)
    assert c.nodes == ("n1", "n2", "n3")
    for src, dst in [("n1", "n2"), ("n2", "n3"), ("n3", "n1"), ("client", "n2")]:
        assert reaches(c, src, dst), f"{src} cannot reach {dst}"
    ns = c.client_netns()
    assert (ns is None) == (backend_name == "proxy")
    if ns is not None:
        assert ns == f"{c.run_id}-c"


def test_majority_partition_isolates_the_minority_and_heals(make_cluster: MakeCluster,
                                                            backend_name: str) -> None:
    c = make_cluster(backend_name, 3)
    nem, rec = nemesis_for(c)
    fault = Partition(grudge=complete_grudge([["n1"], ["n2", "n3"]]))
    nem.start(fault)
    assert not reaches(c, "n1", "n2", wait_s=1.0)
    assert not reaches(c, "n3", "n1", wait_s=1.0)
    assert reaches(c, "n2", "n3")
    assert reaches(c, "n3", "n2")
    nem.stop(fault)
    assert reaches(c, "n1", "n2", wait_s=3.0)
    assert reaches(c, "n3", "n1", wait_s=3.0)
    assert rec.fs() == ["start-partition", "stop-partition"]
    assert rec.events[0][2]["grudge"] == {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}


def test_one_way_partition_drops_one_direction_only(make_cluster: MakeCluster,
                                                    backend_name: str) -> None:
    c = make_cluster(backend_name, 2)
    nem, _ = nemesis_for(c)
    nem.start(Partition(grudge={"n1": ("n2",)}))  # n1 stops hearing n2
    assert not reaches(c, "n2", "n1", wait_s=1.0)
    # One direction still carries messages: a datagram (netns) or a proxied stream.
    assert reaches(c, "n1", "n2")
    nem.heal()
    assert reaches(c, "n2", "n1", wait_s=3.0)


def test_loss_drops_roughly_the_asked_share(make_cluster: MakeCluster,
                                            backend_name: str) -> None:
    c = make_cluster(backend_name, 2)
    nem, rec = nemesis_for(c)
    nem.start(Loss(probability=0.3, nodes=("n2",)))
    n = 300
    proto = "udp" if backend_name == "netns" else "tcp"
    sent = send(c, "n1", "n2", proto, "loss", n)
    time.sleep(2.0)  # the proxy delivers a "lost" chunk after its 1 s RTO
    got = received(c, "n2")
    # lost: never arrived (netns) or arrived only after a retransmission timeout (proxy);
    # delivery takes < 0.15 s here (< 0.5 s under load), a retransmitted chunk >= 1 s.
    lost = sum(1 for t, ts in sent.items() if t not in got or got[t] - ts > 0.7)
    share = lost / n
    # netns drops datagrams independently; on the proxy a held chunk also delays what
    # follows it on the same stream (head-of-line), and a loaded machine stretches
    # delivery, so its measured share runs higher: accept a wider band there.
    lo, hi = (0.18, 0.42) if backend_name == "netns" else (0.15, 0.65)
    assert lo <= share <= hi, f"lost {share:.2f}, asked 0.30"
    nem.stop(Loss(probability=0.3, nodes=("n2",)))
    sent = send(c, "n1", "n2", proto, "noloss", 50)
    time.sleep(0.5)
    got = received(c, "n2")
    assert all(t in got and got[t] - ts < 0.7 for t, ts in sent.items())
    assert rec.fs() == ["start-loss", "stop-loss"]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_kill_restart_pause_resume(make_cluster: MakeCluster, backend_name: str) -> None:
    c = make_cluster(backend_name, 2)
    nem, rec = nemesis_for(c)
    old_pid = c.procs["n2"].pid
    nem.start(Kill(nodes=("n2",)))
    assert not c.alive("n2")
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    assert not reaches(c, "n1", "n2", wait_s=0.5)
    nem.stop(Kill(nodes=("n2",)))
    assert c.alive("n2") and c.procs["n2"].pid != old_pid
    assert reaches(c, "n1", "n2")
    nem.start(Pause(nodes=("n1",)))
    assert _state(c.procs["n1"].pid) == "T"
    nem.stop(Pause(nodes=("n1",)))
    assert _state(c.procs["n1"].pid) in "RS"
    assert reaches(c, "n2", "n1")
    assert rec.fs() == ["kill", "start", "pause", "resume"]
    assert rec.events[0][2] == {"kind": "kill", "nodes": ["n2"]}


def test_heal_restores_everything(make_cluster: MakeCluster, backend_name: str) -> None:
    c = make_cluster(backend_name, 3)
    nem, rec = nemesis_for(c, seed=7)
    nem.start(Partition(topology="majority"))
    nem.start(Kill())
    nem.start(Pause())
    nem.start(Loss(probability=0.5))
    nem.heal()
    assert all(c.alive(n) for n in c.nodes)
    for src, dst in [("n1", "n2"), ("n2", "n3"), ("n3", "n1")]:
        assert reaches(c, src, dst, wait_s=3.0)
    assert rec.fs()[-1] == "heal"
    assert set(rec.fs()[4:-1]) == {"stop-loss", "resume", "start", "stop-partition"}


def test_partition_naming_missing_nodes_is_refused(make_cluster: MakeCluster,
                                                   backend_name: str) -> None:
    from harness.errors import UsageError
    c = make_cluster(backend_name, 2)
    nem, _ = nemesis_for(c)
    with pytest.raises(UsageError, match=r"unknown nodes \['n7'\]"):
        nem.check([Partition(grudge={"n1": ("n7",)})])
    value = nem.start(Partition(grudge={"n1": ("n7",)}))
    assert "n7" in value["error"] and nem.active == []
    with pytest.raises(UsageError, match="unknown nodes"):
        c.backend.apply_grudge({"n9": ["n1"]})


def test_two_runs_at_once_do_not_interfere(make_cluster: MakeCluster, backend_name: str) -> None:
    a = make_cluster(backend_name, 2)
    b = make_cluster(backend_name, 2)
    assert a.run_id != b.run_id
    nem, _ = nemesis_for(a)
    nem.start(Partition(grudge=complete_grudge([["n1"], ["n2"]])))
    assert not reaches(a, "n1", "n2", wait_s=1.0)
    assert reaches(b, "n1", "n2")
    assert reaches(b, "n2", "n1")
    if backend_name == "netns":
        assert a.backend.subnet != b.backend.subnet  # type: ignore[attr-defined]


def test_a_grudge_against_clients_cuts_them_off(make_cluster: MakeCluster,
                                                backend_name: str) -> None:
    import socket
    c = make_cluster(backend_name, 2)
    nem, _ = nemesis_for(c)
    nem.start(Partition(grudge={"n1": ("client",)}))
    assert not reaches(c, "client", "n1", wait_s=1.0)
    assert reaches(c, "client", "n2")
    assert reaches(c, "n2", "n1")
    if backend_name == "netns":  # clients in the harness process come from the bridge
        with pytest.raises(OSError):
            socket.create_connection(c.backend.addr("client", "n1", "kafka"), timeout=1.0)
    nem.heal()
    assert reaches(c, "client", "n1")
