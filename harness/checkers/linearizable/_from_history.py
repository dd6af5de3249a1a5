"""Our `History` -> `Operation` records for each model, and `load_operations`.

Only client ops (integer processes) whose ``f`` the model knows are used; nemesis
events and other fs are skipped (and counted). An invocation completed by ``ok``
becomes an operation with its observed output; by ``fail`` it certainly did not
happen and is dropped; by ``info`` (or never completed) its outcome is unknown: it
may take effect at any time after its call, or never. Reads with an unknown outcome
constrain nothing and are dropped. Call and return "times" are the positions of the
invocation and the completion in the history (history order is real-time order, as
in Jepsen); the ``time`` fields are kept for display.

Encodings (``key`` is normalised to its string form; lists in values become tuples):

register  ``f`` read / write / cas; ``value`` ``[key, v]`` (a read's invocation may
          carry ``[key, null]``; its completion carries the value read, null for
          nil) or, for cas, ``[key, [old, new]]``. A cas whose compare failed is
          recorded as ``fail`` (Jepsen's convention), so it is dropped.
kv        ``f`` get / put / append; ``value`` ``[key, s]`` with ``s`` a string; a get
          returning null read the empty string. Appends concatenate strings.
log       Jepsen's kafka ops (see `harness.history._op`): ``send`` / ``poll`` /
          ``txn`` whose value is a list of micro-ops, ``["send", k, v]`` invoked and
          ``["send", k, [offset, v]]`` completed, ``["poll"]`` invoked and
          ``["poll", {k: [[offset, v], ...]}]`` completed. Each op is split per key
          (the sub-op keeps the op's interval and the order of its micro-ops on that
          key). A send's offset, when missing (an ``info`` send, or an ``ok`` without
          one), is recovered from any poll that read its value (values are unique per
          key); a send whose offset is unknown and never read constrains nothing and
          is dropped. Atomicity across keys (transactions) is not checked here: that
          is the ``log`` checker's G0/G1c analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.checkers.linearizable._model import UNKNOWN, Model, Operation
from harness.checkers.linearizable._models import get_model
from harness.checkers.linearizable._porcupine_data import (
    read_porcupine_etcd,
    read_porcupine_kv,
)
from harness.errors import HistoryError, UsageError
from harness.history import History, Op, key_str

FORMATS: tuple[str, ...] = ("etcd", "porcupine-kv", "jsonl", "edn")

_FS = {
    "register": frozenset(("read", "write", "cas")),
    "kv": frozenset(("get", "put", "append")),
    "log": frozenset(("send", "poll", "txn")),
}


def freeze(x: Any) -> Any:
    """A hashable copy of a decoded JSON/EDN value (lists become tuples)."""
    t = type(x)
    if t is int or t is str or x is None:
        return x
    if isinstance(x, list | tuple):
        return tuple(freeze(i) for i in x)
    if isinstance(x, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in x.items()))
    if isinstance(x, str):
        return str(x)  # an EDN keyword compares as its plain string
    return x


def _bad(op: Op, reason: str, expected: str) -> HistoryError:
    return HistoryError(f"op index {op.index} (process {op.process!r}, f {op.f!r}): {reason}",
                        expected=expected)


def _keyed_value(op: Op, model: str) -> tuple[str, Any]:
    v = op.value
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise _bad(op, f"value {v!r} is not [key, value]",
                   f"a {model} op's value to be [key, value]")
    try:
        return key_str(v[0]), v[1]
    except ValueError as e:
        raise _bad(op, str(e), "an integer or string key") from None


def _register_op(inv: Op, comp: Op | None, call: int, ret: int | None) -> Operation | None:
    key, arg = _keyed_value(inv, "register")
    f = inv.f
    unknown = comp is None or comp.type == "info"
    if comp is not None and comp.type == "fail":
        return None
    inp: tuple[Any, ...]
    out: Any = UNKNOWN
    if f == "read":
        if unknown:
            return None
        assert comp is not None
        _, read = _keyed_value(comp, "register")
        inp, out = ("read", key), freeze(read)
    elif f == "write":
        inp = ("write", key, freeze(arg))
        if not unknown:
            out = None
    else:
        if not isinstance(arg, list | tuple) or len(arg) != 2:
            raise _bad(inv, f"cas value {arg!r} is not [old, new]",
                       "a cas value to be [key, [old, new]]")
        inp = ("cas", key, freeze(arg[0]), freeze(arg[1]))
        if not unknown:
            out = True
    return _mk(inv, comp, inp, out, key, call, None if unknown else ret)


def _kv_op(inv: Op, comp: Op | None, call: int, ret: int | None) -> Operation | None:
    key, arg = _keyed_value(inv, "kv")
    unknown = comp is None or comp.type == "info"
    if comp is not None and comp.type == "fail":
        return None
    out: Any = UNKNOWN
    if inv.f == "get":
        if unknown:
            return None
        assert comp is not None
        _, got = _keyed_value(comp, "kv")
        got = "" if got is None else got
        if not isinstance(got, str):
            raise _bad(comp, f"a get read {got!r}", "a string (or null)")
        return _mk(inv, comp, ("get", key), str(got), key, call, ret)
    if not isinstance(arg, str):
        raise _bad(inv, f"a {inv.f} of {arg!r}", "a string value")
    if not unknown:
        out = None
    return _mk(inv, comp, (inv.f, key, str(arg)), out, key, call, None if unknown else ret)


def _mk(inv: Op, comp: Op | None, inp: Any, out: Any, key: str | None, call: int,
        ret: int | None) -> Operation:
    times = (inv.time, comp.time if comp is not None and ret is not None else None)
    return Operation(client=inv.process, input=inp, output=out, call=call, ret=ret, key=key,
                     index=inv.index, times=times)


def _log_ops(inv: Op, comp: Op | None, call: int, ret: int | None,
             out_ops: list[Operation]) -> None:
    if comp is not None and comp.type == "fail":
        return
    unknown = comp is None or comp.type == "info"
    src = inv if unknown else comp
    assert src is not None
    mops = src.value
    if mops is None:
        return
    if not isinstance(mops, list):
        raise _bad(src, f"value {mops!r} is not a list of micro-ops",
                   "[[\"send\", k, v], [\"poll\", {k: [[offset, v], ...]}], ...]")
    per_key: dict[str, tuple[list[tuple[Any, ...]], list[Any]]] = {}
    for mop in mops:
        if not isinstance(mop, list) or not mop:
            raise _bad(src, f"micro-op {mop!r} is not a list",
                       "[\"send\", k, v] or [\"poll\", ...]")
        kind = mop[0]
        if kind == "send":
            if len(mop) != 3:
                raise _bad(src, f"micro-op {mop!r}", "[\"send\", key, value]")
            k = key_str(mop[1])
            v = mop[2]
            if unknown:
                off, val = None, v
            elif isinstance(v, list) and len(v) == 2:
                off, val = v
                if off is not None and (isinstance(off, bool) or not isinstance(off, int)):
                    raise _bad(src, f"send offset {off!r}", "an integer offset or null")
            else:
                raise _bad(src, f"completed send {mop!r} has no [offset, value]",
                           "[\"send\", key, [offset, value]] in an ok completion")
            ins, outs = per_key.setdefault(k, ([], []))
            ins.append(("send", freeze(val)))
            outs.append(off)
        elif kind == "poll":
            if unknown or len(mop) < 2:
                continue
            polled = mop[1]
            if not isinstance(polled, dict):
                raise _bad(src, f"poll result {polled!r}", "{key: [[offset, value], ...]}")
            for k0, pairs in polled.items():
                k = key_str(k0)
                got = []
                for pair in pairs or ():
                    if not isinstance(pair, list | tuple) or len(pair) != 2 or \
                            isinstance(pair[0], bool) or not isinstance(pair[0], int):
                        raise _bad(src, f"polled record {pair!r}", "[offset, value]")
                    got.append((pair[0], freeze(pair[1])))
                if not got:
                    continue
                ins, outs = per_key.setdefault(k, ([], []))
                ins.append(("poll",))
                outs.append(tuple(got))
        else:
            raise _bad(src, f"unknown micro-op {kind!r}", "\"send\" or \"poll\"")
    for k, (ins, outs) in per_key.items():
        out_ops.append(_mk(inv, comp, ("log", k, tuple(ins)), tuple(outs), k, call,
                           None if unknown else ret))


def _resolve_log_offsets(ops: list[Operation]) -> list[Operation]:
    """Fill unknown send offsets from polls that read the value; drop the rest."""
    seen: dict[tuple[str, Any], int] = {}
    for op in ops:
        for mop, o in zip(op.input[2], op.output):
            if mop[0] == "poll":
                for off, val in o:
                    seen.setdefault((op.input[1], val), off)
            elif o is not None:
                seen.setdefault((op.input[1], mop[1]), o)
    out = []
    for op in ops:
        if all(o is not None for o in op.output):
            out.append(op)
            continue
        k = op.input[1]
        ins, outs = [], []
        for mop, o in zip(op.input[2], op.output):
            if mop[0] == "send" and o is None:
                o = seen.get((k, mop[1]))
                if o is None:
                    continue
            ins.append(mop)
            outs.append(o)
        if not ins:
            continue
        if op.ret is None and all(m[0] == "poll" for m in ins):
            continue
        out.append(Operation(client=op.client, input=("log", k, tuple(ins)), output=tuple(outs),
                             call=op.call, ret=op.ret, key=op.key, index=op.index,
                             times=op.times))
    return out


def from_history(history: History, model: str | Model) -> tuple[list[Operation], int]:
    """The operations of ``history`` for a built-in model, and how many client ops
    were skipped (other fs)."""
    m = get_model(model)
    fs = _FS.get(m.name)
    if fs is None:
        raise UsageError(f"no history encoding is defined for model {m.name!r}; build "
                         "Operation records yourself and call check_operations")
    ops: list[Operation] = []
    skipped = 0
    seen_fs: set[str] = set()
    hops = history.ops
    partner = history.partner
    for pos, inv in enumerate(hops):
        if inv.type != "invoke" or not inv.is_client():
            continue
        if inv.f not in fs:
            skipped += 1
            seen_fs.add(inv.f)
            continue
        j = partner[pos] if pos < len(partner) else -1
        comp = hops[j] if j >= 0 else None
        if comp is not None and comp.f != inv.f:
            raise _bad(comp, f"completes an invocation of {inv.f!r}", f"f {inv.f!r}")
        ret = j if comp is not None and comp.type != "info" else None
        if m.name == "register":
            op = _register_op(inv, comp, pos, ret)
            if op is not None:
                ops.append(op)
        elif m.name == "kv":
            op = _kv_op(inv, comp, pos, ret)
            if op is not None:
                ops.append(op)
        else:
            _log_ops(inv, comp, pos, ret, ops)
    if not ops and skipped:
        raise HistoryError(
            f"no {m.name} operations in this history (client fs seen: "
            f"{', '.join(sorted(seen_fs))}); the {m.name} model reads fs "
            f"{', '.join(sorted(fs))}: is --model right?")
    if m.name == "log":
        ops = _resolve_log_offsets(ops)
    return ops, skipped


def load_operations(path: str | Path, fmt: str, model: str | Model | None = None,
                    ) -> list[Operation]:
    """Read a history file as operations for ``model``.

    ``fmt``: ``etcd`` (Porcupine's Jepsen etcd logs; register model), ``porcupine-kv``
    (Porcupine's kv EDN files; kv model), ``jsonl`` or ``edn`` (our history, read by
    `harness.history.load`, then encoded per the module docstring; needs ``model``).
    """
    name = None if model is None else get_model(model).name
    if fmt == "etcd":
        if name not in (None, "register"):
            raise UsageError(f"--format etcd holds register operations, not {name} ones "
                             "(use --model register)")
        return read_porcupine_etcd(path)
    if fmt == "porcupine-kv":
        if name not in (None, "kv"):
            raise UsageError(f"--format porcupine-kv holds kv operations, not {name} ones "
                             "(use --model kv)")
        return read_porcupine_kv(path)
    if fmt in ("jsonl", "edn"):
        if model is None:
            raise UsageError("a jsonl/edn history needs a model to read it "
                             "(--model register|kv|log)")
        from harness.history import load

        return from_history(load(path, fmt), model)[0]
    raise UsageError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def default_model_for(fmt: str) -> str | None:
    """The model a Porcupine data format implies (None: the caller must choose)."""
    return {"etcd": "register", "porcupine-kv": "kv"}.get(fmt)


def check_sorted(ops: Sequence[Operation]) -> None:
    """Raise HistoryError if an operation returns before it is called."""
    for op in ops:
        if op.ret is not None and op.ret < op.call:
            raise HistoryError(f"operation {op.index} returns ({op.ret}) before it is "
                               f"called ({op.call})")
