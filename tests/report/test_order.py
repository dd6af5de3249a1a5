"""Per-key order diagrams: who wrote and who read each offset, highlights, windows."""

from __future__ import annotations

from typing import Any

from harness.checkers import CheckResult
from harness.history import History, op_from_dict
from harness.report._order import key_diagram, order_diagrams, order_layout


def hist(*rows: tuple[Any, ...]) -> History:
    ops = []
    for i, (p, typ, f, v) in enumerate(rows):
        ops.append(op_from_dict({"index": i, "time": i * 1000, "process": p, "type": typ,
                                 "f": f, "value": v}, i))
    return History.of(ops)


def send(p: int, k: str, off: int, v: int) -> list[tuple[Any, ...]]:
    return [(p, "invoke", "send", [["send", k, v]]), (p, "ok", "send", [["send", k, [off, v]]])]


def poll(p: int, recs: dict[str, list[list[int]]]) -> list[tuple[Any, ...]]:
    return [(p, "invoke", "poll", [["poll"]]), (p, "ok", "poll", [["poll", recs]])]


def columns(d: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {c.get("offset", ("gap", c.get("from"))): c for c in d["columns"]}


def anomalous_history() -> History:
    rows: list[tuple[Any, ...]] = []
    rows += send(0, "k", 0, 10)
    rows += send(0, "k", 1, 11)    # acknowledged, never read: unread
    rows += send(1, "k", 2, 12)
    rows += send(1, "k", 3, 12)    # same value twice: duplicate
    rows += send(0, "k", 6, 16)    # offsets 4, 5 never observed: gap
    rows += poll(2, {"k": [[0, 10], [2, 12], [3, 12], [6, 16]]})
    rows += poll(3, {"k": [[0, 99], [2, 12]]})  # offset 0 read as 99: inconsistent
    return hist(*rows)


def test_flags_on_a_hand_built_history() -> None:
    result = CheckResult("log", valid=False,
                         anomalies={"lost-write": [{"key": "k", "offsets": [1], "ops": [3]}]},
                         classification={"lost-write": "bad"})
    [d] = order_diagrams(anomalous_history(), result)
    assert d["key"] == "k" and not d["sample"]
    assert [r["label"] for r in d["rows"]] == ["acknowledged sends", "reads by process 2",
                                               "reads by process 3"]
    cols = columns(d)
    assert "inconsistent" in cols[0]["flags"]
    assert cols[0]["cells"][0]["values"] == ["10"]
    assert cols[0]["cells"][2]["values"] == ["99"]
    assert cols[1]["cells"][0]["flags"] == ["unread"]
    assert "witness" in cols[1]["flags"]
    assert cols[1]["cells"][1] is None
    assert "duplicate" in cols[2]["cells"][0]["flags"]
    assert "duplicate" in cols[3]["cells"][1]["flags"]
    gap = cols[("gap", 4)]
    assert (gap["from"], gap["to"], gap["count"]) == (4, 5, 2)
    assert d["stats"] == {"offsets": 5, "writes": 5, "readers": 2, "gaps": 1,
                          "inconsistent": 1, "unread": 1, "duplicate_values": 1,
                          "aborted_reads": 0, "columns": 6}
    assert "written by process 0 (op 1" in cols[0]["cells"][0]["tip"]
    assert "read by process 3" in cols[0]["cells"][2]["tip"]
    assert "no client ever sent this value" in cols[0]["cells"][2]["tip"]
    assert "sent by process 0 (op 0, ok)" in cols[0]["cells"][1]["tip"]


def test_reads_of_failed_sends_are_marked_aborted() -> None:
    rows: list[tuple[Any, ...]] = []
    rows += send(0, "k", 0, 1)
    rows += [(1, "invoke", "txn", [["send", "k", 2]]), (1, "fail", "txn", [["send", "k", 2]])]
    rows += poll(2, {"k": [[0, 1], [1, 2]]})
    [d] = order_diagrams(hist(*rows), None)
    cols = columns(d)
    assert cols[1]["cells"][0] is None  # the failed send has no acknowledged offset
    cell = cols[1]["cells"][1]
    assert cell["flags"] == ["aborted"]
    assert "sent by process 1 (op 2, fail)" in cell["tip"]
    assert cols[0]["cells"][1]["flags"] == []
    assert d["stats"]["aborted_reads"] == 1


def test_a_valid_history_shows_its_busiest_key_as_a_sample() -> None:
    rows = send(0, "a", 0, 1) + send(0, "b", 0, 2) + send(1, "b", 1, 3)
    [d] = order_diagrams(hist(*rows), None)
    assert d["key"] == "b" and d["sample"]
    assert all(not c["flags"] for c in d["columns"])


def test_long_keys_keep_windows_around_anomalies() -> None:
    writes = {o: [(o, 0, o, 0)] for o in range(500)}
    reads = {1: {o: [(o, 1000 + o, 0)] for o in range(500)}}
    reads[1][250] = [(-1, 2000, 0)]  # inconsistent at 250
    d = key_diagram("k", writes, reads, set(), max_cols=40, context=3)
    offs = [c["offset"] for c in d["columns"] if c["kind"] == "offset"]
    assert offs == [0, 1, 2, 247, 248, 249, 250, 251, 252, 253, 497, 498, 499]
    elided = [c for c in d["columns"] if c["kind"] == "elided"]
    assert [(c["from"], c["to"], c["count"]) for c in elided] == [(3, 246, 244),
                                                                  (254, 496, 243)]
    assert d["stats"]["columns"] == 500
    lay = order_layout(d)
    xs = [c["x"] for c in lay["cols"]]
    assert xs == sorted(xs) and lay["width"] > xs[-1]


def test_many_readers_are_merged() -> None:
    writes = {0: [(1, 0, 0, 0)]}
    reads = {p: {0: [(1, p, 0)]} for p in range(15)}
    d = key_diagram("k", writes, reads, set(), max_readers=10)
    assert len(d["rows"]) == 1 + 10 + 1
    assert d["rows"][-1]["label"] == "reads by 5 other processes"
    assert d["columns"][0]["cells"][-1]["values"] == ["1"] * 5
