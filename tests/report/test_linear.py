"""The Porcupine-style drawing of a linearizability failure."""

from __future__ import annotations

import copy

from harness.report._linear import from_explanation, linear_layout
from tests.report.fixtures.make import LINEAR_WITNESS, linear_result, with_register_ops


def test_layout_rows_bars_and_linearization() -> None:
    lay = linear_layout(LINEAR_WITNESS)
    assert lay["drawable"] and lay["partition"] == "key 7"
    assert [c["name"] for c in lay["clients"]] == ["0", "1", "2"]
    bars = {b["id"]: b for b in lay["bars"]}
    assert bars[6]["status"] == "failing"
    assert [bars[i]["status"] for i in (0, 2, 4)] == ["linearized"] * 3
    assert bars[8]["status"] == "other" and bars[8]["open"]
    assert [bars[i]["lin"] for i in (0, 2, 4)] == [1, 2, 3]
    # Bars span call..return in order of time; the open one runs to the right edge.
    assert bars[0]["x0"] < bars[2]["x0"] < bars[0]["x1"] < bars[2]["x1"]
    assert bars[8]["x1"] >= max(b["x1"] for b in lay["bars"])
    # Linearization points: one per linearized op, in order, inside their bars.
    assert [p["n"] for p in lay["points"]] == [1, 2, 3]
    xs = [p["x"] for p in lay["points"]]
    assert xs == sorted(xs)
    for p in lay["points"]:
        b = bars[p["id"]]
        assert b["x0"] <= p["x"] <= b["x1"]
    assert "state after: 2" in bars[2]["tip"]
    assert "cannot be linearized" in bars[6]["tip"]
    assert lay["failing"] == ["6"] and lay["linearized"] == 3


def test_longest_overrides_linearized_at() -> None:
    w = copy.deepcopy(LINEAR_WITNESS)
    w["longest"] = [2, 0]
    lay = linear_layout(w)
    assert [p["id"] for p in lay["points"]] == [2, 0]


def test_other_shapes_are_shown_as_text() -> None:
    lay = linear_layout({"partition": "k", "ops": [{"no": "shape"}], "message": "m"})
    assert not lay["drawable"] and '"no":"shape"' in lay["raw"]


def test_big_partitions_keep_ops_near_the_failure() -> None:
    ops = [{"id": i, "client": i % 5, "call_ns": i * 10, "return_ns": i * 10 + 15,
            "input": i, "output": i, "linearized_at": i if i < 600 else None}
           for i in range(1000)]
    lay = linear_layout({"partition": "p", "ops": ops, "failing": [600]}, max_ops=100)
    assert len(lay["bars"]) == 100 and lay["dropped"] == 900
    ids = {b["id"] for b in lay["bars"]}
    assert 600 in ids and 550 in ids and 10 not in ids


def test_the_checkers_own_explanation_is_drawn() -> None:
    start = [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "poll",
              "value": [["poll"]]},
             {"index": 1, "time": 1000, "process": 0, "type": "ok", "f": "poll",
              "value": [["poll", {}]]}]
    ops = with_register_ops(start)
    r = linear_result(ops)
    assert r["valid"] is False
    [w] = r["anomalies"]["nonlinearizable"]
    d = from_explanation(w)
    # History indices, times in ns, the prefix with its states.
    by_id = {o["id"]: o for o in d["ops"]}
    read1 = next(i for i, op in enumerate(ops) if op["f"] == "read" and op["type"] == "ok"
                 and op["value"] == ["r", 1])
    read1_inv = next(i for i in range(read1, -1, -1) if ops[i]["process"] == 10
                     and ops[i]["type"] == "invoke")
    assert d["failing"] == [read1_inv]
    assert read1_inv in w["ops"]
    assert by_id[read1_inv]["call_ns"] == ops[read1_inv]["time"]
    assert by_id[read1_inv]["return_ns"] == ops[read1]["time"]
    e = w["explanation"]
    assert d["time_unit"] == "ns" and d["state"] == e["final_state"]
    assert [by_id[i]["state_after"] for i in d["longest"]] == e["states"]
    assert d["longest"][:3] == [i for i, op in enumerate(ops)
                                if op["f"] in ("write", "read") and op["type"] == "invoke"][:3]
    assert len(d["points_at"]) == len(e["linearized"]) >= 3
    legal = [c["index"] for c in e["candidates"] if c["legal"]]
    assert d["candidates"] == legal
    lay = linear_layout(w)
    assert lay["drawable"] and lay["partition"] == "key r"
    bars = {b["id"]: b for b in lay["bars"]}
    assert bars[read1_inv]["status"] == "failing"
    assert sum(b["open"] for b in lay["bars"]) == 1
    # The checker's points sit inside their bars, in order.
    xs = [p["x"] for p in lay["points"]]
    assert xs == sorted(xs)
    for p in lay["points"]:
        assert bars[p["id"]]["x0"] <= p["x"] <= bars[p["id"]]["x1"]
    assert f"state after: {e['states'][-1]}" in bars[lay["points"][-1]["id"]]["tip"]
    for c in legal:
        assert bars[c]["status"] == "candidate" and "every continuation" in bars[c]["tip"]


def test_many_illegal_partitions_are_capped() -> None:
    from harness.checkers import CheckResult
    from harness.report._linear import linear_sections

    ws = [dict(LINEAR_WITNESS, partition=f"key {i}") for i in range(30)]
    r = CheckResult("linearizable", valid=False, anomalies={"nonlinearizable": ws},
                    classification={"nonlinearizable": "bad"}, counts={"nonlinearizable": 31})
    out = linear_sections(r, max_partitions=8)
    assert [p["partition"] for p in out] == [f"key {i}" for i in range(8)]
    assert out[-1]["more"] == 23
