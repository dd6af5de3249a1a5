"""Random histories, legal or not, agree with the brute-force checker.

Each is a random sequential execution of the model, with zero to two observations
changed at random (a read's value, a cas's result, a polled record, a send's
offset), stretched into overlapping intervals; some writes get an unknown outcome.
About half come out non-linearizable. Partitioned and unpartitioned checks must
both give the brute-force verdict.
"""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers.linearizable import UNKNOWN, Model, Operation, check_operations
from harness.checkers.linearizable._models import KV_1, LOG_1, REGISTER_1
from tests.checkers.linearizable.brute import brute_force

PER_KEY = {"register": REGISTER_1, "kv": KV_1, "log": LOG_1}


def random_history(rnd: random.Random, model: str, n: int) -> list[Operation]:
    clients = [rnd.randrange(4) for _ in range(n)]
    state: Any = None if model == "register" else ("" if model == "kv" else [])
    seq: list[list[Any]] = []
    for i in range(n):
        r = rnd.random()
        inp: tuple[Any, ...]
        if model == "register":
            if r < 0.4:
                inp, out = ("read", "k"), state
            elif r < 0.7:
                inp, out = ("write", "k", rnd.randrange(4)), None
                state = inp[2]
            else:
                old, new = rnd.choice([state, rnd.randrange(4)]), rnd.randrange(4)
                ok = old == state and type(old) is type(state)
                inp, out = ("cas", "k", old, new), ok
                if ok:
                    state = new
        elif model == "kv":
            if r < 0.45:
                inp, out = ("get", "k"), state
            elif r < 0.55:
                inp, out = ("put", "k", rnd.choice("ab")), None
                state = inp[2]
            else:
                inp, out = ("append", "k", rnd.choice("abc")), None
                state = state + inp[2]
        elif r < 0.5 or not state:
            off = (state[-1][0] if state else -1) + rnd.choice([1, 1, 2])
            state = [*state, (off, i)]
            inp, out = ("log", "k", (("send", i),)), (off,)
        else:
            a = rnd.randrange(len(state))
            b = min(len(state), a + rnd.randrange(1, 4))
            inp, out = ("log", "k", (("poll",),)), (tuple(state[a:b]),)
        seq.append([inp, out])
    for _ in range(rnd.choice([0, 1, 1, 2])):
        j = rnd.randrange(n)
        inp, out = seq[j]
        if inp[0] == "read":
            seq[j][1] = rnd.choice([None, 0, 1, 2, 3])
        elif inp[0] == "cas":
            seq[j][1] = not out
        elif inp[0] == "get":
            seq[j][1] = "".join(rnd.choice("abc") for _ in range(rnd.randrange(4)))
        elif inp[0] == "log" and inp[2][0][0] == "poll":
            pairs = list(out[0])
            k = rnd.randrange(len(pairs))
            pairs[k] = (pairs[k][0], rnd.randrange(n))
            seq[j][1] = (tuple(pairs),)
        elif inp[0] == "log":
            seq[j][1] = (out[0] + rnd.choice([-1, 1]),)
    ops = []
    last: dict[int, int] = {}
    for i, (inp, out) in enumerate(seq):
        c = clients[i]
        p = 100 * i + 50
        call = rnd.randint(min(last.get(c, -1) + 1, p), p)
        later = [100 * j + 50 for j in range(i + 1, n) if clients[j] == c]
        ret = rnd.randint(p, min(later[0] - 1, p + 300) if later else p + 300)
        last[c] = ret
        if rnd.random() < 0.15 and inp[0] in ("write", "cas", "put", "append"):
            ops.append(Operation(client=c, input=inp, output=UNKNOWN, call=call, ret=None,
                                 key="k"))
        elif rnd.random() < 0.15 and inp[0] == "log" and inp[2][0][0] == "send":
            # a send whose ack was lost but whose offset is known (read by a poll)
            ops.append(Operation(client=c, input=inp, output=out, call=call, ret=None,
                                 key="k"))
        else:
            ops.append(Operation(client=c, input=inp, output=out, call=call, ret=ret, key="k"))
    return ops


@settings(max_examples=int(os.environ.get("LIN_EXAMPLES", "400")), deadline=None)
@given(st.sampled_from(["register", "kv", "log"]), st.integers(2, 14),
       st.integers(0, 2 ** 32 - 1))
def test_agrees_with_brute_force(model: str, n: int, seed: int) -> None:
    ops = random_history(random.Random(seed), model, n)
    expected = brute_force(ops, PER_KEY[model])
    assert check_operations(ops, model).valid is expected
    assert check_operations(ops, model, partition=False).valid is expected


def _lossy_step(state: int, inp: tuple[Any, ...], out: Any) -> list[int]:
    """A register whose writes may be lost (nondeterministic)."""
    if inp[0] == "write":
        return [state, inp[1]]
    return [state] if out is UNKNOWN or out == state else []


LOSSY = Model(name="lossy", init=lambda: 0, step=_lossy_step, nondeterministic=True,
              is_read_only=lambda inp, out: inp[0] == "read", describe_state=str)


@settings(max_examples=int(os.environ.get("LIN_EXAMPLES", "400")), deadline=None)
@given(st.integers(2, 12), st.integers(0, 2 ** 32 - 1))
def test_nondeterministic_model_agrees_with_brute_force(n: int, seed: int) -> None:
    rnd = random.Random(seed)
    state = 0
    seq: list[tuple[tuple[Any, ...], Any]] = []
    for _ in range(n):
        if rnd.random() < 0.5:
            seq.append((("read",), state if rnd.random() < 0.85 else rnd.randrange(3)))
        else:
            v = rnd.randrange(3)
            if rnd.random() < 0.7:
                state = v
            seq.append((("write", v), None))
    clients = [rnd.randrange(3) for _ in range(n)]
    ops = []
    last: dict[int, int] = {}
    for i, (inp, out) in enumerate(seq):
        c = clients[i]
        p = 100 * i + 50
        call = rnd.randint(min(last.get(c, -1) + 1, p), p)
        later = [100 * j + 50 for j in range(i + 1, n) if clients[j] == c]
        ret = rnd.randint(p, min(later[0] - 1, p + 300) if later else p + 300)
        last[c] = ret
        ops.append(Operation(client=c, input=inp, output=out, call=call, ret=ret))
    assert check_operations(ops, LOSSY).valid is brute_force(ops, LOSSY)
