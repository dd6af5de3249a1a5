"""The search and the entry points on small hand-made histories."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.checkers.linearizable import (
    UNKNOWN,
    Model,
    Operation,
    _partition,
    check_operations,
)
from harness.checkers.linearizable._models import KV_1, REGISTER_1
from harness.checkers.linearizable._search import search
from harness.errors import HistoryError, UsageError
from tests.checkers.linearizable.brute import brute_force


def reg(client: int, kind: str, call: int, ret: int | None, *args: Any, out: Any = None,
        key: str | None = None, index: int | None = None) -> Operation:
    return Operation(client=client, input=(kind, key, *args), output=out, call=call, ret=ret,
                     key=key, index=index)


def test_register_examples() -> None:
    # write(1) spans [0, 100]; a read in [20, 80] sees 1, a later one in [30, 90] sees
    # nil: fine (the first read may go after the write, the second before it).
    ok = [reg(0, "write", 0, 100, 1), reg(1, "read", 20, 80, out=1),
          reg(2, "read", 30, 90, out=None)]
    assert check_operations(ok, "register").valid is True
    # but nil read after a read of 1 that returned before it started: not linearizable
    bad = [reg(0, "write", 0, 100, 1), reg(1, "read", 10, 20, out=1),
           reg(2, "read", 30, 90, out=None)]
    res = check_operations(bad, "register")
    assert res.valid is False
    (w,) = res.anomalies["nonlinearizable"]
    expl = w["explanation"]
    assert [expl["ops"][i]["description"] for i in expl["linearized"]] == [
        "write(1)", "read() -> 1"]
    assert expl["states"] == ["1", "1"]
    assert expl["blocking"] == 2
    assert expl["candidates"] == []
    assert expl["shortest_failing_prefix"] is True
    assert "the model rejects it in that state" in w["message"]
    # an overlapping write does not help: it is in the prefix (still running when the
    # read returned, it may or may not have taken effect) or a rejected candidate
    bad.append(reg(3, "write", 25, 95, 3))
    expl = check_operations(bad, "register").anomalies["nonlinearizable"][0]["explanation"]
    desc = [o["description"] for o in expl["ops"]]  # ops are in call order
    assert desc[expl["blocking"]] == "read() -> nil"
    assert [desc[i] for i in expl["linearized"]] == ["write(1)", "read() -> 1", "write(3)"]
    assert expl["states"] == ["1", "1", "3"]


def test_touching_intervals_overlap() -> None:
    # the read is called at the very time the write returns: they may go either way
    ops = [reg(0, "write", 0, 10, 5), reg(1, "read", 10, 20, out=None)]
    assert check_operations(ops, "register").valid is True
    ops = [reg(0, "write", 0, 10, 5), reg(1, "read", 11, 20, out=None)]
    assert check_operations(ops, "register").valid is False


def test_unknown_outcomes_may_happen_late_or_never() -> None:
    w = reg(0, "write", 0, None, 7, out=UNKNOWN)
    assert check_operations([w, reg(1, "read", 50, 60, out=None)], "register").valid is True
    assert check_operations([w, reg(1, "read", 50, 60, out=7)], "register").valid is True
    # ...but not before it was called
    late = reg(0, "write", 100, None, 7, out=UNKNOWN)
    assert check_operations([late, reg(1, "read", 50, 60, out=7)], "register").valid is False
    # an unknown cas takes effect only if its compare holds
    ops = [reg(0, "write", 0, 10, 1), reg(1, "cas", 20, None, 1, 2, out=UNKNOWN),
           reg(2, "read", 30, 40, out=2), reg(3, "read", 50, 60, out=2)]
    assert check_operations(ops, "register").valid is True
    ops[0] = reg(0, "write", 0, 10, 3)
    assert check_operations(ops, "register").valid is False


def test_failed_cas_observes_the_state() -> None:
    ops = [reg(0, "write", 0, 10, 1), reg(1, "cas", 20, 30, 1, 2, out=False)]
    assert check_operations(ops, "register").valid is False
    ops = [reg(0, "write", 0, 10, 1), reg(1, "cas", 20, 30, 9, 2, out=False)]
    assert check_operations(ops, "register").valid is True


def test_partitions_are_independent() -> None:
    ops = [reg(0, "write", 0, 10, 1, key="a"), reg(1, "read", 20, 30, out=None, key="b"),
           reg(2, "read", 40, 50, out=1, key="a")]
    res = check_operations(ops, "register")
    assert res.valid is True
    assert res.stats["partitions"] == 2
    ops.append(reg(3, "read", 60, 70, out=1, key="b"))
    res = check_operations(ops, "register")
    assert res.valid is False
    assert res.anomalies["nonlinearizable"][0]["key"] == "b"
    # unpartitioned, the keyed model gives the same verdicts
    assert check_operations(ops, "register", partition=False).valid is False
    assert check_operations(ops[:3], "register", partition=False).valid is True


def _lossy_step(state: int, inp: tuple[Any, ...], out: Any) -> list[int]:
    """A counter whose increments may be lost: ``("inc",)`` adds 1 or nothing;
    ``("get",)`` must read the value."""
    if inp[0] == "inc":
        return [state, state + 1]
    return [state] if out is UNKNOWN or out == state else []


LOSSY = Model(name="lossy", init=lambda: 0, step=_lossy_step, nondeterministic=True,
              describe_state=str)


def lossy(client: int, kind: str, call: int, ret: int, out: Any = None) -> Operation:
    return Operation(client=client, input=(kind,), output=out, call=call, ret=ret)


def test_nondeterministic_model() -> None:
    ops = [lossy(0, "inc", 0, 10), lossy(1, "inc", 20, 30), lossy(0, "get", 40, 50, 1),
           lossy(1, "inc", 60, 70), lossy(0, "get", 80, 90, 2)]
    assert check_operations(ops, LOSSY).valid is True
    assert brute_force(ops, LOSSY) is True
    # a count can be lost but never go back
    ops.append(lossy(1, "get", 100, 110, 1))
    res = check_operations(ops, LOSSY)
    assert res.valid is False
    assert brute_force(ops, LOSSY) is False
    expl = res.anomalies["nonlinearizable"][0]["explanation"]
    assert expl["blocking"] == 5
    # the state after the prefix is a set of possibilities
    assert expl["final_state"] in ("2", "one of {2 | 3}")


def _lossy_register_step(state: int, inp: tuple[Any, ...], out: Any) -> list[int]:
    """A register whose writes may be lost."""
    if inp[0] == "write":
        return [state, inp[1]]
    return [state] if out is UNKNOWN or out == state else []


LOSSY_REGISTER = Model(name="lossy-register", init=lambda: 0, step=_lossy_register_step,
                       nondeterministic=True, is_read_only=lambda inp, out: inp[0] == "read")


def test_reads_are_not_greedy_over_sets_of_states() -> None:
    # R (read 0) is legal at once, but taking it first would rule out the only
    # linearization: write 1 (kept), G reads 1, W0 (kept), then R reads 0
    ops = [lossy(0, "write", 0, 10), lossy(1, "read", 15, 100, 0),
           lossy(2, "read", 20, 30, 1), lossy(3, "write", 25, 35)]
    ops[0] = Operation(client=0, input=("write", 1), output=None, call=0, ret=10)
    ops[3] = Operation(client=3, input=("write", 0), output=None, call=25, ret=35)
    assert brute_force(ops, LOSSY_REGISTER) is True
    assert check_operations(ops, LOSSY_REGISTER).valid is True


def _list_step(state: list[int], inp: tuple[Any, ...], out: Any) -> tuple[bool, list[int]]:
    if inp[0] == "push":
        return True, [*state, inp[1]]
    return out == state, state


UNHASHABLE = Model(name="stack", init=list, step=_list_step, state_key=tuple)


def test_unhashable_states_use_the_state_key() -> None:
    ops = [Operation(client=0, input=("push", 1), output=None, call=0, ret=10),
           Operation(client=1, input=("push", 2), output=None, call=0, ret=10),
           Operation(client=2, input=("read",), output=[2, 1], call=20, ret=30)]
    assert check_operations(ops, UNHASHABLE).valid is True
    ops[2] = Operation(client=2, input=("read",), output=[1, 1], call=20, ret=30)
    assert check_operations(ops, UNHASHABLE).valid is False


#: The kv model without its dead-end pruning, which would decide `hard_kv` at once.
KV_UNPRUNED = replace(KV_1, name="kv-unpruned", dead_end=None)


def hard_kv(n: int = 9) -> list[Operation]:
    """n concurrent appends, then a get that matches no order: every order is tried."""
    ops = [Operation(client=i, input=("append", "k", f"<{i}>"), output=None, call=0,
                     ret=100, key="k") for i in range(n)]
    ops.append(Operation(client=n, input=("get", "k"), output="nope", call=200, ret=300,
                         key="k"))
    return ops


def test_timeout_gives_unknown() -> None:
    assert check_operations(hard_kv(), "kv", timeout_s=5).valid is False  # pruned: at once
    res = check_operations(hard_kv(), KV_UNPRUNED, timeout_s=0.05)
    assert res.valid == "unknown"
    assert res.stats["partitions_unknown"] == 1
    assert res.stats["unknown_partitions"] == {"k": "timeout"}
    assert "timed out after 0.05 s" in (res.error or "")
    assert not res.anomalies


def test_memory_cap_gives_unknown() -> None:
    res = check_operations(hard_kv(), KV_UNPRUNED, memory_cap=500)
    assert res.valid == "unknown"
    assert res.stats["unknown_partitions"] == {"k": "memory"}
    assert "memo cap of 500 entries" in (res.error or "")
    assert res.stats["memo_entries"] == 500


def test_small_hard_history_is_decided() -> None:
    res = check_operations(hard_kv(5), KV_UNPRUNED)
    assert res.valid is False


def test_search_reports_its_work() -> None:
    r = search(hard_kv(4), KV_UNPRUNED)
    assert r.verdict == "illegal"
    assert r.memo_entries > 4
    assert r.backtracks > 0
    assert r.stuck is not None and r.stuck.blocking == 4


def test_search_with_no_known_outcomes_is_ok() -> None:
    ops = [reg(0, "write", 0, None, 1, out=UNKNOWN)]
    assert search(ops, REGISTER_1).verdict == "ok"
    assert check_operations([], "kv").valid is True


def test_explanation_is_drawable() -> None:
    ops = [reg(0, "write", 0, 30, 1, index=0), reg(1, "write", 5, 40, 2, index=1),
           reg(2, "read", 45, 50, out=1, index=2), reg(0, "read", 55, 60, out=2, index=3),
           reg(1, "read", 65, 70, out=1, index=4)]
    res = check_operations(ops, "register")
    assert res.valid is False
    (w,) = res.anomalies["nonlinearizable"]
    expl = w["explanation"]
    assert expl["clients"] == [0, 1, 2]
    assert [o["call"] for o in expl["ops"]] == [0, 5, 45, 55, 65]
    assert [o["return"] for o in expl["ops"]] == [30, 40, 50, 60, 70]
    pts = expl["points"]
    assert pts == sorted(pts)
    for i, p in zip(expl["linearized"], pts):
        assert ops[i].call <= p <= (ops[i].ret or 0)
    assert len(expl["states"]) == len(expl["linearized"])
    assert w["ops"][0] == expl["ops"][expl["blocking"]]["index"]
    assert "no linearization exists" in w["message"]
    import json

    json.dumps(res.to_json())  # JSON-ready


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown linearizability model"):
        check_operations([], "queue")
    with pytest.raises(UsageError, match="timeout"):
        check_operations([], "kv", timeout_s=0)
    with pytest.raises(UsageError, match="memory cap"):
        check_operations([], "kv", memory_cap=0)
    with pytest.raises(UsageError, match="workers"):
        check_operations([], "kv", workers=0)
    with pytest.raises(HistoryError, match=r"returns .* before it is called"):
        check_operations([reg(0, "read", 10, 5, out=None)], "register")


def many_keys(n_keys: int, bad_key: int | None) -> list[Operation]:
    ops = []
    t = 0
    for k in range(n_keys):
        for j in range(30):
            ops.append(Operation(client=j % 3, input=("append", str(k), f"<{j}>"), output=None,
                                 call=t, ret=t + 5, key=str(k)))
            t += 4 if j % 2 else 6  # pairs of overlapping appends
        want = "".join(f"<{j}>" for j in range(30))
        if k == bad_key:
            want = want[:-4]
        ops.append(Operation(client=9, input=("get", str(k)), output=want, call=t + 10,
                             ret=t + 20, key=str(k)))
        t += 30
    return ops


@pytest.mark.parametrize("all_partitions", [False, True])
@pytest.mark.parametrize("when", ["upfront", "after-a-while"])
def test_worker_pool_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch,
                                            all_partitions: bool, when: str) -> None:
    if when == "upfront":
        monkeypatch.setattr(_partition, "POOL_MIN_OPS", 0)
    else:
        monkeypatch.setattr(_partition, "POOL_AFTER_S", 0.0)
    good = check_operations(many_keys(6, None), "kv", workers=2,
                            all_partitions=all_partitions)
    assert good.valid is True
    assert good.stats["worker_processes"] == 2
    assert good.stats["partitions_ok"] == 6
    bad = check_operations(many_keys(6, 4), "kv", workers=2, all_partitions=all_partitions)
    assert bad.valid is False
    assert bad.stats["worker_processes"] == 2
    assert [w["key"] for w in bad.anomalies["nonlinearizable"]] == ["4"]
    seq = check_operations(many_keys(6, 4), "kv", workers=1, all_partitions=all_partitions)
    assert seq.stats["worker_processes"] == 0
    assert seq.anomalies["nonlinearizable"][0]["message"] == \
        bad.anomalies["nonlinearizable"][0]["message"]
    if all_partitions:
        assert bad.stats["partitions_ok"] == 5


def test_default_memory_cap_shrinks_for_big_partitions() -> None:
    from harness.checkers.linearizable._check import DEFAULT_MEMORY_CAP, default_memory_cap

    assert default_memory_cap(200) == DEFAULT_MEMORY_CAP
    assert default_memory_cap(20_000) < DEFAULT_MEMORY_CAP // 2
    assert default_memory_cap(10 ** 9) == 1000
    res = check_operations(hard_kv(), KV_UNPRUNED, timeout_s=0.05)
    assert res.stats["memory_cap"] == DEFAULT_MEMORY_CAP
