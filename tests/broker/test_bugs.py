"""Planted bugs: listed with a line each, validated by name, off by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reference_broker.bugs import BUGS, parse_bugs
from reference_broker.config import broker_config

ROOT = Path(__file__).resolve().parents[2]


def _broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reference_broker", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_list_bugs_prints_every_bug_with_a_description() -> None:
    r = _broker("--list-bugs")
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert [ln.split(":", 1)[0] for ln in lines] == list(BUGS)
    assert all(len(ln.split(":", 1)[1].strip()) > 20 for ln in lines)


def test_unknown_bug_is_refused_with_the_known_names(tmp_path: Path) -> None:
    r = _broker("--data-dir", str(tmp_path), "--bug", "no-such-bug")
    assert r.returncode == 2
    assert "unknown bug(s) no-such-bug" in r.stderr and "lost-group-commits" in r.stderr
    assert "Traceback" not in r.stderr


def test_bugs_are_off_by_default_and_parsed_from_config() -> None:
    assert broker_config({}).raw.get("logtrial.bugs") is None
    assert parse_bugs(["lost-group-commits", " "]) == frozenset({"lost-group-commits"})


def test_logtrial_run_refuses_unknown_bugs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--bug", "nope",
                        "--report-dir", str(tmp_path)], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "unknown bug(s) nope" in r.stderr
