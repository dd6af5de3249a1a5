"""Bad input gives a clear `UsageError` naming the valid choices and leaves nothing."""

from __future__ import annotations

import os

import pytest

from harness.cluster import (
    Cluster,
    NetnsBackend,
    ProxyBackend,
    get_backend,
    get_target,
)
from harness.cluster._run import RUNS_DIR, read_state, run_is_live
from harness.errors import LogtrialError, UsageError
from harness.nemesis import Loss, Partition, parse_nemesis

from .conftest import ProbeTarget


def test_unknown_target_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown target 'redpanda' \(valid: external, kafka, "
                                         r"reference, tansu\)"):
        get_target("redpanda")
    assert get_target("tansu").name == "tansu"


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown backend 'docker' \(valid: netns, proxy\)"):
        get_backend("docker")
    assert get_backend("proxy") is ProxyBackend


def test_unknown_fault_names() -> None:
    with pytest.raises(UsageError, match=r"unknown nemesis 'explode' \(valid: none, "):
        parse_nemesis("partition,explode")
    with pytest.raises(UsageError, match="unknown partition topology 'star'"):
        Partition(topology="star")
    with pytest.raises(UsageError, match="loss probability"):
        Loss(probability=1.5)
    assert isinstance(UsageError("x"), LogtrialError)


def test_netns_without_root_is_refused_before_anything_is_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates a non-root user (this suite runs as root, and no other user here can run
    # the venv's python): the check is the one every code path goes through.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    before = set(os.listdir(RUNS_DIR)) if RUNS_DIR.exists() else set()
    with pytest.raises(UsageError, match="needs root for network namespaces"):
        get_backend("netns")
    with pytest.raises(UsageError, match="use --backend proxy"):
        Cluster(ProbeTarget(), NetnsBackend(), 3)
    after = set(os.listdir(RUNS_DIR)) if RUNS_DIR.exists() else set()
    mine = [d for d in after - before if (read_state(RUNS_DIR / d) or {}).get("pid") == os.getpid()]
    assert mine == []


def test_node_count_out_of_range() -> None:
    with pytest.raises(UsageError, match=r"runs 1\.\.5 nodes, not 6"):
        Cluster(ProbeTarget(), ProxyBackend(), 6)


def test_build_cluster_from_names() -> None:
    from harness.cluster import build_cluster
    c = build_cluster("external", bootstrap="h:1")
    assert c.bootstrap_servers() == "h:1"
    with pytest.raises(UsageError, match="needs --bootstrap"):
        build_cluster("external")
    with pytest.raises(UsageError, match="only for the external target"):
        build_cluster("tansu", bootstrap="h:1")
    with pytest.raises(UsageError, match="unknown backend 'vm'"):
        build_cluster("tansu", backend="vm")
    c = build_cluster("tansu", backend="proxy")
    assert c.nodes == ("n1",) and c.target.name == "tansu"
    with pytest.raises(UsageError, match=r"runs 1\.\.5 nodes, not 9"):
        build_cluster("reference", backend="proxy", nodes=9)


def _module(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "harness.cluster", *args], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["check", "--target", "redpanda"], "unknown target 'redpanda' (valid: external, kafka,"),
    (["check", "--target", "tansu", "--backend", "docker"], "unknown backend 'docker'"),
    (["check", "--target", "tansu", "--nemesis", "nuke"], "unknown nemesis 'nuke'"),
    (["check", "--target", "tansu", "--nemesis", "partition"],
     "tansu target does not support the 'partition' fault"),
    (["check", "--target", "reference", "--backend", "netns", "--nemesis", "slow"],
     "netns backend does not support the 'slow' fault"),
    (["check", "--target", "external", "--nemesis", "kill", "--bootstrap", "h:1"],
     "external target does not support the 'kill' fault (it supports none)"),
])
def test_bad_names_exit_2_with_one_line_and_leave_nothing(args: list[str], message: str) -> None:
    before = set(os.listdir(RUNS_DIR)) if RUNS_DIR.exists() else set()
    code, _, err = _module(*args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    after = set(os.listdir(RUNS_DIR)) if RUNS_DIR.exists() else set()
    # other runs may start meanwhile; none may be left by the (dead) subprocess
    leaked = [d for d in after - before
              if read_state(RUNS_DIR / d) is not None and not run_is_live(RUNS_DIR / d)]
    assert leaked == []


def test_check_and_cleanup_commands_succeed() -> None:
    code, out, _ = _module("check", "--target", "reference", "--backend", "proxy",
                           "--nemesis", "partition,kill,slow")
    assert code == 0 and out.strip() == "ok: reference x 3 node(s) on proxy"
    code, out, _ = _module("cleanup")
    assert code == 0 and ("nothing to clean" in out or "reaped" in out)
