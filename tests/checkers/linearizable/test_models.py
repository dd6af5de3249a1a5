"""The built-in models' steps, as tables; keyed and per-key models agree."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.linearizable import ILLEGAL, KV, LOG, REGISTER, UNKNOWN, Model
from harness.checkers.linearizable._models import KV_1, LOG_1, REGISTER_1
from harness.checkers.linearizable._plog import EMPTY, from_records

L01 = from_records([(0, "a"), (1, "b")])

# (model, state, input, output, next state or ILLEGAL)
TABLE: list[tuple[Model, Any, tuple[Any, ...], Any, Any]] = [
    (REGISTER_1, None, ("read", None), None, None),
    (REGISTER_1, None, ("read", None), 0, ILLEGAL),
    (REGISTER_1, 1, ("read", None), True, ILLEGAL),  # 1 and True are different values
    (REGISTER_1, 1, ("read", None), UNKNOWN, 1),
    (REGISTER_1, 1, ("write", None, 2), None, 2),
    (REGISTER_1, 1, ("cas", None, 1, 2), True, 2),
    (REGISTER_1, 1, ("cas", None, 3, 2), True, ILLEGAL),
    (REGISTER_1, 1, ("cas", None, 3, 2), False, 1),
    (REGISTER_1, 1, ("cas", None, 1, 2), False, ILLEGAL),
    (REGISTER_1, 1, ("cas", None, 1, 2), UNKNOWN, 2),
    (REGISTER_1, 1, ("cas", None, 3, 2), UNKNOWN, 1),
    (KV_1, "", ("get", "k"), "", ""),
    (KV_1, "ab", ("get", "k"), "a", ILLEGAL),
    (KV_1, "ab", ("append", "k", "c"), None, "abc"),
    (KV_1, "ab", ("put", "k", "z"), None, "z"),
    (LOG_1, EMPTY, ("log", "k", (("send", "a"),)), (0,), from_records([(0, "a")])),
    (LOG_1, L01, ("log", "k", (("send", "c"),)), (1,), ILLEGAL),  # offsets only grow
    (LOG_1, L01, ("log", "k", (("send", "c"),)), (5,), from_records([(0, "a"), (1, "b"),
                                                                      (5, "c")])),
    (LOG_1, L01, ("log", "k", (("send", "c"),)), (None,), L01),  # offset unknown
    (LOG_1, L01, ("log", "k", (("poll",),)), (((1, "b"),),), L01),
    (LOG_1, L01, ("log", "k", (("poll",),)), (((1, "a"),),), ILLEGAL),
    (LOG_1, L01, ("log", "k", (("poll",),)), (((2, "c"),),), ILLEGAL),
    (LOG_1, L01, ("log", "k", (("send", "c"), ("send", "d"))), (2, 3),
     from_records([(0, "a"), (1, "b"), (2, "c"), (3, "d")])),
    (LOG_1, L01, ("log", "k", (("send", "c"), ("send", "d"))), (3, 2), ILLEGAL),
    (LOG_1, L01, ("log", "k", (("send", "c"), ("poll",))), (2, ((2, "c"),)),
     from_records([(0, "a"), (1, "b"), (2, "c")])),
]


@pytest.mark.parametrize(("model", "state", "inp", "out", "want"), TABLE)
def test_step(model: Model, state: Any, inp: tuple[Any, ...], out: Any, want: Any) -> None:
    ok, nxt = model.step(state, inp, out)
    assert (nxt if ok else ILLEGAL) == want
    assert model.compile_step is not None
    got = model.compile_step(inp, out)(state)
    assert got == want
    # the keyed model agrees on the same key
    keyed = {REGISTER_1: REGISTER, KV_1: KV, LOG_1: LOG}[model]
    default = model.init()
    pairs = () if state == default else ((inp[1], state),)
    ok, kn = keyed.step(pairs, inp, out)
    want_pairs = ILLEGAL if want is ILLEGAL else (
        () if want == default else ((inp[1], want),))
    assert (kn if ok else ILLEGAL) == want_pairs
    assert keyed.compile_step is not None
    assert keyed.compile_step(inp, out)(pairs) == want_pairs


def test_keyed_state_keeps_keys_sorted_and_drops_defaults() -> None:
    assert KV.compile_step is not None
    s: Any = ()
    for k, v in [("b", "1"), ("a", "2"), ("c", "3")]:
        s = KV.compile_step(("append", k, v), None)(s)
    assert s == (("a", "2"), ("b", "1"), ("c", "3"))
    s = KV.compile_step(("put", "b", ""), None)(s)
    assert s == (("a", "2"), ("c", "3"))
    assert KV.describe_state(s) == "{a: '2', c: '3'}"


def test_descriptions() -> None:
    assert REGISTER.describe_operation(("cas", "x", 1, 2), False) == "cas('x', 1, 2) -> fail"
    assert REGISTER_1.describe_operation(("read", None), None) == "read() -> nil"
    assert KV.describe_operation(("append", "k", "a"), None) == "append('k', 'a')"
    assert LOG_1.describe_operation(("log", "7", (("send", 5), ("poll",))),
                                    (3, ((3, 5),))) == "7: send(5) -> 3; poll() -> [3:5]"
    assert LOG_1.describe_state(L01) == "[0:'a', 1:'b']"


@pytest.mark.parametrize(("model", "ops_inputs", "i", "state", "done", "dead"), [
    # a read of 5 is dead once every writer of 5 is done
    (REGISTER_1, [(("write", None, 5), None), (("read", None), 5)], 1, 3, 0b01, True),
    (REGISTER_1, [(("write", None, 5), None), (("read", None), 5)], 1, 3, 0b00, False),
    # a get is dead if it does not extend the value and no put it extends is pending
    (KV_1, [(("get", "k"), "xy"), (("put", "k", "x"), None)], 0, "z", 0b10, True),
    (KV_1, [(("get", "k"), "xy"), (("put", "k", "x"), None)], 0, "z", 0b00, False),
    (KV_1, [(("get", "k"), "xy"), (("put", "k", "x"), None)], 0, "x", 0b10, False),
    # a poll is dead if the log already passed an offset it read differently
    (LOG_1, [(("log", "k", (("poll",),)), (((1, "z"),),))], 0, L01, 0, True),
    (LOG_1, [(("log", "k", (("poll",),)), (((2, "z"),),))], 0, L01, 0, False),
])
def test_dead_ends(model: Model, ops_inputs: list[tuple[Any, Any]], i: int, state: Any,
                   done: int, dead: bool) -> None:
    from harness.checkers.linearizable import Operation

    ops = [Operation(client=0, input=inp, output=out, call=j, ret=j + 1, key="k")
           for j, (inp, out) in enumerate(ops_inputs)]
    assert model.dead_end is not None
    f = model.dead_end(ops)
    assert f is not None
    assert f(i, state, done) is dead
