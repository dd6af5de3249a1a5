"""`logtrial check`: exit codes, JSON output, --allow, formats and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from harness.cli import cli

VALID = [
    {"type": "invoke", "f": "assign", "process": 1, "value": ["1"]},
    {"type": "ok", "f": "assign", "process": 1, "value": ["1"]},
    {"type": "invoke", "f": "send", "process": 0, "value": [["send", 1, 10]]},
    {"type": "ok", "f": "send", "process": 0, "value": [["send", 1, [0, 10]]]},
    {"type": "invoke", "f": "send", "process": 0, "value": [["send", 1, 11]]},
    {"type": "ok", "f": "send", "process": 0, "value": [["send", 1, [1, 11]]]},
    {"type": "invoke", "f": "poll", "process": 1, "value": [["poll"]]},
    {"type": "ok", "f": "poll", "process": 1, "value": [["poll", {"1": [[0, 10], [1, 11]]}]]},
]
# Offset 0 holds 10 by the send's ack, but a poll saw 99 there: inconsistent offsets.
INCONSISTENT = [*VALID[:6],
                {"type": "invoke", "f": "poll", "process": 1, "value": [["poll"]]},
                {"type": "ok", "f": "poll", "process": 1,
                 "value": [["poll", {"1": [[0, 99], [1, 11]]}]]}]


def write(tmp_path: Path, name: str, ops: list[dict[str, object]]) -> Path:
    p = tmp_path / name
    p.write_bytes(b"".join(orjson.dumps({"index": i, "time": i, **op}) + b"\n"
                           for i, op in enumerate(ops)))
    return p


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_valid_history_exits_0(tmp_path: Path) -> None:
    code, out, _ = invoke("check", str(write(tmp_path, "h.jsonl", VALID)))
    assert code == 0
    assert "valid" in out


def test_invalid_history_exits_1_and_names_the_anomaly(tmp_path: Path) -> None:
    code, out, _ = invoke("check", str(write(tmp_path, "h.jsonl", INCONSISTENT)))
    assert code == 1
    assert "inconsistent-offsets" in out


def test_json_output(tmp_path: Path) -> None:
    code, out, _ = invoke("check", "--json", str(write(tmp_path, "h.jsonl", INCONSISTENT)))
    assert code == 1
    d = orjson.loads(out)
    assert d["valid"] is False
    assert "inconsistent-offsets" in d["anomalies"]
    w = d["anomalies"]["inconsistent-offsets"][0]
    assert w["key"] == "1" and 0 in w["offsets"]


def test_allow_makes_a_type_allowed(tmp_path: Path) -> None:
    p = str(write(tmp_path, "h.jsonl", INCONSISTENT))
    # 10 was acknowledged at offset 0 but never read: lost-write and unseen come along.
    code, out, _ = invoke("check", "--json", "--allow", "inconsistent-offsets", p)
    assert code == 1
    assert orjson.loads(out)["allowed"] == ["inconsistent-offsets"]
    code, out, _ = invoke("check", "--json", "--allow", "inconsistent-offsets,lost-write",
                          "--allow", "unseen", p)
    assert code == 0
    assert orjson.loads(out)["allowed"] == ["inconsistent-offsets", "lost-write", "unseen"]


def test_unknown_allow_type_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("check", "--allow", "no-such-anomaly",
                          str(write(tmp_path, "h.jsonl", VALID)))
    assert code == 2
    assert "unknown anomaly type" in err and "lost-write" in err


def test_edn_history_and_explicit_format(tmp_path: Path) -> None:
    from harness.history import load, write_edn

    h = load(write(tmp_path, "h.jsonl", INCONSISTENT))
    e = tmp_path / "history.edn"
    write_edn(e, h.ops)
    assert invoke("check", str(e))[0] == 1
    odd = tmp_path / "history.txt"
    odd.write_text(e.read_text())
    assert invoke("check", "--format", "edn", str(odd))[0] == 1
    code, _, err = invoke("check", str(odd))
    assert code == 2 and "--format" in err


def test_run_directory_takes_options_from_run_json(tmp_path: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    write(d, "history.jsonl", VALID)
    (d / "run.json").write_bytes(orjson.dumps({"options": {"sub_via": "subscribe",
                                                           "acks": "1"}}))
    assert invoke("check", str(d))[0] == 0


@pytest.mark.parametrize("content, line, reason", [
    ('{"type":"invoke","f":"poll","process":0}\n{"type":"ok"', 2, "bad JSON"),
    ('{"type":"ok","f":"poll","process":0}\n', 1, "no open invocation"),
    ('{"type":"invoke","f":"poll","process":0}\n{"type":"invoke","f":"poll","process":0}\n',
     2, "invokes again"),
    ('{"f":"poll","process":0}\n', 1, 'missing "type"'),
    ('{"type":"maybe","f":"poll","process":0}\n', 1, "unknown type"),
])
def test_malformed_history_exits_2_with_line(tmp_path: Path, content: str, line: int,
                                             reason: str) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    r = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{p}:{line}:" in r.stderr and reason in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = invoke("check", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in err


def test_jepsen_style_history_with_extras_crash_and_lists() -> None:
    """Jepsen's kafka histories carry :poll-ms, :seek-to-beginning?, :crash ops,
    debug ops with list values and txn ops; all are read and the history is valid."""
    p = Path(__file__).parent / "data" / "history" / "jepsen-kafka-final-phase.edn"
    code, out, _ = invoke("check", str(p))
    assert code == 0, out
    from harness.history import load

    h = load(p)
    assert h.ops[11].extra == {"seek-to-beginning?": True}
    assert h.ops[9].value == [9, 10]  # an EDN list; not a kafka f, so keys stay ints
