"""`logtrial watch` (the README's failover walkthrough): kill a partition's leader
under kafka-python and confluent-kafka clients; the command sees the leader change
and both libraries keep producing and consuming afterwards (exit code 0)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.cluster_broker.conftest import ROOT


def test_watch_sees_a_leader_change_and_both_clients_continue(
        cluster_factory: Callable[..., Any]) -> None:
    c = cluster_factory()
    c.create_topic("watched")
    leader = c.wait_leader("watched")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "watch", "--bootstrap", c.bootstrap,
         "--topic", "watched", "--seconds", "12"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(4)
        c.kill(leader)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert f"leader changed {leader} ->" in out, out
    assert "leader changes seen: 1" in out, out
