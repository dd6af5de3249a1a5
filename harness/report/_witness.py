"""Witness lists: each anomaly's proof, with the ops it names looked up in the history.

At most ``cap`` witnesses per type are listed (the page says how many more there
are) and at most ``ops_cap`` ops per witness; op values are shown as compact JSON cut
at ``value_chars`` characters. This is what bounds the page for a run with thousands
of anomalies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from harness.checkers import CheckResult
from harness.history import History, Op

from ._timeline import NS_PER_S, Fault

#: A witness's message is cut at this many characters.
MESSAGE_CHARS = 2000


def _cut(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def compact(value: Any, limit: int = 240) -> str:
    """Compact JSON of ``value``, cut to ``limit`` characters with an ellipsis."""
    try:
        s = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        s = repr(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


class OpIndex:
    """Find an op by its ``index`` (usually its position, not always)."""

    def __init__(self, history: History | None) -> None:
        self.ops: list[Op] = history.ops if history is not None else []
        self._by_index: dict[int, int] | None = None
        if any(op.index != i for i, op in enumerate(self.ops[:1000])) or (
                self.ops and self.ops[-1].index != len(self.ops) - 1):
            self._by_index = {op.index: i for i, op in enumerate(self.ops)}

    def get(self, index: int) -> Op | None:
        if not isinstance(index, int) or isinstance(index, bool):
            return None
        if self._by_index is not None:
            pos = self._by_index.get(index)
            return None if pos is None else self.ops[pos]
        return self.ops[index] if 0 <= index < len(self.ops) else None


def op_row(op: Op, value_chars: int = 240) -> dict[str, Any]:
    return {"index": op.index, "process": op.process, "type": op.type, "f": op.f,
            "time_s": round(op.time / NS_PER_S, 6), "value": compact(op.value, value_chars),
            "error": compact(op.error, 120) if op.error is not None else None, "missing": False}


def _ops_of(w: dict[str, Any]) -> list[int]:
    ops = w.get("ops")
    if isinstance(ops, list):
        return [i for i in ops if isinstance(i, int) and not isinstance(i, bool)]
    return []


def faults_during(t0_ns: int, t1_ns: int, faults: Sequence[Fault]) -> list[str]:
    """Faults whose interval overlaps [t0, t1], as "partition (4.500-8.100 s)"."""
    return [f"{f.kind} ({f.start_ns / NS_PER_S:.3f}-{f.end_ns / NS_PER_S:.3f} s)"
            for f in faults if f.start_ns <= t1_ns and t0_ns <= f.end_ns]


def witness_sections(result: CheckResult | None, history: History | None, *,
                     cap: int = 20, ops_cap: int = 12, value_chars: int = 240,
                     faults: Sequence[Fault] = ()) -> list[dict[str, Any]]:
    """One section per (checker, anomaly type): capped witnesses with their ops, the
    time span of those ops and the faults active during it.

    ``nonlinearizable`` is drawn separately (see `_linear`) and skipped here.
    """
    if result is None:
        return []
    from ._verdict import checkers_of, guarantee_table

    table = guarantee_table()
    index = OpIndex(history)
    out = []
    for r in checkers_of(result):
        for t in sorted(r.anomalies, key=lambda t: (r.classification.get(t) != "bad", t)):
            if t == "nonlinearizable":
                continue
            ws = r.anomalies[t]
            total = int(r.counts.get(t, len(ws)))
            listed = []
            for w in ws[:cap]:
                if not isinstance(w, dict):
                    w = {"message": compact(w)}
                idxs = _ops_of(w)
                rows: list[dict[str, Any]] = []
                times: list[int] = []
                for i in idxs:
                    op = index.get(i)
                    if op is not None:
                        times.append(op.time)
                    if len(rows) < ops_cap:
                        rows.append(op_row(op, value_chars) if op is not None else
                                    {"index": i, "missing": True})
                msg = str(w.get("message", ""))
                listed.append({
                    "key": None if w.get("key") is None else _cut(str(w.get("key")), 200),
                    "process": None if w.get("process") is None
                    else _cut(str(w.get("process")), 100),
                    "offsets": compact(w.get("offsets"), 200) if "offsets" in w else None,
                    "values": compact(w.get("values"), 200) if "values" in w else None,
                    "message": _cut(msg, MESSAGE_CHARS) or None,
                    "ops": rows,
                    "more_ops": max(0, len(idxs) - ops_cap),
                    "span_s": [min(times) / NS_PER_S, max(times) / NS_PER_S] if times
                    else None,
                    "during": faults_during(min(times), max(times), faults) if times else [],
                })
            out.append({
                "checker": r.checker, "type": t,
                "classification": r.classification.get(t, "bad"),
                "guarantee": table.get(t, ""), "total": total, "witnesses": listed,
                "more": max(0, total - len(listed)),
            })
    return out
