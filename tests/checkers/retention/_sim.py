"""A simulated single-partition-per-key broker with segmented logs and time
retention, for testing the retention checker (a test tool, not a model of Kafka).

Each key's log is a list of closed segments plus an active one; a segment holds
``segment_records`` records of ``(offset, value, timestamp_ms)``. A retention pass
deletes closed segments, oldest first, whose newest record is older than
``retention_ms`` (Kafka's rule) or, with ``bug``, whose *first* record is (the
planted ``early-retention``). Every retention pass is followed by an ``offsets`` op
of every key, so a deletion is observed right away. Ops are sequential; each takes
1 ms between invocation and completion, and a record's timestamp is the moment the
send reaches the broker (inside its op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.history import History, op_from_dict


@dataclass
class _Log:
    closed: list[list[tuple[int, int, int]]] = field(default_factory=list)
    active: list[tuple[int, int, int]] = field(default_factory=list)
    start: int = 0
    end: int = 0


@dataclass
class SimRun:
    history: History
    #: true age (ms) at deletion of every deleted record
    deleted_ages_ms: list[int]


def simulate(steps: list[tuple[str, int]], *, keys: int, segment_records: int,
             retention_ms: int, bug: bool) -> SimRun:
    """``steps``: ``("send", key)``, ``("wait", ms)``, ``("retain", 0)``."""
    logs = [_Log() for _ in range(keys)]
    records: list[dict[str, Any]] = []
    now_ms = 0
    value = 0
    ages: list[int] = []

    def op(process: int, f: str, inv: Any, done: Any) -> None:
        nonlocal now_ms
        records.append({"time": now_ms * 1_000_000, "process": process, "type": "invoke",
                        "f": f, "value": inv})
        now_ms += 1
        records.append({"time": now_ms * 1_000_000, "process": process, "type": "ok",
                        "f": f, "value": done})

    for kind, arg in steps:
        if kind == "wait":
            now_ms += arg
        elif kind == "send":
            k = arg % keys
            lg = logs[k]
            o = lg.end
            lg.end += 1
            value += 1
            # the record's timestamp: the send's invocation (not before it)
            lg.active.append((o, value, now_ms))
            if len(lg.active) == segment_records:
                lg.closed.append(lg.active)
                lg.active = []
            op(0, "send", [["send", str(k), value]], [["send", str(k), [o, value]]])
        elif kind == "retain":
            for lg in logs:
                while lg.closed:
                    seg = lg.closed[0]
                    ts = seg[0][2] if bug else max(r[2] for r in seg)
                    if now_ms - ts <= retention_ms:
                        break
                    lg.closed.pop(0)
                    ages.extend(now_ms - r[2] for r in seg)
                    lg.start = seg[-1][0] + 1
            ks = [str(k) for k in range(keys)]
            op(1, "offsets", ks, {str(k): [lg.start, lg.end] for k, lg in enumerate(logs)})
    ops = [op_from_dict({"index": i, **r}, i) for i, r in enumerate(records)]
    return SimRun(History.of(ops), ages)
