"""`logtrial check --checker freshness|retention|run`: the offsets-op checkers and a
run's whole composed verdict, with settings read from the run directory's run.json."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.test_cli_check import invoke

MS = 1_000_000
# A write acknowledged at offset 4, then 5 s later an end offset of 4 that misses it.
STALE = [
    {"time": 0, "type": "invoke", "f": "send", "process": 0, "value": [["send", "k", 7]]},
    {"time": 10 * MS, "type": "ok", "f": "send", "process": 0,
     "value": [["send", "k", [4, 7]]]},
    {"time": 5000 * MS, "type": "invoke", "f": "offsets", "process": 1, "value": ["k"]},
    {"time": 5001 * MS, "type": "ok", "f": "offsets", "process": 1, "value": {"k": [0, 4]}},
]


def run_dir(tmp_path: Path, **options: object) -> Path:
    d = tmp_path / "run"
    d.mkdir(parents=True)
    (d / "history.jsonl").write_bytes(b"".join(
        orjson.dumps({"index": i, **op}) + b"\n" for i, op in enumerate(STALE)))
    (d / "run.json").write_bytes(orjson.dumps({"options": {"acks": "all", **options}}))
    return d


def test_freshness_reads_its_allowance_from_run_json(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    code, out, _ = invoke("check", str(d), "--checker", "freshness", "--json")
    assert code == 1 and orjson.loads(out)["bad"] == ["stale-read"]
    lenient = run_dir(tmp_path / "b", max_stale_ms=10000)
    assert invoke("check", str(lenient), "--checker", "freshness")[0] == 0
    assert invoke("check", str(d), "--checker", "freshness", "--allow", "stale-read")[0] == 0


def test_run_composes_every_checker_the_run_would(tmp_path: Path) -> None:
    d = run_dir(tmp_path, retention_ms=60000, nemesis=["kill"])
    code, out, _ = invoke("check", str(d), "--checker", "run", "--json")
    result = orjson.loads(out)
    assert code == 1
    assert set(result["children"]) == {"log", "retention", "freshness"}
    assert result["children"]["freshness"]["bad"] == ["stale-read"]
    assert invoke("check", str(d), "--checker", "retention")[0] == 0


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    code, _, err = invoke("check", str(d / "history.jsonl"), "--checker", "run")
    assert code == 2 and "needs a run directory" in err
    code, _, err = invoke("check", str(d), "--checker", "freshness", "--allow", "bogus")
    assert code == 2 and "unknown anomaly type" in err
