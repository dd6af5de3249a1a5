"""Malformed histories are reported with their line number and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HistoryError, UsageError
from harness.history import load

INV = '{"type":"invoke","f":"send","process":1,"value":[["send",1,2]]}'
OK = '{"type":"ok","f":"send","process":1,"value":[["send",1,[0,2]]]}'

JSONL_CASES = [
    ("bad-json", [INV, '{"type": "ok", '], 2, "bad JSON"),
    ("not-object", ["[1, 2]"], 1, "must be a JSON object"),
    ("missing-type", ['{"f":"send","process":1}'], 1, 'missing "type"'),
    ("missing-f", ['{"type":"invoke","process":1}'], 1, 'missing "f"'),
    ("missing-process", ['{"type":"invoke","f":"send"}'], 1, 'missing "process"'),
    ("unknown-type", ['{"type":"done","f":"send","process":1}'], 1, "unknown type 'done'"),
    ("completion-without-invocation", [OK], 1, "has no open invocation"),
    ("two-open-invocations", [INV, INV], 2, "invokes again"),
    ("bad-process", ['{"type":"invoke","f":"x","process":[1]}'], 1, '"process" must be'),
    ("bad-time", ['{"type":"invoke","f":"x","process":1,"time":"soon"}'], 1, '"time" must'),
    ("bad-send", ['{"type":"invoke","f":"send","process":1,"value":[["send",1]]}'], 1,
     "send micro-op"),
    ("bad-key", ['{"type":"invoke","f":"send","process":1,"value":[["send",[1],2]]}'], 1,
     "a key must be"),
    ("bad-poll", ['{"type":"ok","f":"poll","process":1,"value":[["poll",[1]]]}'], 1,
     "poll micro-op"),
]


@pytest.mark.parametrize("name, lines, line, reason", JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_jsonl_errors(tmp_path: Path, name: str, lines: list[str], line: int, reason: str) -> None:
    p = tmp_path / f"{name}.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as ei:
        load(p)
    assert ei.value.line == line
    assert reason in str(ei.value)
    assert f"{p}:{line}:" in str(ei.value)


EDN_CASES = [
    ("bad-edn", ["{:type :invoke, :process 1, :f :poll", "{:type :ok ]"], 1, "bad EDN"),
    ("not-a-map", ["[:invoke 1]"], 1, "must be an EDN map"),
    ("missing-type", ["{:process 1, :f :poll}"], 1, 'missing "type"'),
    ("unknown-type", ["{:type :done, :process 1, :f :poll}"], 1, "unknown type"),
    ("orphan-ok", ["{:type :invoke, :process 1, :f :poll}",
                   "{:type :ok, :process 1, :f :poll}",
                   "{:type :fail, :process 2, :f :poll}"], 3, "has no open invocation"),
]


@pytest.mark.parametrize("name, lines, line, reason", EDN_CASES, ids=[c[0] for c in EDN_CASES])
def test_edn_errors(tmp_path: Path, name: str, lines: list[str], line: int, reason: str) -> None:
    p = tmp_path / f"{name}.edn"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as ei:
        load(p)
    assert ei.value.line == line
    assert reason in str(ei.value)


def test_info_without_invocation_is_a_standalone_event(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"info","f":"start-partition","process":"nemesis","value":null}\n')
    assert load(p).partner == [-1]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        load(tmp_path / "nope.jsonl")
    d = tmp_path / "d.jsonl"
    d.mkdir()
    with pytest.raises(HistoryError, match="is a directory"):
        load(d)


def test_unknown_extension_asks_for_format(tmp_path: Path) -> None:
    p = tmp_path / "h.txt"
    p.write_text(INV + "\n")
    with pytest.raises(UsageError, match="--format"):
        load(p)
    assert len(load(p, "jsonl")) == 1
