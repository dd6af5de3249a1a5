"""The operation model: one record per invocation or completion.

An op follows Jepsen's kafka workload (see DESIGN.md, "The history"):

- ``type`` is ``invoke``, then exactly one of ``ok`` (it happened), ``fail`` (it
  certainly did not happen) or ``info`` (unknown). An ``info`` op with no open
  invocation in its process is a standalone event (the nemesis logs its faults so).
- ``time`` is nanoseconds since the run began, from one monotonic clock.
- ``value`` for the kafka fs is a list of micro-ops: ``["send", key, value]`` (invoke)
  or ``["send", key, [offset, value]]`` (ok), ``["poll"]`` (invoke) or
  ``["poll", {key: [[offset, value], ...]}]`` (ok). ``assign`` / ``subscribe`` take a
  list of keys. ``offsets`` (ListOffsets) takes a list of keys and completes with
  ``{key: [log_start, end_offset]}`` (the retention checker reads it).

Keys are normalised to strings on construction by `normalize_value` (JSON object keys
can only be strings, so ``11`` and ``"11"`` are one key). Values of an op are plain
lists and dicts as decoded; treat them as read-only: copying them into tuples would
double the cost of loading a million-op history.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: Final[frozenset[str]] = frozenset(("invoke", "ok", "fail", "info"))
COMPLETION_TYPES: Final[frozenset[str]] = frozenset(("ok", "fail", "info"))

#: fs whose value is a list of micro-ops carrying keys.
MOP_FS: Final[frozenset[str]] = frozenset(("send", "poll", "txn"))
#: fs whose value is a list of keys.
KEY_LIST_FS: Final[frozenset[str]] = frozenset(("assign", "subscribe"))

_INTERN: Final[dict[str, str]] = {t: t for t in OP_TYPES}

#: The fields every op has; anything else in a record is kept in ``Op.extra``.
CORE_FIELDS: Final[tuple[str, ...]] = ("index", "time", "process", "type", "f", "value")


class Op(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One line of a history. ``extra`` keeps keys we do not model (e.g. ``error``)."""

    index: int
    time: int
    process: int | str
    type: str
    f: str
    value: Any = None
    extra: dict[str, Any] = {}

    @property
    def error(self) -> Any:
        return self.extra.get("error")

    def is_client(self) -> bool:
        """True for ops of client processes (integers); the nemesis uses a name."""
        return isinstance(self.process, int)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.extra:
            for k, v in self.extra.items():
                d.setdefault(k, v)
        return d


def key_str(key: Any) -> str:
    """The canonical string form of a key: ``11`` and ``"11"`` are the same key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        raise ValueError(f"a key must be an integer or a string, got {key!r}")
    if isinstance(key, int):
        return str(key)
    raise ValueError(f"a key must be an integer or a string, got {key!r}")


def _normalize_mop(mop: Any) -> Any:
    if not isinstance(mop, list) or not mop:
        raise ValueError(f"a micro-op must be a non-empty list, got {mop!r}")
    kind = mop[0]
    if kind == "send":
        if len(mop) != 3:
            raise ValueError(f"a send micro-op is [\"send\", key, value], got {mop!r}")
        k = mop[1]
        if type(k) is not str:
            mop = ["send", key_str(k), mop[2]]
        return mop
    if kind == "poll":
        if len(mop) == 1:
            return mop
        if len(mop) != 2 or not isinstance(mop[1], dict):
            raise ValueError(
                f"a poll micro-op is [\"poll\"] or [\"poll\", {{key: [[offset, value], ...]}}], "
                f"got {mop!r}")
        polled = mop[1]
        for k in polled:
            if type(k) is not str:
                return ["poll", {key_str(k): v for k, v in polled.items()}]
        return mop
    raise ValueError(f"unknown micro-op {kind!r} (expected \"send\" or \"poll\")")


def normalize_value(f: str, value: Any) -> Any:
    """Return ``value`` with every key in its string form; raise ValueError if the
    value of a kafka f is not shaped as the workload defines it."""
    if f in MOP_FS:
        if value is None:
            return value
        if not isinstance(value, list):
            raise ValueError(f"the value of a {f} op must be a list of micro-ops, got {value!r}")
        out = value
        for i, mop in enumerate(value):
            n = _normalize_mop(mop)
            if n is not mop:
                if out is value:
                    out = list(value)
                out[i] = n
        return out
    if f in KEY_LIST_FS:
        if value is None:
            return value
        if not isinstance(value, list):
            raise ValueError(f"the value of a {f} op must be a list of keys, got {value!r}")
        return [key_str(k) for k in value]
    return value


def op_from_dict(d: dict[str, Any], position: int) -> Op:
    """Build an op from a decoded record; raises ValueError saying what is wrong.

    ``position`` (0-based) is the default index when the record has none, as in older
    Jepsen histories.
    """
    try:
        typ = d["type"]
    except KeyError:
        raise ValueError("missing \"type\"") from None
    if typ not in OP_TYPES:
        raise ValueError(f"unknown type {typ!r} (expected invoke, ok, fail or info)")
    if type(typ) is not str:
        typ = _INTERN[typ]
    try:
        f = d["f"]
    except KeyError:
        raise ValueError("missing \"f\"") from None
    if not isinstance(f, str):
        raise ValueError(f"\"f\" must be a string, got {f!r}")
    if type(f) is not str:
        f = str.__str__(f)
    try:
        process = d["process"]
    except KeyError:
        raise ValueError("missing \"process\"") from None
    if isinstance(process, bool) or not isinstance(process, (int, str)):
        raise ValueError(f"\"process\" must be an integer or a string, got {process!r}")
    if type(process) is not int and type(process) is not str:
        process = str.__str__(process)
    index = d.get("index", position)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"\"index\" must be an integer, got {index!r}")
    time = d.get("time", 0)
    if isinstance(time, bool) or not isinstance(time, int):
        raise ValueError(f"\"time\" must be an integer (nanoseconds), got {time!r}")
    value = normalize_value(f, d.get("value"))
    n_core = 3 + ("index" in d) + ("time" in d) + ("value" in d)
    if len(d) > n_core:
        extra = {k: v for k, v in d.items() if k not in CORE_FIELDS}
    else:
        extra = {}
    return Op(index=index, time=time, process=process, type=typ, f=f, value=value, extra=extra)
