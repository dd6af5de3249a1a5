"""Nothing outlives a run: on success, on a failing test, on Ctrl-C of the controlling
process, and after it is SIGKILLed (then `cleanup_stale_runs` reaps it)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cluster import Cluster, ProcessError, cleanup_stale_runs
from harness.cluster._run import RUNS_DIR
from harness.errors import UsageError

from .conftest import ProbeTarget, leftovers, make_backend, reaches

CONTROLLER = Path(__file__).with_name("controller.py")


def test_success_leaves_nothing(backend_name: str) -> None:
    with Cluster(ProbeTarget(), make_backend(backend_name), 3) as c:
        rid = c.run_id
        assert leftovers(rid)  # the run really holds resources
        c.backend.apply_grudge({"n1": ["n2"]})
    assert leftovers(rid) == []


def test_failing_test_leaves_nothing(backend_name: str) -> None:
    rid = ""
    with (pytest.raises(AssertionError, match="boom"),
          Cluster(ProbeTarget(), make_backend(backend_name), 2) as c):
        rid = c.run_id
        c.pause_node("n1")
        c.backend.set_loss(["n2"], 0.5)
        raise AssertionError("boom")
    assert rid and leftovers(rid) == []


class _BadTarget(ProbeTarget):
    def command(self, spec):  # type: ignore[no-untyped-def]
        return [sys.executable, "-c", "import sys; print('bad node'); sys.exit(3)"], {}


def test_failed_start_leaves_nothing(backend_name: str) -> None:
    c = Cluster(_BadTarget(), make_backend(backend_name), 2)
    with pytest.raises(ProcessError, match="exited with code 3 before it was ready"):
        c.start()
    assert leftovers(c.run_id) == []
    assert not (RUNS_DIR / c.run_id).exists()


def _start_controller(backend_name: str) -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen([sys.executable, str(CONTROLLER), backend_name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    if not line.startswith("RUN "):
        p.kill()
        raise AssertionError(f"controller failed: {line}{p.communicate()[1]}")
    return p, line.split()[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_of_the_controller_leaves_nothing(backend_name: str, sig: int) -> None:
    p, rid = _start_controller(backend_name)
    try:
        assert any(x.startswith("process") for x in leftovers(rid))
        p.send_signal(sig)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert leftovers(rid) == []


def test_sigkill_of_the_controller_then_cleanup(backend_name: str,
                                                make_cluster: Callable[..., Cluster]) -> None:
    live = make_cluster(backend_name, 2)  # a concurrent live run must survive cleanup
    p, rid = _start_controller(backend_name)
    p.kill()
    p.wait()
    left = leftovers(rid)
    assert any(x.startswith("process") for x in left), left
    if backend_name == "netns":
        assert any(x.startswith("netns") for x in left), left
    report = cleanup_stale_runs()
    assert rid in report.stale_runs
    assert live.run_id in report.live_runs and live.run_id not in report.stale_runs
    assert leftovers(rid) == []
    assert reaches(live, "n1", "n2")
    assert "reaped" in str(report)


def test_cleanup_refuses_foreign_prefixes() -> None:
    with pytest.raises(UsageError, match="must start with 'lt'"):
        cleanup_stale_runs(prefix="eth")
