"""The linearizability explanation, drawn as Porcupine draws it.

Input: the witnesses of the ``nonlinearizable`` anomaly, one per illegal partition,
in this JSON shape (the contract between the linearizability checker and the page)::

    {"partition": "key 3",                 # which independent sub-history
     "model": "register",                  # optional
     "ops": [{"id": 12, "client": 3,       # op id (history index of the invocation)
              "call_ns": 1200, "return_ns": 1900,     # return_ns null: never returned
              "input": ..., "output": ...,
              "description": "write 3",    # optional, how the model renders the op
              "linearized_at": 0,          # position in the longest linearization, or null
              "state_after": ...}, ...],   # model state after the op (linearized ops)
     "failing": [17],                      # ops that could not be placed after it
     "candidates": [19],                   # optional: could go next, but lead nowhere
     "longest": [12, 15],                  # optional: ids in linearization order
     "state": ...,                         # optional: state at the end of that prefix
     "message": "..."}

Output: geometry for an SVG: one row per client, each op a bar from its call to its
return (open-ended if it never returned), the ops of the longest linearization
numbered and joined by a line in linearization order, the failing ops in red, the
other candidates (accepted next, but every continuation fails) in orange; every
bar carries a tooltip with the op, its times and the state after it. More than
``max_ops`` ops: those nearest in time to the first failing op are kept.
A witness in any other shape is shown as JSON text instead (``drawable`` false).

The linearizability checker's own witnesses (``{"key", "ops", "message",
"explanation"}``) are converted to this shape by `from_explanation`; its
linearization points are then drawn where it placed them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ._timeline import NS_PER_S
from ._witness import compact


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _valid_op(o: Any) -> bool:
    return (isinstance(o, dict) and isinstance(o.get("id"), (int, str))
            and isinstance(o.get("client"), (int, str)) and _is_int(o.get("call_ns"))
            and (o.get("return_ns") is None or _is_int(o.get("return_ns"))))


def _nice_step(span: float, n: int = 6) -> float:
    raw = span / n if span > 0 else 1.0
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    while mag > raw:
        mag /= 10
    for m in (1, 2, 5, 10):
        if mag * m >= raw:
            return mag * m
    return mag * 10


def from_explanation(w: dict[str, Any]) -> dict[str, Any]:
    """The drawing shape from the linearizability checker's witness, whose
    ``explanation`` (``harness.checkers.linearizable._explain``) names ops by their
    position in the partition (``id``) with history ``index``, ``call``/``return`` as
    history positions and ``times_ns``, the prefix as ``linearized`` ids with
    ``points`` (positions) and ``states`` (state after each), a ``blocking`` op and
    ``candidates`` (``legal``: the model accepts it from the final state)."""
    e = w["explanation"]
    ops_in = [o for o in e.get("ops", []) if isinstance(o, dict)]
    ident = {o.get("id"): (o.get("index") if _is_int(o.get("index")) else o.get("id"))
             for o in ops_in}
    lin = [i for i in e.get("linearized", []) if i in ident]
    states = e.get("states", [])
    pos_of = {oid: n for n, oid in enumerate(lin)}
    # Positions -> ns, for placing the checker's own linearization points.
    pos_ns: dict[int, int] = {}
    use_ns = all(isinstance(o.get("times_ns"), list) and len(o["times_ns"]) == 2
                 and _is_int(o["times_ns"][0]) for o in ops_in)
    ops = []
    for o in ops_in:
        t = o.get("times_ns") if use_ns else None
        call = t[0] if t else o.get("call")
        ret = (t[1] if t else o.get("return")) if not o.get("unknown") else None
        if t and _is_int(o.get("call")):
            pos_ns[o["call"]] = t[0]
            if t[1] is not None and _is_int(o.get("return")):
                pos_ns[o["return"]] = t[1]
        n = pos_of.get(o.get("id"))
        ops.append({"id": ident[o.get("id")], "client": o.get("client"), "call_ns": call,
                    "return_ns": ret, "input": None, "output": None,
                    "description": o.get("description"), "linearized_at": n,
                    "state_after": states[n] if n is not None and n < len(states) else None})
    blocking = e.get("blocking")
    failing = [ident[blocking]] if blocking in ident else []
    failing += [ident[c["id"]] for c in e.get("candidates", [])
                if isinstance(c, dict) and c.get("id") in ident and not c.get("legal")
                and ident[c["id"]] not in failing]
    candidates = [ident[c["id"]] for c in e.get("candidates", [])
                  if isinstance(c, dict) and c.get("id") in ident and c.get("legal")
                  and ident[c["id"]] not in failing]
    points = e.get("points", [])
    key = e.get("key", w.get("key", "?"))
    out = {"partition": f"key {key}", "model": e.get("model"), "ops": ops, "failing": failing,
           "candidates": candidates,
           "longest": [ident[i] for i in lin], "state": e.get("final_state"),
           "message": w.get("message") or e.get("message"), "time_unit": "ns" if use_ns
           else "position"}
    if len(points) == len(lin) and (not use_ns or all(p in pos_ns for p in points)):
        out["points_at"] = [pos_ns[p] if use_ns else p for p in points]
    return out


def linear_layout(w: dict[str, Any], *, width: int = 980, label_w: int = 110,
                  row_h: int = 34, max_ops: int = 250) -> dict[str, Any]:
    """Geometry of one partition's explanation (see the module docstring)."""
    if isinstance(w.get("explanation"), dict):
        with contextlib.suppress(KeyError, TypeError, ValueError):  # else drawn as text
            w = from_explanation(w)
    name = str(w.get("partition", w.get("key", "?")))
    message = str(w.get("message", "")) or None
    ops_in = w.get("ops")
    if not isinstance(ops_in, list) or not ops_in or not all(_valid_op(o) for o in ops_in):
        model = w.get("model")
        return {"partition": name, "message": message, "drawable": False,
                "model": None if model is None else str(model), "state": None,
                "raw": compact(w, 4000)}
    failing = {o for o in w.get("failing", []) if isinstance(o, (int, str))}
    candidates = {o for o in w.get("candidates", []) if isinstance(o, (int, str))}
    order: list[Any] = []
    if isinstance(w.get("longest"), list):
        order = list(w["longest"])
    else:
        lin = sorted((o for o in ops_in if _is_int(o.get("linearized_at"))),
                     key=lambda o: o["linearized_at"])
        order = [o["id"] for o in lin]
    pos_of = {oid: i for i, oid in enumerate(order)}
    ops = []
    seen_ids: set[Any] = set()
    for o in ops_in:  # ids name ops: a repeated id is a malformed witness, keep the first
        key = compact(o["id"])
        if key not in seen_ids:
            seen_ids.add(key)
            ops.append(o)
    dropped = 0
    if len(ops) > max_ops:
        fail_calls = [o["call_ns"] for o in ops if o["id"] in failing]
        centre = min(fail_calls) if fail_calls else ops[0]["call_ns"]
        ranked = sorted(ops, key=lambda o: (o["id"] not in failing, abs(o["call_ns"] - centre)))
        keep = {id(o) for o in ranked[:max_ops]}
        dropped = len(ops) - len(keep)
        ops = [o for o in ops if id(o) in keep]
    t0 = min(o["call_ns"] for o in ops)
    t_end = max(max(o["call_ns"], o["return_ns"] or 0) for o in ops)
    span = max(t_end - t0, 1)
    t1 = t_end + max(1, span // 10)  # room for ops that never returned
    plot_w = width - label_w - 10

    def x(t: int) -> float:
        return round(label_w + (t - t0) * plot_w / (t1 - t0), 2)

    def when(t: int) -> str:
        if w.get("time_unit", "ns") == "ns":
            return f"{t / NS_PER_S:.6f}s"
        return f"history position {t}"

    clients = sorted({o["client"] for o in ops}, key=lambda c: (isinstance(c, str), str(c)))
    row_of = {c: i for i, c in enumerate(clients)}
    head = 26
    bars = []
    for o in sorted(ops, key=lambda o: o["call_ns"]):
        ret = o.get("return_ns")
        x0 = x(o["call_ns"])
        x1 = x(ret) if ret is not None else x(t1)
        x1 = max(x1, x0 + 3)
        desc = o.get("description")
        label = str(desc) if desc else (
            f"{compact(o.get('input'), 24)} → {compact(o.get('output'), 24)}")
        lin_pos = pos_of.get(o["id"])
        status = "failing" if o["id"] in failing else (
            "linearized" if lin_pos is not None else
            "candidate" if o["id"] in candidates else "other")
        tip = [f"op {o['id']} by client {o['client']}: {label}",
               f"called at {when(o['call_ns'])}, "
               + (f"returned at {when(ret)}" if ret is not None
                  else "never returned (outcome unknown)")]
        if o.get("input") is not None or o.get("output") is not None:
            tip.append(f"input {compact(o.get('input'), 200)}; "
                       f"output {compact(o.get('output'), 200)}")
        if status == "failing":
            tip.append("cannot be linearized after the longest linearizable prefix")
        elif status == "candidate":
            tip.append("could go next after the prefix, but every continuation from it fails")
        elif lin_pos is not None:
            st = o.get("state_after")
            tip.append(f"linearized as #{lin_pos + 1}; state after: "
                       f"{st if isinstance(st, str) else compact(st, 300)}")
        else:
            tip.append("not part of the longest linearizable prefix")
        bars.append({"id": o["id"], "x0": x0, "x1": x1, "y": head + row_of[o["client"]] * row_h,
                     "label": label, "status": status, "open": ret is None,
                     "lin": None if lin_pos is None else lin_pos + 1, "tip": "\n".join(tip),
                     "label_dx": 4})
    # Linearization points: the checker's own when it gave them, else inside each op's
    # bar, never before the previous point.
    bar_of = {b["id"]: b for b in bars}
    given = w.get("points_at") if isinstance(w.get("points_at"), list) else None
    points = []
    prev_x = 0.0
    for n, oid in enumerate(order):
        b = bar_of.get(oid)
        if b is None:
            continue
        if given is not None and n < len(given) and _is_int(given[n]):
            px = min(max(x(given[n]), b["x0"] + 3, prev_x + 2), b["x1"] - 1)
        else:
            px = min(max(prev_x + 2, b["x0"] + 4), b["x1"] - 1)
        px = max(px, b["x0"])
        points.append({"x": round(px, 2), "y": b["y"] + 4, "id": oid,
                       "n": pos_of[oid] + 1})
        prev_x = px
        if px - b["x0"] < 14:  # keep the label clear of the numbered dot
            b["label_dx"] = round(px - b["x0"] + 9, 2)
    ticks = []
    if w.get("time_unit", "ns") == "ns":
        step = _nice_step((t1 - t0) / 1e6)
        v = 0.0
        while v * 1e6 <= t1 - t0:
            ticks.append({"x": x(t0 + int(v * 1e6)), "label": f"+{v:g} ms"})
            v += step
    else:
        pstep = max(1, int(_nice_step(float(t1 - t0))))
        for v in range(0, t1 - t0 + 1, pstep):
            ticks.append({"x": x(t0 + v), "label": f"history position {t0 + v}"
                          if v == 0 else f"+{v}"})
    return {"partition": name, "message": message, "drawable": True,
            "model": w.get("model"), "width": width, "height": head + row_h * len(clients) + 8,
            "label_w": label_w, "row_h": row_h, "head": head, "t0_s": t0 / NS_PER_S,
            "clients": [{"name": str(c), "y": head + i * row_h} for i, c in enumerate(clients)],
            "bars": bars, "points": points, "ticks": ticks,
            "failing": sorted(str(f) for f in failing), "linearized": len(order),
            "state": (None if w.get("state") is None else
                      str(w["state"]) if isinstance(w["state"], str)
                      else compact(w["state"], 600)),
            "dropped": dropped}


def linear_sections(result: Any, *, max_partitions: int = 8) -> list[dict[str, Any]]:
    """Layouts of the ``nonlinearizable`` witnesses in ``result`` (a CheckResult), at
    most ``max_partitions``; the last says how many more there are (``more``)."""
    if result is None:
        return []
    from ._verdict import checkers_of

    out: list[dict[str, Any]] = []
    total = 0
    for r in checkers_of(result):
        ws = r.anomalies.get("nonlinearizable", [])
        total += int(r.counts.get("nonlinearizable", len(ws)))
        for w in ws:
            if len(out) < max_partitions:
                out.append(linear_layout(w if isinstance(w, dict)
                                         else {"message": compact(w)}))
    if out:
        out[-1]["more"] = total - len(out)
    return out
