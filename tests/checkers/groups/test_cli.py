"""`logtrial check --checker groups`: exit codes, JSON, --allow, run directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
from click.testing import CliRunner

from harness.cli import cli

DATA = Path(__file__).resolve().parents[2] / "data" / "groups"


def test_exit_codes_and_json() -> None:
    r = CliRunner().invoke(cli, ["check", "--checker", "groups", "--json",
                                 str(DATA / "offset-reset-below-commit-bad.jsonl")])
    assert r.exit_code == 1, r.output
    out = orjson.loads(r.stdout)
    assert out["checker"] == "groups" and out["bad"] == ["offset-reset-below-commit"]
    r = CliRunner().invoke(cli, ["check", "--checker", "groups",
                                 str(DATA / "offset-reset-below-commit-ok.jsonl")])
    assert r.exit_code == 0, r.output


def test_allow_and_unknown_types() -> None:
    path = str(DATA / "commit-regression-bad.jsonl")
    r = CliRunner().invoke(cli, ["check", "--checker", "groups", "--allow",
                                 "commit-regression", path])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["check", "--checker", "groups", "--allow", "lost-write", path])
    assert r.exit_code == 2 and "expected some of: commit-regression" in r.output


def test_run_directory_acks_from_run_json(tmp_path: Path) -> None:
    shutil.copy(DATA / "commit-skip-bad.jsonl", tmp_path / "history.jsonl")
    (tmp_path / "run.json").write_bytes(orjson.dumps({"options": {"acks": "1"}}))
    r = CliRunner().invoke(cli, ["check", "--checker", "groups", str(tmp_path)])
    assert r.exit_code == 0, r.output  # acks=1 allows a skip a truncated log explains


def test_malformed_history_is_one_line() -> None:
    r = CliRunner().invoke(cli, ["check", "--checker", "groups", "/nonexistent/h.jsonl"])
    assert r.exit_code == 2 and "Traceback" not in r.output
