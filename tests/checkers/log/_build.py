"""Compact construction of small histories for the log checker's tests."""

from __future__ import annotations

from typing import Any

from harness.history import History, op_from_dict

KAFKA_FS = ("send", "poll", "txn")


def invoke_value(f: str, value: Any) -> Any:
    """The invocation's value for a completion's value (offsets and reads stripped)."""
    if f not in KAFKA_FS or value is None:
        return value
    out = []
    for mop in value:
        if mop[0] == "send":
            x = mop[2]
            out.append(["send", mop[1], x[1] if isinstance(x, list) else x])
        else:
            out.append(["poll"])
    return out


def hist(*specs: tuple[Any, ...], invoke: bool = True) -> History:
    """Ops from ``(process, type, f, value[, extra])`` tuples. With ``invoke``, a
    completion whose process has no open invocation gets one just before it."""
    records: list[dict[str, Any]] = []
    open_: set[Any] = set()
    for spec in specs:
        process, typ, f, value, *rest = spec
        extra = dict(rest[0]) if rest else {}
        if typ == "invoke":
            open_.add(process)
        elif process in open_:
            open_.discard(process)
        elif invoke and isinstance(process, int):
            records.append({"process": process, "type": "invoke", "f": f,
                            "value": invoke_value(f, value)})
        records.append({"process": process, "type": typ, "f": f, "value": value, **extra})
    ops = []
    for i, r in enumerate(records):
        ops.append(op_from_dict({"index": i, "time": i * 1000, **r}, i))
    return History.of(ops)


def completions(h: History, *positions: int) -> list[int]:
    return [h.ops[p].index for p in positions]
