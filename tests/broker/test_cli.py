"""The `reference-broker` command line: arguments, ready line, logs, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.metadata import MetadataRequest

from ._wire import Wire
from .conftest import ROOT


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "reference_broker", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--listen", "127.0.0.1:0"], "--data-dir"),
    (["--data-dir", "{d}", "--listen", "nohostport"], "HOST:PORT"),
    (["--data-dir", "{d}", "--listen", "127.0.0.1:99999"], "0..65535"),
    (["--data-dir", "{d}", "--config", "no.such.key=1"], "unknown broker config"),
    (["--data-dir", "{d}", "--config", "num.partitions=x"], "expected an integer"),
    (["--data-dir", "{d}", "--node-id", "one"], "invalid int"),
    (["--data-dir", "/proc/nope/data"], "not usable"),
])
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path: Path, args: list[str],
                                                    fragment: str) -> None:
    r = _run([a.replace("{d}", str(tmp_path / "d")) for a in args])
    assert r.returncode == 2
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr


def test_ready_line_advertise_logs_and_sigterm(broker_factory: Any) -> None:
    b = broker_factory()
    assert b.port > 0
    with Wire(b.address) as w:
        md = w.call(MetadataRequest(version=12, topics=None))
        assert [(x.node_id, x.host, x.port) for x in md.brokers] == [(1, "127.0.0.1", b.port)]
    log_text = (b.data_dir / "broker.log").read_text()
    assert "serving" in log_text
    # the data dir is locked against a second broker
    r = _run(["--data-dir", str(b.data_dir), "--listen", "127.0.0.1:0"])
    assert r.returncode == 2 and "in use" in r.stderr
    assert b.stop() == 0
    assert "stopped" in (b.data_dir / "broker.log").read_text()


def test_sigint_is_a_clean_shutdown_too(broker_factory: Any) -> None:
    b = broker_factory()
    assert b.proc is not None
    b.proc.send_signal(signal.SIGINT)
    assert b.proc.wait(15) == 0


def test_sigterm_during_a_long_poll_exits_promptly(broker_factory: Any) -> None:
    import time

    from ._wire import create_topic

    b = broker_factory()
    with Wire(b.address) as w:
        create_topic(w, "lp")
        from kafka.protocol.consumer import FetchRequest

        FT = FetchRequest.FetchTopic
        w.send(FetchRequest(version=11, replica_id=-1, max_wait_ms=60000, min_bytes=1,
                            max_bytes=1024, isolation_level=0, session_id=0, session_epoch=-1,
                            topics=[FT(topic="lp", partitions=[FT.FetchPartition(
                                partition=0, fetch_offset=0, partition_max_bytes=1024,
                                current_leader_epoch=-1, log_start_offset=-1)])],
                            forgotten_topics_data=[], rack_id=""))
        time.sleep(0.3)
        t0 = time.monotonic()
        assert b.stop(timeout_s=15) == 0
        assert time.monotonic() - t0 < 10
