"""The built-in models: ``register``, ``kv`` and ``log``.

Each is a keyed object: the state is a tuple of ``(key, value)`` pairs sorted by key,
holding only keys whose value differs from the initial one, so that unpartitioned the
model checks all keys at once (what Porcupine's "no partitioning" benchmarks measure).
Partitioned by key (the default), each partition is checked with the model's
``per_key`` model, whose state is the key's value alone.

Inputs and outputs (``key`` may be None for a single anonymous object):

``register`` (initial value None, Jepsen's cas-register)
  ``("read", key)`` -> the value read; ``("write", key, v)`` -> None;
  ``("cas", key, old, new)`` -> True (swapped) or False (the compare failed).

``kv`` (initial value ``""``, Porcupine's key-value store)
  ``("get", key)`` -> the string read; ``("put", key, s)`` -> None;
  ``("append", key, s)`` -> None (concatenates).

``log`` (initial value: the empty log, a persistent `PLog`; one Kafka partition per key)
  ``("log", key, mops)`` where ``mops`` is a tuple of ``("send", value)`` and
  ``("poll",)`` micro-ops, in the order the client performed them. The output is a
  tuple aligned with ``mops``: for a send, the offset it was given (None if unknown);
  for a poll, a tuple of ``(offset, value)`` pairs read from this key. A send with a
  known offset must land after every offset already in the log (offsets grow; gaps
  are allowed, as transaction markers and compaction leave them); a poll must find
  each pair it read in the log. So a read of an offset that was never written, a
  value that moved (a lost or overwritten append), a write that became visible and
  then vanished, and appends ordered against real time are all non-linearizable.
  A send whose offset is unknown and was never read constrains nothing and is
  dropped before the search (`harness.checkers.linearizable._from_history`
  recovers unknown offsets from polls).

Any output may be `UNKNOWN` (the operation's outcome was not observed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from harness.checkers.linearizable._model import ILLEGAL, UNKNOWN, Model, Operation
from harness.checkers.linearizable._plog import EMPTY, PLog

Pairs = tuple[tuple[Any, Any], ...]
Step1 = Callable[[Any, tuple[Any, ...], Any], tuple[bool, Any]]


def _get(state: Pairs, key: Any, default: Any) -> Any:
    for k, v in state:
        if k == key:
            return v
    return default


def _put(state: Pairs, key: Any, value: Any, default: Any) -> Pairs:
    """``state`` with ``key`` set to ``value`` (removed when it is the default)."""
    out = [kv for kv in state if kv[0] != key]
    if value != default or type(value) is not type(default):
        out.append((key, value))
        if len(out) > 1:
            out.sort(key=lambda kv: (kv[0] is not None, kv[0]))
    return tuple(out)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (so that 1, 1.0 and True stay distinct)."""
    return a == b and type(a) is type(b)


def _keyed(step1: Step1, default: Any) -> Callable[[Pairs, tuple[Any, ...], Any],
                                                    tuple[bool, Pairs]]:
    def step(state: Pairs, inp: tuple[Any, ...], out: Any) -> tuple[bool, Pairs]:
        key = inp[1]
        cur = _get(state, key, default)
        ok, nxt = step1(cur, inp, out)
        if not ok or nxt is cur:
            return ok, state
        return True, _put(state, key, nxt, default)
    return step


def _keyed_compile(comp1: Callable[[tuple[Any, ...], Any], Callable[[Any], Any]],
                   default: Any) -> Callable[[tuple[Any, ...], Any], Callable[[Pairs], Any]]:
    """``compile_step`` for a keyed model from the per-key one (same result as
    `_keyed`, without building intermediate lists)."""
    dtype = type(default)

    def compile_step(inp: tuple[Any, ...], out: Any) -> Callable[[Pairs], Any]:
        f1 = comp1(inp, out)
        key = inp[1]
        kk = (key is not None, key)

        def f(state: Pairs) -> Any:
            i = 0
            for k, v in state:
                if k == key:
                    nv = f1(v)
                    if nv is ILLEGAL or nv is v:
                        return nv if nv is ILLEGAL else state
                    if nv == default and type(nv) is dtype:
                        return state[:i] + state[i + 1:]
                    return (*state[:i], (key, nv), *state[i + 1:])
                if (k is not None, k) > kk:
                    break
                i += 1
            nv = f1(default)
            if nv is ILLEGAL:
                return nv
            if nv == default and type(nv) is dtype:
                return state
            return (*state[:i], (key, nv), *state[i:])
        return f
    return compile_step


def _keyed_dead_end(
        per_key: Callable[[Sequence[Operation]], Callable[[int, Any, int], bool]],
        default: Any) -> Callable[[Sequence[Operation]], Callable[[int, Pairs, int], bool]]:
    """``dead_end`` for a keyed model: the per-key rule on the key's value (the
    per-key rules only count operations on the same key as rescuers)."""
    def build(ops: Sequence[Operation]) -> Callable[[int, Pairs, int], bool]:
        f = per_key(ops)

        def dead(i: int, state: Pairs, done: int) -> bool:
            return f(i, _get(state, ops[i].input[1], default), done)
        return dead
    return build


def _describe_keyed(default: Any, one: Callable[[Any], str]) -> Callable[[Pairs], str]:
    def describe(state: Pairs) -> str:
        if not state:
            return one(default)
        if len(state) == 1 and state[0][0] is None:
            return one(state[0][1])
        return "{" + ", ".join(f"{k}: {one(v)}" for k, v in state) + "}"
    return describe


def _pairs_init() -> Pairs:
    return ()


def _keyprefix(key: Any) -> str:
    return "" if key is None else f"{key!r}, "


# -- register ------------------------------------------------------------------------


def _register_step1(cur: Any, inp: tuple[Any, ...], out: Any) -> tuple[bool, Any]:
    kind = inp[0]
    if kind == "read":
        return (out is UNKNOWN or _same(out, cur)), cur
    if kind == "write":
        return True, inp[2]
    if kind == "cas":
        matches = _same(cur, inp[2])
        if out is UNKNOWN:
            return True, (inp[3] if matches else cur)
        if out:
            return matches, (inp[3] if matches else cur)
        return (not matches), cur
    raise ValueError(f"register: unknown input {inp!r}")


def _register_compile(inp: tuple[Any, ...], out: Any) -> Callable[[Any], Any]:
    kind = inp[0]
    if kind == "read":
        if out is UNKNOWN:
            return lambda cur: cur
        t = type(out)
        return lambda cur: cur if (cur == out and type(cur) is t) else ILLEGAL
    if kind == "write":
        v = inp[2]
        return lambda cur: v
    old, new = inp[2], inp[3]
    t = type(old)
    if out is UNKNOWN:
        return lambda cur: new if (cur == old and type(cur) is t) else cur
    if out:
        return lambda cur: new if (cur == old and type(cur) is t) else ILLEGAL
    return lambda cur: ILLEGAL if (cur == old and type(cur) is t) else cur


def _register_describe_op(inp: tuple[Any, ...], out: Any) -> str:
    kind = inp[0]
    kp = _keyprefix(inp[1])
    if kind == "read":
        shown = "?" if out is UNKNOWN else ("nil" if out is None else repr(out))
        return f"read({kp.rstrip(', ')}) -> {shown}"
    if kind == "write":
        return f"write({kp}{inp[2]!r})"
    ret = "unknown" if out is UNKNOWN else ("ok" if out else "fail")
    return f"cas({kp}{inp[2]!r}, {inp[3]!r}) -> {ret}"


def _register_value(v: Any) -> str:
    return "nil" if v is None else repr(v)


def _register_read_only(inp: tuple[Any, ...], out: Any) -> bool:
    return inp[0] == "read" or (inp[0] == "cas" and out is False)


def _none() -> None:
    return None


def _register_dead_end(ops: Sequence[Operation]) -> Callable[[int, Any, int], bool]:
    """A read of v (illegal now) is dead once every operation that could write v has
    been linearized; a failed cas once every operation that could write has."""
    writers: dict[Any, int] = {}  # (key, type, value) -> bits of ops that write it
    any_writer: dict[Any, int] = {}  # key -> bits of ops that write it
    for j, op in enumerate(ops):
        inp = op.input
        if inp[0] == "write" or (inp[0] == "cas" and op.output is not False):
            v = inp[2] if inp[0] == "write" else inp[3]
            wk = (inp[1], type(v), v) if _hashable(v) else (inp[1], None)
            writers[wk] = writers.get(wk, 0) | (1 << j)
            any_writer[inp[1]] = any_writer.get(inp[1], 0) | (1 << j)
    rescue = [0] * len(ops)
    for i, op in enumerate(ops):
        key = op.input[1]
        if op.input[0] == "read" and op.output is not UNKNOWN:
            v = op.output
            if not _hashable(v):
                rescue[i] = any_writer.get(key, 0)
            else:
                rescue[i] = (writers.get((key, type(v), v), 0)
                             | writers.get((key, None), 0))
        else:
            rescue[i] = any_writer.get(key, 0)

    def dead(i: int, state: Any, done: int) -> bool:
        return not rescue[i] & ~done
    return dead


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


REGISTER_1: Final = Model(
    name="register",
    init=_none,
    step=_register_step1,
    compile_step=_register_compile,
    dead_end=_register_dead_end,
    describe_operation=_register_describe_op,
    describe_state=_register_value,
    is_read_only=_register_read_only,
)

REGISTER: Final = Model(
    name="register",
    init=_pairs_init,
    step=_keyed(_register_step1, None),
    compile_step=_keyed_compile(_register_compile, None),
    dead_end=_keyed_dead_end(_register_dead_end, None),
    describe_operation=_register_describe_op,
    describe_state=_describe_keyed(None, _register_value),
    is_read_only=_register_read_only,
    per_key=REGISTER_1,
)


# -- kv ------------------------------------------------------------------------------


def _kv_step1(cur: str, inp: tuple[Any, ...], out: Any) -> tuple[bool, str]:
    kind = inp[0]
    if kind == "get":
        return (out is UNKNOWN or out == cur), cur
    if kind == "put":
        return True, inp[2]
    if kind == "append":
        return True, cur + inp[2]
    raise ValueError(f"kv: unknown input {inp!r}")


def _kv_compile(inp: tuple[Any, ...], out: Any) -> Callable[[Any], Any]:
    kind = inp[0]
    if kind == "get":
        if out is UNKNOWN:
            return lambda cur: cur
        return lambda cur: cur if cur == out else ILLEGAL
    v = inp[2]
    if kind == "put":
        return lambda cur: v
    return lambda cur: cur + v


def _kv_describe_op(inp: tuple[Any, ...], out: Any) -> str:
    kind = inp[0]
    if kind == "get":
        shown = "?" if out is UNKNOWN else repr(out)
        return f"get({inp[1]!r}) -> {shown}"
    return f"{kind}({inp[1]!r}, {inp[2]!r})"


def _kv_read_only(inp: tuple[Any, ...], out: Any) -> bool:
    return inp[0] == "get"


def _empty_str() -> str:
    return ""


def _kv_dead_end(ops: Sequence[Operation]) -> Callable[[int, Any, int], bool]:
    """A get of s (illegal now) is dead if s does not extend the current value and
    every put whose value s extends has been linearized: appends only lengthen."""
    puts = [(j, op.input[1], op.input[2]) for j, op in enumerate(ops) if op.input[0] == "put"]
    rescue = [0] * len(ops)
    for i, op in enumerate(ops):
        if op.input[0] == "get" and isinstance(op.output, str):
            o = op.output
            for j, key, p in puts:
                if key == op.input[1] and o.startswith(p):
                    rescue[i] |= 1 << j

    def dead(i: int, state: Any, done: int) -> bool:
        out: str = ops[i].output
        return not out.startswith(state) and not rescue[i] & ~done
    return dead


KV_1: Final = Model(
    name="kv",
    init=_empty_str,
    step=_kv_step1,
    compile_step=_kv_compile,
    dead_end=_kv_dead_end,
    describe_operation=_kv_describe_op,
    describe_state=repr,
    is_read_only=_kv_read_only,
)

KV: Final = Model(
    name="kv",
    init=_pairs_init,
    step=_keyed(_kv_step1, ""),
    compile_step=_keyed_compile(_kv_compile, ""),
    dead_end=_keyed_dead_end(_kv_dead_end, ""),
    describe_operation=_kv_describe_op,
    describe_state=_describe_keyed("", repr),
    is_read_only=_kv_read_only,
    per_key=KV_1,
)


# -- log -----------------------------------------------------------------------------

def _log_step1(log0: PLog, inp: tuple[Any, ...], out: Any) -> tuple[bool, PLog]:
    log = log0
    for i, mop in enumerate(inp[2]):
        o = UNKNOWN if out is UNKNOWN else out[i]
        if o is None or o is UNKNOWN:
            continue
        if mop[0] == "send":
            if log.n and log.off >= o:
                return False, log0
            log = log.append(o, mop[1])
        else:
            for off, val in o:
                node = log.find(off)
                if node is None or node.val != val:
                    return False, log0
    return True, log


def _log_compile(inp: tuple[Any, ...], out: Any) -> Callable[[Any], Any]:
    def f(cur: PLog) -> Any:
        ok, nxt = _log_step1(cur, inp, out)
        return nxt if ok else ILLEGAL
    return f


def _log_describe_op(inp: tuple[Any, ...], out: Any) -> str:
    parts = []
    for i, mop in enumerate(inp[2]):
        o = UNKNOWN if out is UNKNOWN else out[i]
        if mop[0] == "send":
            shown = "?" if o is None or o is UNKNOWN else str(o)
            parts.append(f"send({mop[1]!r}) -> {shown}")
        elif o is UNKNOWN or o is None:
            parts.append("poll() -> ?")
        else:
            parts.append("poll() -> [" + ", ".join(f"{a}:{b!r}" for a, b in o) + "]")
    key = "" if inp[1] is None else f"{inp[1]}: "
    return key + "; ".join(parts)


def _log_value(log: PLog) -> str:
    recs = log.records()
    if len(recs) > 12:
        head = ", ".join(f"{a}:{b!r}" for a, b in recs[:3])
        tail = ", ".join(f"{a}:{b!r}" for a, b in recs[-6:])
        return f"[{head}, ... ({len(recs) - 9} more) ..., {tail}]"
    return "[" + ", ".join(f"{a}:{b!r}" for a, b in recs) + "]"


def _log_read_only(inp: tuple[Any, ...], out: Any) -> bool:
    if out is UNKNOWN:
        return all(m[0] == "poll" for m in inp[2])
    return all(m[0] == "poll" or o is None for m, o in zip(inp[2], out))


def _empty_log() -> PLog:
    return EMPTY


def _log_dead_end(ops: Sequence[Operation]) -> Callable[[int, Any, int], bool]:
    """A poll (illegal now) is dead if it read, at an offset the log has already
    passed, something other than what the log holds there: offsets only grow."""

    def dead(i: int, log: PLog, done: int) -> bool:
        op = ops[i]
        if not log.n:
            return False
        last = log.off
        for mop, o in zip(op.input[2], op.output):
            if mop[0] != "poll" or o is None or o is UNKNOWN:
                continue
            for off, val in o:
                if off <= last:
                    node = log.find(off)
                    if node is None or node.val != val:
                        return True
        return False
    return dead


LOG_1: Final = Model(
    name="log",
    init=_empty_log,
    step=_log_step1,
    compile_step=_log_compile,
    dead_end=_log_dead_end,
    describe_operation=_log_describe_op,
    describe_state=_log_value,
    is_read_only=_log_read_only,
)

LOG: Final = Model(
    name="log",
    init=_pairs_init,
    step=_keyed(_log_step1, EMPTY),
    compile_step=_keyed_compile(_log_compile, EMPTY),
    dead_end=_keyed_dead_end(_log_dead_end, EMPTY),
    describe_operation=_log_describe_op,
    describe_state=_describe_keyed(EMPTY, _log_value),
    is_read_only=_log_read_only,
    per_key=LOG_1,
)


MODELS: Final[dict[str, Model]] = {m.name: m for m in (REGISTER, KV, LOG)}


def get_model(model: str | Model) -> Model:
    """A model by name (``register``, ``kv``, ``log``) or the model itself."""
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        from harness.errors import UsageError

        raise UsageError(
            f"unknown linearizability model {model!r} "
            f"(expected one of: {', '.join(sorted(MODELS))})") from None
