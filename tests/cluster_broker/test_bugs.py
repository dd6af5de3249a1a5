"""The cluster's planted bugs are listed, validated, and reach the Raft core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from reference_broker.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
PEERS = {1: ("127.0.0.1", 1), 2: ("127.0.0.1", 2), 3: ("127.0.0.1", 3)}


def test_list_bugs_names_the_cluster_bugs() -> None:
    r = subprocess.run([sys.executable, "-m", "reference_broker", "--list-bugs"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    names = {ln.split(":", 1)[0] for ln in r.stdout.splitlines()}
    assert {"ack-before-commit", "no-truncate-on-election", "unclean-election"} <= names


def test_raft_bugs_are_switched_on_in_the_raft_groups() -> None:
    ctx = SimpleNamespace(node_id=2)
    c = Cluster(ctx, PEERS, election_timeout_ms=500,
                bugs=frozenset({"unclean-election", "no-truncate-on-election",
                                "ack-before-commit"}))
    assert c.raft_config.bugs == {"unclean-election", "no-truncate-on-election"}
    assert c.ack_before_commit
    assert c.raft_config.voters == (1, 2, 3) and c.raft_config.node_id == 2
    clean = Cluster(ctx, PEERS, election_timeout_ms=500, bugs=frozenset())
    assert not clean.raft_config.bugs and not clean.ack_before_commit


def test_bad_peers_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    for peers, message in [("1=127.0.0.1:1,x", "expected ID=HOST:PORT"),
                           ("2=127.0.0.1:1,3=127.0.0.1:2", "--peers must include this node"),
                           ("1=127.0.0.1:1,1=127.0.0.1:2", "appears twice")]:
        r = subprocess.run([sys.executable, "-m", "reference_broker", "--node-id", "1",
                            "--data-dir", str(tmp_path), "--peers", peers],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_peers_naming_only_itself_is_the_single_node_broker(tmp_path: Path) -> None:
    import os
    import time

    from harness.cluster._proxy import free_port
    from tests.broker._wire import Wire, create_topic, make_batch, produce

    port = free_port()
    err = tmp_path / "err.txt"
    with open(err, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "reference_broker", "--node-id", "1",
                                 "--listen", f"127.0.0.1:{port}", "--data-dir",
                                 str(tmp_path / "d"), "--peers", f"1=127.0.0.1:{port}"],
                                stderr=f, stdout=subprocess.DEVNULL, cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.monotonic() + 30
        while "ready on" not in err.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        with Wire(("127.0.0.1", port)) as w:
            create_topic(w, "solo")
            assert produce(w, "solo", make_batch(2), acks=-1) == (0, 0)  # no Raft no-op
        assert "reference_broker.cluster" not in err.read_text()
    finally:
        proc.kill()
        proc.wait(10)
