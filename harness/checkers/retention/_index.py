"""One pass over a history that gathers the facts retention is judged on.

Facts, not verdicts. Real-time order is history order: op A *precedes* op B when A's
completion comes before B's invocation. ``highest`` is, at every point of the pass,
the highest log start per key reported by the ``ok`` ``offsets`` ops completed so far
(with the position of that completion); it is replaced, never mutated, when it grows,
so an invocation keeps the snapshot current at its position for free.

- observations: every ``ok`` ``offsets`` op: its positions, completion time, the
  reported ``{key: (log_start, end_offset)}`` and the ``highest`` snapshot at its
  invocation;
- records: per key, offset -> value, from ``ok`` sends and from every poll (a read
  record existed, whatever became of the op); a value's send time is the invocation
  of the op that sent it (``send`` or ``txn``, any outcome).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HistoryError
from harness.history import History, key_str

#: key -> (log start, position of the ok offsets completion that reported it)
Highest = dict[str, tuple[int, int]]

_EXPECTED = ("an offsets op's invocation is a list of keys and its ok completion "
             "{key: [log_start, end_offset]}")


@dataclass(slots=True)
class Observation:
    inv: int
    done: int
    time_ns: int
    process: int | str
    #: key -> (log start, end offset)
    starts: dict[str, tuple[int, int]]
    highest_at_inv: Highest


@dataclass(slots=True)
class KeyRecords:
    """A key's records with known send times, sorted by offset."""

    offsets: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    #: position of the invocation that sent each record
    sent_at: list[int] = field(default_factory=list)
    #: running maximum of the send invocation time over offsets[:i + 1], and where
    youngest: list[int] = field(default_factory=list)

    def youngest_below(self, offset: int) -> int | None:
        """Index (into these lists) of the most recently sent record below ``offset``."""
        i = bisect_left(self.offsets, offset)
        return self.youngest[i - 1] if i > 0 else None


@dataclass(slots=True)
class RetentionIndex:
    ops: list[Any]
    #: position of each op's invocation or completion, -1 if none (`History.partner`)
    partner: list[int]
    observations: list[Observation] = field(default_factory=list)
    records: dict[str, KeyRecords] = field(default_factory=dict)
    fails: int = 0
    infos: int = 0


def _starts(value: Any) -> dict[str, tuple[int, int]]:
    if not isinstance(value, dict):
        raise ValueError(f"the value is {value!r}, not a map")
    out: dict[str, tuple[int, int]] = {}
    for k, pair in value.items():
        if (not isinstance(pair, list | tuple) or len(pair) != 2
                or any(isinstance(x, bool) or not isinstance(x, int) for x in pair)):
            raise ValueError(f"key {k!r} has {pair!r}, not [log_start, end_offset]")
        out[key_str(k)] = (pair[0], pair[1])
    return out


def build(history: History) -> RetentionIndex:
    """Index ``history`` (raises HistoryError naming the first malformed op)."""
    ops = history.ops
    partner = history.partner
    ix = RetentionIndex(ops, partner)
    highest: Highest = {}
    at_inv: dict[int, Highest] = {}
    sent: dict[str, dict[Any, int]] = {}
    placed: dict[str, dict[int, Any]] = {}
    p = -1
    try:
        for p, op in enumerate(ops):
            f, t = op.f, op.type
            if f == "offsets":
                if t == "invoke":
                    at_inv[p] = highest
                    continue
                if t != "ok":
                    ix.fails += t == "fail"
                    ix.infos += t == "info"
                    continue
                inv = partner[p] if p < len(partner) and partner[p] >= 0 else p
                starts = _starts(op.value)
                ix.observations.append(Observation(
                    inv=inv, done=p, time_ns=op.time, process=op.process, starts=starts,
                    highest_at_inv=at_inv.pop(inv, {})))
                grown = {k: (ls, p) for k, (ls, _) in starts.items()
                         if ls > highest.get(k, (-1, -1))[0]}
                if grown:
                    highest = {**highest, **grown}
            elif f in ("send", "poll", "txn") and op.value is not None:
                for mop in op.value:
                    if mop[0] == "send":
                        k, x = key_str(mop[1]), mop[2]
                        if t == "invoke":
                            sent.setdefault(k, {})[x] = p
                        elif t == "ok" and isinstance(x, list):
                            placed.setdefault(k, {}).setdefault(x[0], x[1])
                    elif mop[0] == "poll" and len(mop) > 1 and t != "invoke":
                        for k, pairs in mop[1].items():
                            got = placed.setdefault(key_str(k), {})
                            for o, v in pairs:
                                got.setdefault(o, v)
    except (TypeError, ValueError, IndexError, AttributeError, KeyError) as e:
        op = ops[p]
        raise HistoryError(
            f"op {op.index} (process {op.process!r}, {op.type} {op.f}) is malformed: {e}",
            expected=_EXPECTED if op.f == "offsets" else
            "micro-ops [\"send\", key, value | [offset, value]] and "
            "[\"poll\", {key: [[offset, value], ...]}]") from None
    for k, by_off in placed.items():
        senders = sent.get(k, {})
        kr = KeyRecords()
        best = -1
        for o in sorted(by_off):
            v = by_off[o]
            s = senders.get(v)
            if s is None:
                continue  # nobody sent it: no send time to judge its age by
            kr.offsets.append(o)
            kr.values.append(v)
            kr.sent_at.append(s)
            if best < 0 or ops[s].time >= ops[kr.sent_at[best]].time:
                best = len(kr.offsets) - 1
            kr.youngest.append(best)
        ix.records[k] = kr
    return ix


def observed_log_starts(history: History) -> dict[str, int]:
    """Per key, the highest log start any ``ok`` ``offsets`` op reported (keys never
    observed are absent). Raises HistoryError on a malformed ``offsets`` op."""
    out: dict[str, int] = {}
    for op in history.ops:
        if op.f == "offsets" and op.type == "ok":
            try:
                starts = _starts(op.value)
            except ValueError as e:
                raise HistoryError(f"op {op.index} (process {op.process!r}, ok offsets) is "
                                   f"malformed: {e}", expected=_EXPECTED) from None
            for k, (ls, _) in starts.items():
                if ls > out.get(k, -1):
                    out[k] = ls
    return out
