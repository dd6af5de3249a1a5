"""The report model: every number and string the page shows, as plain JSON-ready data.

`build_report` is a pure function of a loaded `Run` (no clock, no file reads); the
template only lays this out, and the page's script only draws the charts from it.
"""

from __future__ import annotations

from typing import Any

from ._linear import linear_sections
from ._load import Run
from ._order import order_diagrams
from ._timeline import NS_PER_S, completions_during, fault_intervals, timeline
from ._verdict import verdict_rows, verdict_word
from ._witness import compact, witness_sections

#: Limits that keep a page small whatever the run's size.
WITNESS_CAP = 20
MAX_BINS = 600
MAX_KEYS = 6
#: Columns of an order diagram before it keeps only windows around anomalies.
MAX_ORDER_COLS = 40


def options_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """``run.json``'s options (an empty dict when absent or not an object)."""
    o = cfg.get("options")
    return o if isinstance(o, dict) else {}


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) if v else "none"
    if isinstance(v, dict):
        return compact(v, 200)
    return str(v)


def _nodes(cfg: dict[str, Any]) -> list[str]:
    n = cfg.get("nodes")
    if isinstance(n, list):
        return [str(x.get("name", x.get("id", compact(x, 60)))) if isinstance(x, dict)
                else str(x) for x in n]
    if isinstance(n, int) and not isinstance(n, bool):
        return [f"n{i + 1}" for i in range(n)]
    return []


def settings(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the header's settings table."""
    o = options_of(cfg)
    versions = cfg.get("versions")
    rows = [
        ("target", _fmt(cfg.get("target"))),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())
         if isinstance(versions, dict) and versions else _fmt(versions)),
        ("nodes", ", ".join(_nodes(cfg)) or _fmt(cfg.get("nodes"))),
        ("backend", _fmt(cfg.get("backend"))),
        ("acks", _fmt(o.get("acks"))),
        ("replication factor", _fmt(o.get("replication_factor"))),
        ("idempotence", _fmt(o.get("idempotence"))),
        ("consumers use", _fmt(o.get("sub_via"))),
        ("client library", _fmt(o.get("client"))),
        ("rate (op/s)", _fmt(o.get("rate"))),
        ("concurrency", _fmt(o.get("concurrency"))),
        ("keys", _fmt(o.get("keys"))),
        ("time limit (s)", _fmt(o.get("time_limit_s"))),
        ("faults", _fmt(o.get("nemesis"))),
        ("fault interval (s)", _fmt(o.get("nemesis_interval_s"))),
        ("planted bugs", _fmt(o.get("bugs"))),
        ("seed", _fmt(cfg.get("seed"))),
        ("started", _fmt(cfg.get("started_at"))),
        ("duration (s)", _fmt(cfg.get("duration_s"))),
    ]
    return rows


def summary_sentence(cfg: dict[str, Any], n_ops: int) -> str:
    """One sentence saying what was tested, for a reader who reads nothing else."""
    o = options_of(cfg)
    nodes = _nodes(cfg)
    parts = [f"{_fmt(o.get('concurrency'))} clients" if o.get("concurrency") else "Clients"]
    if o.get("client"):
        parts.append(f" using {o['client']}")
    parts.append(" sent records to and read them back from")
    parts.append(f" {o['keys']} keys" if o.get("keys") else " the log")
    if o.get("rate"):
        parts.append(f" at {o['rate']} op/s")
    dur = cfg.get("duration_s")
    if isinstance(dur, (int, float)):
        parts.append(f" for {dur:g} s")
    parts.append(f" against {cfg.get('target', 'an unnamed target')}")
    if nodes:
        parts.append(f" ({len(nodes)} node{'s' if len(nodes) != 1 else ''}")
        parts.append(f", {cfg['backend']} backend)" if cfg.get("backend") else ")")
    cfgs = []
    if "acks" in o:
        cfgs.append(f"acks={o['acks']}")
    if "replication_factor" in o:
        cfgs.append(f"replication factor {o['replication_factor']}")
    if "idempotence" in o:
        cfgs.append(f"idempotence {_fmt(o['idempotence'])}")
    if "sub_via" in o:
        cfgs.append(f"consumers via {o['sub_via']}")
    if cfgs:
        parts.append(", with " + ", ".join(cfgs))
    nem = o.get("nemesis")
    if nem:
        parts.append(f"; injected faults: {_fmt(nem)}")
        if o.get("nemesis_interval_s"):
            parts.append(f" every {o['nemesis_interval_s']} s")
    else:
        parts.append("; no faults injected")
    if o.get("bugs"):
        parts.append(f"; planted broker bugs: {_fmt(o['bugs'])}")
    parts.append(f". {n_ops:,} operations were recorded.")
    return "".join(parts)


def headline(result_valid: Any, rows: list[dict[str, Any]], problems: list[str],
             error: str | None) -> dict[str, str]:
    """The banner: verdict word and one sentence a person can act on."""
    word = verdict_word(result_valid)
    bad = [r for r in rows if r["verdict"] == "fail" and r["anomaly"]]
    allowed = [r for r in rows if r["verdict"] == "allowed"]
    if word == "fail":
        if bad:
            what = ", ".join(f"{r['anomaly']} ×{r['count']}" for r in bad)
            text = (f"The broker broke {len(bad)} guarantee{'s' if len(bad) != 1 else ''} "
                    f"this configuration promises: {what}.")
        else:
            failed = [r["checker"] for r in rows if r["verdict"] == "fail"]
            text = f"Checker(s) {', '.join(failed) or '?'} found the history invalid."
    elif word == "pass":
        text = "The broker kept every promise checked, under the faults below."
        if allowed:
            text += (" Anomalies seen are all allowed by this configuration: "
                     + ", ".join(f"{r['anomaly']} ×{r['count']}" for r in allowed) + ".")
    else:
        why = error.splitlines()[0] if error else ("; ".join(problems) or "no reason given")
        text = f"The checkers could not decide: {why}."
    return {"verdict": word, "text": text}


def anomaly_marks(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where on the timeline each listed witness happened (its first op's time)."""
    marks = []
    for s in sections:
        for w in s["witnesses"]:
            if w.get("span_s"):
                marks.append({"t_s": w["span_s"][0], "type": s["type"],
                              "bad": s["classification"] == "bad"})
    return marks


def build_report(run: Run) -> dict[str, Any]:
    """The whole page's data (see the module docstring)."""
    cfg = run.config
    o = options_of(cfg)
    h = run.history
    n_ops = len(h) if h is not None else 0
    rows = [r.to_json() for r in verdict_rows(run.result, o)]
    faults, instants = fault_intervals(h) if h is not None else ([], [])
    tl = timeline(h, max_bins=MAX_BINS).to_json() if h is not None and n_ops else None
    valid = run.result.valid if run.result is not None else "unknown"
    error = run.result.error if run.result is not None else None
    witnesses = witness_sections(run.result, h, cap=WITNESS_CAP, faults=faults)
    client_ops = sum(1 for op in h.ops if op.type == "invoke" and op.is_client()) if h else 0
    return {
        "run_id": run.run_id,
        "target": _fmt(cfg.get("target")),
        "headline": headline(valid, rows, run.problems, error),
        "summary": summary_sentence(cfg, n_ops),
        "settings": settings(cfg),
        "command": cfg.get("command"),
        "problems": run.problems,
        "error": error,
        "verdict_rows": rows,
        "faults": [{**f.to_json(), "completions": c} for f, c in
                   zip(faults, completions_during(h, faults) if h is not None
                       else [{} for _ in faults], strict=True)],
        "fault_events": [i.to_json() for i in instants],
        "fault_kinds": sorted({f.kind for f in faults}),
        "timeline": tl,
        "counts": {"ops": n_ops, "client_ops": client_ops,
                   "duration_s": (max((op.time for op in h.ops), default=0) / NS_PER_S)
                   if h else 0.0},
        "witnesses": witnesses,
        "anomaly_marks": anomaly_marks(witnesses),
        "order": order_diagrams(h, run.result, max_keys=MAX_KEYS, max_cols=MAX_ORDER_COLS),
        "linear": linear_sections(run.result),
        "node_logs": [{"node": n.node, "path": n.path, "size_bytes": n.size_bytes}
                      for n in run.node_logs],
        "stats": run.result.stats if run.result is not None else {},
    }
