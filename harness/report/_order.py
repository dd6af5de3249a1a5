"""Per-key order diagrams: the log of one key as the clients saw it.

Columns are offsets (left to right); the first row is what acknowledged sends wrote
at each offset, each further row what one consumer process read there. A cell holds
the value(s) and the ops that wrote or read them. Highlights:

- ``inconsistent``: the offset holds more than one distinct value across writers and
  readers (the column is marked);
- ``duplicate``: the same value sits at two or more offsets of the key;
- ``unread``: an acknowledged write below the highest offset anyone read, that no one
  read (a lost write, if the consumers read that far);
- ``aborted``: a read of a value whose send failed (an aborted write made visible);
- ``witness``: an offset a checker's witness names;
- gaps: offsets between the lowest and highest observed where nothing was observed,
  drawn as one narrow ``gap`` column per run of missing offsets.

Keys shown: those named by witnesses (first ``max_keys``), else the busiest key as a
sample. A key with more than ``max_cols`` columns keeps windows of ``context``
columns around highlighted ones and replaces the rest with ``elided`` columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checkers import CheckResult
from harness.history import History

from ._timeline import NS_PER_S
from ._witness import compact

ObsValue = int | str

_MOP_FS = ("send", "poll", "txn")


def _hv(v: Any) -> ObsValue:
    """A hashable stand-in for a value (values are ints in the kafka workload)."""
    if isinstance(v, (int, str)) and not isinstance(v, bool):
        return v
    return compact(v, 60)


def _observations(history: History, keys: set[str]) -> tuple[
        dict[str, dict[int, list[tuple[ObsValue, Any, int, int]]]],
        dict[str, dict[Any, dict[int, list[tuple[ObsValue, int, int]]]]]]:
    """writes[key][offset] = [(value, process, op index, time)];
    reads[key][process][offset] = [(value, op index, time)] (distinct values)."""
    writes: dict[str, dict[int, list[tuple[ObsValue, Any, int, int]]]] = {k: {} for k in keys}
    reads: dict[str, dict[Any, dict[int, list[tuple[ObsValue, int, int]]]]] = {
        k: {} for k in keys}
    for op in history.ops:
        if op.type != "ok" or op.f not in _MOP_FS or not isinstance(op.value, list):
            continue
        for mop in op.value:
            if not isinstance(mop, list) or len(mop) < 2:
                continue
            if mop[0] == "send" and len(mop) == 3:
                k = mop[1]
                if k not in keys:
                    continue
                res = mop[2]
                if isinstance(res, list) and len(res) == 2 and isinstance(res[0], int):
                    writes[k].setdefault(res[0], []).append(
                        (_hv(res[1]), op.process, op.index, op.time))
            elif mop[0] == "poll" and isinstance(mop[1], dict):
                for k, pairs in mop[1].items():
                    if k not in keys or not isinstance(pairs, list):
                        continue
                    per = reads[k].setdefault(op.process, {})
                    for pair in pairs:
                        if not (isinstance(pair, list) and len(pair) == 2
                                and isinstance(pair[0], int)):
                            continue
                        v = _hv(pair[1])
                        seen = per.setdefault(pair[0], [])
                        if all(s[0] != v for s in seen):
                            seen.append((v, op.index, op.time))
    return writes, reads


Sender = tuple[Any, int, str]  # (process, invocation index, completion type or "open")


def _senders(history: History, keys: set[str]) -> dict[str, dict[ObsValue, Sender]]:
    """sent[key][value] = who sent it and how the send ended (ok, fail, info, open)."""
    sent: dict[str, dict[ObsValue, Sender]] = {k: {} for k in keys}
    ops, partner = history.ops, history.partner
    for pos, op in enumerate(ops):
        if op.type != "invoke" or op.f not in _MOP_FS or not isinstance(op.value, list):
            continue
        j = partner[pos] if pos < len(partner) else -1
        status = ops[j].type if j >= 0 else "open"
        for mop in op.value:
            if (isinstance(mop, list) and len(mop) == 3 and mop[0] == "send"
                    and mop[1] in keys):
                sent[mop[1]].setdefault(_hv(mop[2]), (op.process, op.index, status))
    return sent


def _witness_keys(result: CheckResult | None) -> dict[str, set[int]]:
    """key -> offsets named by witnesses, in order of first mention."""
    out: dict[str, set[int]] = {}
    if result is None:
        return out
    from ._verdict import checkers_of

    for r in checkers_of(result):
        for t in sorted(r.anomalies):
            if t == "nonlinearizable":
                continue
            for w in r.anomalies[t]:
                if not isinstance(w, dict) or w.get("key") is None:
                    continue
                offs = out.setdefault(str(w["key"]), set())
                o = w.get("offsets")
                for x in (o if isinstance(o, list) else [o]):
                    if isinstance(x, int) and not isinstance(x, bool):
                        offs.add(x)
    return out


def _busiest_key(history: History) -> str | None:
    c: Counter[str] = Counter()
    for op in history.ops:
        if op.type == "ok" and op.f in _MOP_FS and isinstance(op.value, list):
            for mop in op.value:
                if isinstance(mop, list) and len(mop) == 3 and mop[0] == "send":
                    c[mop[1]] += 1
    return c.most_common(1)[0][0] if c else None


def _tip(kind: str, key: str, offset: int, entries: Iterable[tuple[Any, ...]],
         who: str | None = None, sent: dict[ObsValue, Sender] | None = None) -> str:
    parts = [f"key {key}, offset {offset}:"]
    for e in entries:
        if kind == "write":
            v, proc, idx, t = e
            parts.append(f"value {v} written by process {proc} (op {idx}, "
                         f"t={t / NS_PER_S:.3f}s)")
        else:
            v, idx, t = e
            line = f"value {v} read by {who} (op {idx}, t={t / NS_PER_S:.3f}s)"
            if sent is not None:
                s = sent.get(v)
                line += (" - no client ever sent this value" if s is None else
                         f" - sent by process {s[0]} (op {s[1]}, {s[2]})")
            parts.append(line)
    return "\n".join(parts)


def key_diagram(key: str, writes: dict[int, list[tuple[ObsValue, Any, int, int]]],
                reads: dict[Any, dict[int, list[tuple[ObsValue, int, int]]]],
                witness_offsets: set[int], *, max_cols: int = 120, context: int = 3,
                max_readers: int = 10,
                sent: dict[ObsValue, Sender] | None = None) -> dict[str, Any]:
    """The diagram data of one key (see the module docstring). ``sent`` (value -> its
    send) marks reads of values whose send failed (``aborted``)."""
    readers = sorted(reads, key=lambda p: (-len(reads[p]), str(p)))
    merged_rest = readers[max_readers:]
    shown = sorted(readers[:max_readers], key=lambda p: (isinstance(p, str), str(p).zfill(9)))
    rows: list[dict[str, Any]] = [{"label": "acknowledged sends", "kind": "write"}]
    rows += [{"label": f"reads by process {p}", "kind": "read", "process": p} for p in shown]
    if merged_rest:
        rows.append({"label": f"reads by {len(merged_rest)} other processes", "kind": "read",
                     "process": None})
    offsets = sorted(set(writes) | {o for p in reads.values() for o in p})
    # Where each value was observed, for duplicates.
    value_offsets: dict[ObsValue, set[int]] = {}
    for o, es in writes.items():
        for e in es:
            value_offsets.setdefault(e[0], set()).add(o)
    for per in reads.values():
        for o, rs in per.items():
            for r in rs:
                value_offsets.setdefault(r[0], set()).add(o)
    dup_values = {v for v, os in value_offsets.items() if len(os) > 1}
    max_read = max((o for p in reads.values() for o in p), default=-1)
    read_offsets = {o for p in reads.values() for o in p}

    stats = Counter[str]()
    cols: list[dict[str, Any]] = []
    prev: int | None = None
    for o in offsets:
        if prev is not None and o > prev + 1:
            cols.append({"kind": "gap", "from": prev + 1, "to": o - 1, "count": o - prev - 1,
                         "flags": ["gap"],
                         "tip": f"key {key}: offsets {prev + 1}..{o - 1} never observed"})
            stats["gaps"] += 1
        prev = o
        cells: list[dict[str, Any] | None] = []
        distinct: set[ObsValue] = set()
        w = writes.get(o, [])
        for e in w:
            distinct.add(e[0])
        for p in shown:
            for r in reads[p].get(o, []):
                distinct.add(r[0])
        for p in merged_rest:
            for r in reads[p].get(o, []):
                distinct.add(r[0])
        col_flags = []
        if len(distinct) > 1:
            col_flags.append("inconsistent")
            stats["inconsistent"] += 1
        if o in witness_offsets:
            col_flags.append("witness")
        # write row
        if w:
            flags = []
            if any(e[0] in dup_values for e in w):
                flags.append("duplicate")
            if o < max_read and o not in read_offsets:
                flags.append("unread")
                stats["unread"] += 1
            cells.append({"values": [str(e[0]) for e in w], "ops": [e[2] for e in w],
                          "procs": [e[1] for e in w], "flags": flags,
                          "tip": _tip("write", key, o, w)})
        else:
            cells.append(None)
        for p in [*shown, None] if merged_rest else shown:
            if p is None:
                rs = [r for q in merged_rest for r in reads[q].get(o, [])]
                who = "other processes"
            else:
                rs = reads[p].get(o, [])
                who = f"process {p}"
            if not rs:
                cells.append(None)
                continue
            flags = ["duplicate"] if any(r[0] in dup_values for r in rs) else []
            if sent is not None and any(sent.get(r[0], (0, 0, ""))[2] == "fail" for r in rs):
                flags.append("aborted")
                stats["aborted"] += 1
            cells.append({"values": [str(r[0]) for r in rs], "ops": [r[1] for r in rs],
                          "flags": flags, "tip": _tip("read", key, o, rs, who, sent)})
        if any(c is not None and "duplicate" in c["flags"] for c in cells):
            stats["duplicate_offsets"] += 1
        cols.append({"kind": "offset", "offset": o, "flags": col_flags, "cells": cells})
    for c in cols:
        if c["kind"] == "gap":
            c["cells"] = [None] * len(rows)
    total_cols = len(cols)
    cols, truncated = _window(cols, max_cols, context)
    return {"key": key, "rows": rows, "columns": cols, "truncated": truncated,
            "stats": {"offsets": len(offsets), "writes": sum(len(v) for v in writes.values()),
                      "readers": len(readers), "gaps": stats["gaps"],
                      "inconsistent": stats["inconsistent"], "unread": stats["unread"],
                      "duplicate_values": len(dup_values), "aborted_reads": stats["aborted"],
                      "columns": total_cols}}


def _interesting(c: dict[str, Any]) -> bool:
    if c["flags"]:
        return True
    return any(cell is not None and cell["flags"] for cell in c.get("cells", []))


def _window(cols: list[dict[str, Any]], max_cols: int,
            context: int) -> tuple[list[dict[str, Any]], bool]:
    if len(cols) <= max_cols:
        return cols, False
    keep = set(range(min(context, len(cols)))) | set(range(max(0, len(cols) - context),
                                                           len(cols)))
    for i, c in enumerate(cols):
        if _interesting(c):
            keep.update(range(max(0, i - context), min(len(cols), i + context + 1)))
    if len(keep) <= 2 * context:  # nothing to point at: show the start of the log
        keep.update(range(max_cols - 2 * context))
    out: list[dict[str, Any]] = []
    i = 0
    truncated = False
    while i < len(cols):
        if i in keep:
            if len(out) >= max_cols:
                rest = len(cols) - i
                out.append({"kind": "elided", "count": rest, "flags": ["elided"],
                            "tip": f"{rest} more columns not drawn"})
                truncated = True
                break
            out.append(cols[i])
            i += 1
            continue
        j = i
        while j < len(cols) and j not in keep:
            j += 1
        lo = min(int(c.get("offset", c.get("from", 0))) for c in cols[i:j])
        hi = max(int(c.get("offset", c.get("to", 0))) for c in cols[i:j])
        out.append({"kind": "elided", "count": j - i, "from": lo, "to": hi,
                    "flags": ["elided"],
                    "tip": f"offsets {lo}..{hi}: {j - i} columns without anomalies, "
                           f"not drawn"})
        i = j
    for c in out:
        if c["kind"] == "elided":
            c["cells"] = []
    return out, truncated


def order_diagrams(history: History | None, result: CheckResult | None, *,
                   max_keys: int = 6, max_cols: int = 120) -> list[dict[str, Any]]:
    """Diagram data for the keys named by witnesses (or a sample key)."""
    if history is None:
        return []
    wk = _witness_keys(result)
    keys = list(wk)[:max_keys]
    sample = False
    if not keys:
        k = _busiest_key(history)
        if k is None:
            return []
        keys, sample = [k], True
    writes, reads = _observations(history, set(keys))
    sent = _senders(history, set(keys))
    out = []
    for k in keys:
        d = key_diagram(k, writes[k], reads[k], wk.get(k, set()), max_cols=max_cols,
                        sent=sent[k])
        d["sample"] = sample
        out.append(d)
    if len(wk) > max_keys:
        out[-1]["more_keys"] = len(wk) - max_keys
    return out


def order_layout(diagram: dict[str, Any], *, col_w: int = 46, narrow_w: int = 26,
                 row_h: int = 24, label_w: int = 170, head_h: int = 22) -> dict[str, Any]:
    """Pixel geometry for drawing ``diagram`` as SVG (x of each column, sizes)."""
    x = label_w
    cols = []
    for c in diagram["columns"]:
        w = col_w if c["kind"] == "offset" else narrow_w
        cols.append({"x": x, "w": w, "col": c})
        x += w
    return {"width": x + 4, "height": head_h + row_h * len(diagram["rows"]) + 4,
            "cols": cols, "row_h": row_h, "head_h": head_h, "label_w": label_w}
