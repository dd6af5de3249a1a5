"""`logtrial check --checker linearizable` over the shared Porcupine data: exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from harness.cli import cli

# ../shared beside the checkout (CI lays a copy there too)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "porcupine"

pytestmark = pytest.mark.skipif(not DATA.is_dir(),
                                reason="needs ../shared/data/porcupine (the steering repo's data)")


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["check", "--checker", "linearizable", *args])
    return r.exit_code, r.stdout, r.stderr


def test_etcd_verdicts_map_to_exit_codes() -> None:
    assert run(str(DATA / "jepsen" / "etcd_002.log"))[0] == 0  # Porcupine: linearizable
    code, out, _ = run(str(DATA / "jepsen" / "etcd_008.log"))
    assert code == 1 and "nonlinearizable" in out


def test_kv_json_output_names_every_illegal_key() -> None:
    code, out, _ = run("--json", "--all-partitions", str(DATA / "kv" / "c10-bad.txt"))
    assert code == 1
    d = orjson.loads(out)
    assert d["valid"] is False and d["anomalies"]["nonlinearizable"]


def test_timeout_gives_unknown_exit_3() -> None:
    assert run("--timeout", "0.001", str(DATA / "kv" / "c50-ok.txt"))[0] == 3


def test_project_history_needs_a_model(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"invoke","f":"read","process":0,"value":["k",null]}\n')
    code, _, err = run(str(p))
    assert code == 2 and "--model" in err
