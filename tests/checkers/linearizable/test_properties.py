"""Generated histories: linearizable by construction, and one mutation away from not.

A random sequential execution of a model is drawn, each operation at its own point
in time; each operation is then stretched into a random interval around its point
that does not overlap its client's previous or next one. Such a history is
linearizable (the points are a linearization). Changing one observation so that the
operation can never be placed (a stale read, a lost append, a reordered pair of log
records) makes it non-linearizable, and the explanation must name that operation.
Small histories are also cross-checked against the brute-force checker.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.checkers.linearizable import (
    KV,
    LOG,
    REGISTER,
    UNKNOWN,
    Operation,
    check_history,
    check_operations,
    from_history,
)
from harness.history import History, Op
from tests.checkers.linearizable.brute import brute_force

#: LIN_EXAMPLES=1000 for a longer hunt.
SETTINGS = settings(max_examples=int(os.environ.get("LIN_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
BRUTE_MAX_OPS = 9


def stretch(draw: st.DrawFn, clients: list[int]) -> list[tuple[int, int]]:
    """Random (call, return) intervals around points 100*i for operations i run by
    ``clients[i]``, never overlapping the same client's neighbours."""
    n = len(clients)
    iv: list[tuple[int, int]] = [(0, 0)] * n
    last_ret: dict[int, int] = {}
    nxt_point: list[int] = [10 ** 9] * n
    by_client: dict[int, int] = {}
    for i in reversed(range(n)):
        c = clients[i]
        if c in by_client:
            nxt_point[i] = 100 * by_client[c]
        by_client[c] = i
    for i, c in enumerate(clients):
        p = 100 * i + 50
        lo = last_ret.get(c, -1) + 1
        call = draw(st.integers(min(lo, p), p))
        hi = min(nxt_point[i] + 49, p + 1000)
        ret = draw(st.integers(p, hi))
        iv[i] = (call, ret)
        last_ret[c] = ret
    return iv


# -- register ------------------------------------------------------------------------


@st.composite
def register_histories(draw: st.DrawFn) -> tuple[list[Operation], list[dict[str, Any]]]:
    n = draw(st.integers(1, 22))
    keys = draw(st.sampled_from([["a"], ["a", "b"]]))
    clients = [draw(st.integers(0, 3)) for _ in range(n)]
    state: dict[str, Any] = {}
    writer: dict[str, int] = {}  # key -> the op that wrote its current value
    seq: list[dict[str, Any]] = []
    fresh = 0
    for i in range(n):
        k = draw(st.sampled_from(keys))
        cur = state.get(k)
        before_by = writer.get(k, -1)
        kind = draw(st.sampled_from(["read", "read", "write", "cas"]))
        if kind == "read":
            seq.append({"inp": ("read", k), "out": cur, "key": k, "before": cur})
        elif kind == "write":
            fresh += 1
            seq.append({"inp": ("write", k, fresh), "out": None, "key": k, "before": cur})
            state[k] = fresh
            writer[k] = i
        else:
            fresh += 1
            old = cur if draw(st.booleans()) else -fresh
            ok = old == cur and type(old) is type(cur)
            seq.append({"inp": ("cas", k, old, fresh), "out": ok, "key": k, "before": cur})
            if ok:
                state[k] = fresh
                writer[k] = i
        seq[-1]["i"] = i
        seq[-1]["before_by"] = before_by
    iv = stretch(draw, clients)
    ops = []
    for i, s in enumerate(seq):
        unknown = s["inp"][0] != "read" and draw(st.integers(0, 5)) == 0
        ops.append(Operation(client=clients[i], input=s["inp"],
                             output=UNKNOWN if unknown else s["out"], call=iv[i][0],
                             ret=None if unknown else iv[i][1], key=s["key"], index=i))
        s["call"], s["ret"] = iv[i]
    return ops, seq


def _stale_read(ops: list[Operation], seq: list[dict[str, Any]]) -> tuple[int, Any] | None:
    """A read and a value its key held before a write that returned before the read
    was called (write values are unique, so that value never comes back). The value's
    own writer must have returned before that write was called (else the two may be
    linearized the other way round), and not be of unknown outcome (it could take
    effect late)."""
    for r in seq:
        if r["inp"][0] != "read":
            continue
        for w in seq:
            if (w["key"] == r["key"] and w["i"] < r["i"] and ops[w["i"]].ret is not None
                    and w["ret"] < r["call"] and w["inp"][0] in ("write", "cas")
                    and (w["inp"][0] == "write" or w["out"])
                    and w["before"] != r["out"]
                    and (w["before_by"] < 0 or (ops[w["before_by"]].ret is not None
                                                and seq[w["before_by"]]["ret"] < w["call"]))):
                return r["i"], w["before"]
    return None


@SETTINGS
@given(register_histories())
def test_register_generated_histories_are_linearizable(h: Any) -> None:
    ops, _ = h
    res = check_operations(ops, "register", timeout_s=20)
    assert res.valid is True, res.to_json()
    assert check_operations(ops, "register", partition=False).valid is True
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(ops, REGISTER) is True


@SETTINGS
@given(register_histories())
def test_register_stale_read_is_caught_and_named(h: Any) -> None:
    ops, seq = h
    found = _stale_read(ops, seq)
    assume(found is not None)
    assert found is not None
    i, stale = found
    bad = list(ops)
    bad[i] = replace(ops[i], output=stale)
    res = check_operations(bad, "register", timeout_s=20)
    assert res.valid is False
    assert check_operations(bad, "register", partition=False).valid is False
    (w,) = res.anomalies["nonlinearizable"]
    assert i in w["ops"], w["message"]
    assert f"op {i} " in w["message"]
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(bad, REGISTER) is False


# -- kv --------------------------------------------------------------------------------


@st.composite
def kv_histories(draw: st.DrawFn) -> tuple[list[Operation], list[dict[str, Any]]]:
    n = draw(st.integers(1, 22))
    keys = draw(st.sampled_from([["a"], ["a", "b"]]))
    clients = [draw(st.integers(0, 3)) for _ in range(n)]
    state: dict[str, str] = {}
    seq: list[dict[str, Any]] = []
    for i in range(n):
        k = draw(st.sampled_from(keys))
        if draw(st.booleans()):
            seq.append({"inp": ("get", k), "out": state.get(k, ""), "key": k, "i": i})
        else:
            tok = f"<{i}>"
            seq.append({"inp": ("append", k, tok), "out": None, "key": k, "i": i})
            state[k] = state.get(k, "") + tok
    iv = stretch(draw, clients)
    ops = []
    for i, s in enumerate(seq):
        unknown = s["inp"][0] == "append" and draw(st.integers(0, 6)) == 0
        s["call"], s["ret"] = iv[i]
        s["unknown"] = unknown
        ops.append(Operation(client=clients[i], input=s["inp"],
                             output=UNKNOWN if unknown else s["out"], call=iv[i][0],
                             ret=None if unknown else iv[i][1], key=s["key"], index=i))
    return ops, seq


@SETTINGS
@given(kv_histories())
def test_kv_generated_histories_are_linearizable(h: Any) -> None:
    ops, _ = h
    assert check_operations(ops, "kv", timeout_s=20).valid is True
    assert check_operations(ops, "kv", partition=False).valid is True
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(ops, KV) is True


@SETTINGS
@given(kv_histories(), st.data())
def test_kv_lost_append_is_caught_and_named(h: Any, data: st.DataObject) -> None:
    ops, seq = h
    pairs = [(g["i"], a["inp"][2]) for g in seq if g["inp"][0] == "get"
             for a in seq if a["inp"][0] == "append" and a["key"] == g["key"]
             and not a["unknown"] and a["ret"] < g["call"]]
    assume(pairs)
    i, tok = data.draw(st.sampled_from(pairs))
    assert tok in ops[i].output
    bad = list(ops)
    bad[i] = replace(ops[i], output=ops[i].output.replace(tok, ""))
    res = check_operations(bad, "kv", timeout_s=20)
    assert res.valid is False
    assert check_operations(bad, "kv", partition=False).valid is False
    (w,) = res.anomalies["nonlinearizable"]
    assert i in w["ops"], w["message"]
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(bad, KV) is False


# -- log (through our history encoding) ----------------------------------------------


@st.composite
def log_histories(draw: st.DrawFn) -> tuple[list[Op], list[dict[str, Any]]]:
    """A kafka-style history (send / poll ops as `Op` records) and its sequence."""
    n = draw(st.integers(1, 20))
    keys = draw(st.sampled_from([["7"], ["7", "8"]]))
    clients = [draw(st.integers(0, 3)) for _ in range(n)]
    logs: dict[str, list[tuple[int, int]]] = {k: [] for k in keys}
    seq: list[dict[str, Any]] = []
    for i in range(n):
        k = draw(st.sampled_from(keys))
        log = logs[k]
        if not log or draw(st.booleans()):
            gap = draw(st.sampled_from([0, 0, 0, 1]))
            off = (log[-1][0] + 1 + gap) if log else gap
            v = 1000 + i
            log.append((off, v))
            seq.append({"f": "send", "key": k, "off": off, "v": v, "i": i})
        else:
            a = draw(st.integers(0, len(log) - 1))
            b = draw(st.integers(a, min(len(log), a + 4)))
            seq.append({"f": "poll", "key": k, "pairs": [list(p) for p in log[a:b]], "i": i})
    iv = stretch(draw, clients)
    events: list[tuple[int, int, Op]] = []
    for i, s in enumerate(seq):
        call, ret = iv[i]
        s["call"], s["ret"] = call, ret
        c = clients[i]
        if s["f"] == "send":
            inv = ["send", s["key"], s["v"]]
            done = ["send", s["key"], [s["off"], s["v"]]]
        else:
            inv = ["poll"]
            done = ["poll", {s["key"]: s["pairs"]}]
        typ = "ok"
        if s["f"] == "send" and draw(st.integers(0, 6)) == 0:
            typ = "info"
            done = inv
        s["type"] = typ
        events.append((call, 0, Op(index=0, time=call, process=c, type="invoke", f=s["f"],
                                   value=[inv])))
        events.append((ret, 1, Op(index=0, time=ret, process=c, type=typ, f=s["f"],
                                  value=[done])))
    events.sort(key=lambda e: (e[0], e[1]))
    hops = [replace_index(op, j) for j, (_, _, op) in enumerate(events)]
    return hops, seq


def replace_index(op: Op, j: int) -> Op:
    import msgspec

    return msgspec.structs.replace(op, index=j)


def _poll_ok(hops: list[Op], i: int, seq: list[dict[str, Any]]) -> int:
    """Position in ``hops`` of the completion of sequence op ``i``."""
    s = seq[i]
    for j, op in enumerate(hops):
        if op.time == s["ret"] and op.type != "invoke" and op.f == s["f"] and \
                op.process is not None and j > 0:
            return j
    raise AssertionError("completion not found")


@SETTINGS
@given(log_histories())
def test_log_generated_histories_are_linearizable(h: Any) -> None:
    hops, _ = h
    history = History.of(hops)
    res = check_history(history, "log", timeout_s=20)
    assert res.valid is True, res.to_json()
    ops, _ = from_history(history, "log")
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(ops, LOG) is True


@SETTINGS
@given(log_histories(), st.data())
def test_log_reordered_pair_or_lost_record_is_caught_and_named(h: Any,
                                                                data: st.DataObject) -> None:
    hops, seq = h
    polls = [s for s in seq if s["f"] == "poll" and s["pairs"]]
    assume(polls)
    p = data.draw(st.sampled_from(polls))
    pairs = [list(x) for x in p["pairs"]]
    # swapping needs both offsets acknowledged: offsets of info sends are only known
    # from polls, so a swap there is just another consistent story
    acked = {s["v"] for s in seq if s["f"] == "send" and s["type"] == "ok"}
    swappable = [(x, y) for x in range(len(pairs)) for y in range(x + 1, len(pairs))
                 if pairs[x][1] in acked and pairs[y][1] in acked]
    swap = data.draw(st.booleans()) if swappable else False
    if swap:
        a, b = data.draw(st.sampled_from(swappable))
        pairs[a][1], pairs[b][1] = pairs[b][1], pairs[a][1]  # reordered pair
    else:
        c = data.draw(st.integers(0, len(pairs) - 1))
        pairs[c][1] = -1  # the record at that offset was lost and replaced
    j = _poll_ok(hops, p["i"], seq)
    comp = hops[j]
    bad = list(hops)
    bad[j] = Op(index=comp.index, time=comp.time, process=comp.process, type=comp.type,
                f=comp.f, value=[["poll", {p["key"]: pairs}]])
    history = History.of(bad)
    res = check_history(history, "log", timeout_s=20)
    assert res.valid is False
    (w,) = res.anomalies["nonlinearizable"]
    inv_index = history.partner[j]
    assert inv_index in w["ops"], w["message"]
    ops, _ = from_history(history, "log")
    if len(ops) <= BRUTE_MAX_OPS:
        assert brute_force(ops, LOG) is False
