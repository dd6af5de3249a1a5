"""The Porcupine-style drawing of a linearizability failure."""

from __future__ import annotations

import copy

from harness.report._linear import linear_layout
from tests.report.fixtures.make import LINEAR_WITNESS


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
