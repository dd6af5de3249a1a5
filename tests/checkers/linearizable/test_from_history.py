"""Our history encoding per model, through `harness.history` and `check_history`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.checkers.linearizable import (
    UNKNOWN,
    check_history,
    from_history,
    load_operations,
)
from harness.errors import HistoryError, UsageError
from harness.history import History, Op


def H(*rows: tuple[Any, ...]) -> History:
    """rows: (process, type, f, value); time = 1000 * position."""
    return History.of(Op(index=i, time=1000 * i, process=p, type=t, f=f, value=v)
                      for i, (p, t, f, v) in enumerate(rows))


def test_register_encoding() -> None:
    h = H((0, "invoke", "write", ["x", 1]),
          (1, "invoke", "cas", ["x", [1, 2]]),
          ("nemesis", "info", "start-partition", None),
          (0, "ok", "write", ["x", 1]),
          (1, "fail", "cas", ["x", [1, 2]]),
          (2, "invoke", "read", ["x", None]),
          (2, "ok", "read", ["x", 1]),
          (3, "invoke", "write", [7, [1, 2]]),
          (3, "info", "write", [7, [1, 2]]),
          (4, "invoke", "read", ["x", None]),
          (4, "info", "read", ["x", None]),
          (5, "invoke", "cas", ["x", [1, 3]]),
          (5, "ok", "cas", ["x", [1, 3]]),
          (6, "invoke", "frob", None),
          (6, "ok", "frob", None))
    ops, skipped = from_history(h, "register")
    assert skipped == 1
    got = [(o.client, o.key, o.input, o.output, o.call, o.ret, o.index, o.times) for o in ops]
    assert got == [
        (0, "x", ("write", "x", 1), None, 0, 3, 0, (0, 3000)),
        (2, "x", ("read", "x"), 1, 5, 6, 5, (5000, 6000)),
        (3, "7", ("write", "7", (1, 2)), UNKNOWN, 7, None, 7, (7000, None)),
        (5, "x", ("cas", "x", 1, 3), True, 11, 12, 11, (11000, 12000)),
    ]
    res = check_history(h, "register")
    assert res.valid is True
    assert res.stats["skipped_client_ops"] == 1
    assert res.stats["partitions"] == 2


def test_register_stale_read_names_history_ops() -> None:
    h = H((0, "invoke", "write", ["x", 1]),
          (0, "ok", "write", ["x", 1]),
          (1, "invoke", "write", ["x", 2]),
          (1, "ok", "write", ["x", 2]),
          (2, "invoke", "read", ["x", None]),
          (2, "ok", "read", ["x", 1]))
    res = check_history(h, "register")
    assert res.valid is False
    (w,) = res.anomalies["nonlinearizable"]
    assert w["key"] == "x"
    assert w["ops"] == [4]  # the read's invocation index
    assert "op 4 (read('x') -> 1" in w["message"]
    json.dumps(res.to_json())


def test_kv_encoding() -> None:
    h = H((0, "invoke", "append", ["k", "a"]),
          (1, "invoke", "get", ["k", None]),
          (0, "ok", "append", ["k", "a"]),
          (1, "ok", "get", ["k", None]),
          (2, "invoke", "put", ["k", "zz"]),
          (2, "info", "put", ["k", "zz"]),
          (3, "invoke", "get", ["k", None]),
          (3, "ok", "get", ["k", "zz"]))
    ops, _ = from_history(h, "kv")
    assert [(o.input, o.output, o.ret) for o in ops] == [
        (("append", "k", "a"), None, 2),
        (("get", "k"), "", 3),
        (("put", "k", "zz"), UNKNOWN, None),
        (("get", "k"), "zz", 7),
    ]
    assert check_history(h, "kv").valid is True


def send(p: int, t: str, k: Any, v: Any) -> tuple[Any, ...]:
    return (p, t, "send", [["send", k, v]])


def test_log_encoding_splits_per_key_and_recovers_offsets() -> None:
    h = H((0, "invoke", "send", [["send", 1, 10], ["send", 2, 20]]),
          (0, "ok", "send", [["send", 1, [0, 10]], ["send", 2, [5, 20]]]),
          send(1, "invoke", 1, 11),
          send(1, "info", 1, 11),                         # offset recovered: 1
          send(2, "invoke", 1, 12),
          send(2, "info", 1, 12),                         # never read: dropped
          send(3, "invoke", 2, 21),
          send(3, "ok", 2, [None, 21]),                   # ok without offset, never read
          (4, "invoke", "poll", [["poll"]]),
          (4, "ok", "poll", [["poll", {"1": [[0, 10], [1, 11]], "2": []}]]),
          (5, "invoke", "txn", [["send", 1, 13], ["poll"]]),
          (5, "fail", "txn", [["send", 1, 13], ["poll"]]),
          (6, "invoke", "poll", [["poll"]]),
          (6, "info", "poll", [["poll"]]))
    ops, skipped = from_history(h, "log")
    assert skipped == 0
    got = [(o.client, o.key, o.input, o.output, o.ret) for o in ops]
    assert got == [
        (0, "1", ("log", "1", (("send", 10),)), (0,), 1),
        (0, "2", ("log", "2", (("send", 20),)), (5,), 1),
        (1, "1", ("log", "1", (("send", 11),)), (1,), None),
        (4, "1", ("log", "1", (("poll",),)), (((0, 10), (1, 11)),), 9),
    ]
    assert check_history(h, "log").valid is True


def test_log_catches_a_moved_record_and_order_against_real_time() -> None:
    base = [send(0, "invoke", "k", "a"), send(0, "ok", "k", [0, "a"]),
            send(1, "invoke", "k", "b"), send(1, "ok", "k", [1, "b"])]
    ok = H(*base, (2, "invoke", "poll", [["poll"]]),
           (2, "ok", "poll", [["poll", {"k": [[0, "a"], [1, "b"]]}]]))
    assert check_history(ok, "log").valid is True
    moved = H(*base, (2, "invoke", "poll", [["poll"]]),
              (2, "ok", "poll", [["poll", {"k": [[0, "b"]]}]]))
    assert check_history(moved, "log").valid is False
    # b acknowledged at an offset below a's although a finished before b started
    backwards = H(send(0, "invoke", "k", "a"), send(0, "ok", "k", [3, "a"]),
                  send(1, "invoke", "k", "b"), send(1, "ok", "k", [2, "b"]))
    res = check_history(backwards, "log")
    assert res.valid is False
    assert res.anomalies["nonlinearizable"][0]["ops"][0] == 2
    # a poll that sees a record before its send was invoked
    future = H((2, "invoke", "poll", [["poll"]]),
               (2, "ok", "poll", [["poll", {"k": [[0, "a"]]}]]),
               send(0, "invoke", "k", "a"), send(0, "ok", "k", [0, "a"]))
    assert check_history(future, "log").valid is False


@pytest.mark.parametrize(("model", "rows", "needle"), [
    ("register", [(0, "invoke", "write", 5)], "is not \\[key, value\\]"),
    ("register", [(0, "invoke", "cas", ["x", 5]), (0, "ok", "cas", ["x", 5])],
     "cas value 5 is not \\[old, new\\]"),
    ("register", [(0, "invoke", "write", [None, 5])], "a key must be"),
    ("kv", [(0, "invoke", "put", ["k", 5])], "a put of 5"),
    ("kv", [(0, "invoke", "get", ["k", None]), (0, "ok", "get", ["k", 5])], "a get read 5"),
    ("log", [(0, "invoke", "send", [["send", 1, 2]]), (0, "ok", "send", [["send", 1, 2]])],
     "has no \\[offset, value\\]"),
    ("log", [(0, "invoke", "poll", [["poll"]]), (0, "ok", "poll", [["poll", {"1": [[1]]}]])],
     "polled record"),
    ("log", [(0, "invoke", "send", [["send", 1, 2]]),
             (0, "ok", "send", [["send", 1, ["x", 2]]])], "send offset 'x'"),
    ("register", [(0, "invoke", "send", [["send", 1, 2]]),
                  (0, "ok", "send", [["send", 1, [0, 2]]])], "is --model right"),
])
def test_malformed_ops_are_history_errors(model: str, rows: list[tuple[Any, ...]],
                                          needle: str) -> None:
    with pytest.raises(HistoryError, match=needle) as ei:
        check_history(H(*rows), model)
    assert "op index" in str(ei.value) or "no register operations" in str(ei.value)


def test_model_without_history_encoding() -> None:
    from harness.checkers.linearizable import Model

    m = Model(name="custom", init=lambda: 0, step=lambda s, i, o: (True, s))
    with pytest.raises(UsageError, match="no history encoding"):
        from_history(H(), m)


def test_load_operations_jsonl_and_edn(tmp_path: Path) -> None:
    rows = [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "write",
             "value": ["x", 1]},
            {"index": 1, "time": 5, "process": 0, "type": "ok", "f": "write",
             "value": ["x", 1]},
            {"index": 2, "time": 9, "process": 1, "type": "invoke", "f": "read",
             "value": ["x", None]},
            {"index": 3, "time": 12, "process": 1, "type": "ok", "f": "read",
             "value": ["x", 1]}]
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ops = load_operations(p, "jsonl", "register")
    assert [o.input for o in ops] == [("write", "x", 1), ("read", "x")]
    e = tmp_path / "h.edn"
    e.write_text(
        "{:index 0, :time 0, :process 0, :type :invoke, :f :write, :value [\"x\" 1]}\n"
        "{:index 1, :time 5, :process 0, :type :ok, :f :write, :value [\"x\" 1]}\n"
        "{:index 2, :time 9, :process 1, :type :invoke, :f :read, :value [\"x\" nil]}\n"
        "{:index 3, :time 12, :process 1, :type :ok, :f :read, :value [\"x\" 2]}\n")
    ops = load_operations(e, "edn", "register")
    assert [o.output for o in ops] == [None, 2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "invoke"}\n')
    with pytest.raises(HistoryError):
        load_operations(bad, "jsonl", "register")


def test_check_file(tmp_path: Path) -> None:
    from harness.checkers.linearizable import check_file

    data = Path(__file__).resolve().parents[4] / "shared" / "data" / "porcupine"
    if data.is_dir():
        assert check_file(data / "jepsen" / "etcd_000.log").valid is False
        assert check_file(data / "kv" / "c01-ok.txt").valid is True
        with pytest.raises(UsageError, match="--model register"):
            check_file(data / "jepsen" / "etcd_000.log", "kv")
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps({"index": 0, "time": 0, "process": 0, "type": "invoke",
                             "f": "get", "value": ["k", None]}) + "\n"
                 + json.dumps({"index": 1, "time": 1, "process": 0, "type": "ok",
                               "f": "get", "value": ["k", "x"]}) + "\n")
    assert check_file(p, "kv").valid is False
    with pytest.raises(UsageError, match="needs --model"):
        check_file(p)
    with pytest.raises(HistoryError):
        check_file(tmp_path / "missing.jsonl", "kv")
