"""Timeline data: throughput and latency per time bin, and fault intervals.

Pure functions over a `History`. Bins are one second wide unless the run is longer
than ``max_bins`` seconds; then the width grows (2 s, 5 s, 10 s, ...) so a plot never
carries more than ``max_bins`` points, whatever the op count: this is what keeps a
100,000-op report small.

- Throughput: completions of client ops per bin, split ``ok`` / ``fail`` / ``info``,
  as ops per second (count / bin width). Binned by completion time.
- Latency: per bin, percentiles (p50, p95, p99, max) in milliseconds of
  ``completion.time - invocation.time`` over the client ops completing in the bin.
- Faults: nemesis ops paired into intervals. ``start-X`` opens an interval of kind
  ``X`` that ``stop-X`` closes; ``kill``/``start``, ``pause``/``resume`` likewise.
  A stop closes every open interval of its kind. An interval still open at the end
  of the history ends there (``open_ended``). Any other nemesis op is an instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.history import History

NS_PER_S = 1_000_000_000
BIN_WIDTHS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)

#: f of the op that opens a fault -> (fault kind, f of the op that closes it)
FAULT_PAIRS: dict[str, tuple[str, str]] = {
    "kill": ("kill", "start"),
    "pause": ("pause", "resume"),
}


def _kind_of(f: str) -> tuple[str, str] | None:
    """(kind, role) for a nemesis f: role is "start", "stop" or "instant"."""
    if f in FAULT_PAIRS:
        return FAULT_PAIRS[f][0], "start"
    for kind, (_, stop) in FAULT_PAIRS.items():
        if f == stop:
            return kind, "stop"
    if f.startswith("start-"):
        return f[len("start-"):], "start"
    if f.startswith("stop-"):
        return f[len("stop-"):], "stop"
    return None


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    start_ns: int
    end_ns: int
    open_ended: bool
    start_op: int
    end_op: int | None
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "start_s": self.start_ns / NS_PER_S,
                "end_s": self.end_ns / NS_PER_S, "open_ended": self.open_ended,
                "start_op": self.start_op, "end_op": self.end_op, "value": self.value}


@dataclass(frozen=True, slots=True)
class Instant:
    f: str
    time_ns: int
    op: int
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"f": self.f, "time_s": self.time_ns / NS_PER_S, "op": self.op,
                "value": self.value}


def history_end_ns(history: History) -> int:
    return max((op.time for op in history.ops), default=0)


def fault_intervals(history: History) -> tuple[list[Fault], list[Instant]]:
    """Pair the nemesis's ops into intervals (see the module docstring)."""
    end = history_end_ns(history)
    open_: dict[str, list[tuple[int, int, Any]]] = {}
    faults: list[Fault] = []
    instants: list[Instant] = []
    ops, partner = history.ops, history.partner
    for pos, op in enumerate(ops):
        if op.is_client():
            continue
        # A nemesis that logs invoke + info pairs: the completion marks the fault.
        if op.type == "invoke" and pos < len(partner) and partner[pos] >= 0:
            continue
        kr = _kind_of(op.f)
        if kr is None:
            instants.append(Instant(op.f, op.time, op.index, op.value))
            continue
        kind, role = kr
        if role == "start":
            open_.setdefault(kind, []).append((op.time, op.index, op.value))
        else:
            opened = open_.pop(kind, [])
            if not opened:
                instants.append(Instant(op.f, op.time, op.index, op.value))
            for t0, i0, v in opened:
                faults.append(Fault(kind, t0, op.time, False, i0, op.index, v))
    for kind, opened in open_.items():
        for t0, i0, v in opened:
            faults.append(Fault(kind, t0, end, True, i0, None, v))
    faults.sort(key=lambda f: (f.start_ns, f.kind))
    return faults, instants


def bin_width_s(duration_ns: int, max_bins: int) -> int:
    """The smallest width in `BIN_WIDTHS_S` giving at most ``max_bins`` bins."""
    secs = duration_ns / NS_PER_S
    for w in BIN_WIDTHS_S:
        if secs / w <= max_bins:
            return w
    return max(BIN_WIDTHS_S[-1], math.ceil(secs / max_bins))


def _percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, math.ceil(q * len(sorted_vals)))
    return sorted_vals[min(rank, len(sorted_vals)) - 1]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Columns for plotting: ``t_s[i]`` is the start of bin i in seconds."""

    bin_s: int
    t_s: list[float]
    ok: list[float]
    fail: list[float]
    info: list[float]
    #: latency in ms per bin; None where no op completed in the bin.
    p50: list[float | None]
    p95: list[float | None]
    p99: list[float | None]
    max: list[float | None]
    totals: dict[str, int]
    #: percentiles over the whole run, ms ({} when no op completed).
    overall_ms: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"bin_s": self.bin_s, "t_s": self.t_s, "ok": self.ok, "fail": self.fail,
                "info": self.info, "p50": self.p50, "p95": self.p95, "p99": self.p99,
                "max": self.max, "totals": self.totals, "overall_ms": self.overall_ms}


def timeline(history: History, *, max_bins: int = 600) -> Timeline:
    """Throughput and latency per bin of client ops (see the module docstring)."""
    end = history_end_ns(history)
    width = bin_width_s(end, max_bins)
    width_ns = width * NS_PER_S
    n = end // width_ns + 1
    counts = {"ok": [0] * n, "fail": [0] * n, "info": [0] * n}
    lats: list[list[float]] = [[] for _ in range(n)]
    ops, partner = history.ops, history.partner
    for pos, op in enumerate(ops):
        if op.type == "invoke" or not op.is_client():
            continue
        inv = partner[pos] if pos < len(partner) else -1
        if inv < 0:
            continue
        b = op.time // width_ns
        counts[op.type][b] += 1
        lats[b].append((op.time - ops[inv].time) / 1e6)
    p50: list[float | None] = []
    p95: list[float | None] = []
    p99: list[float | None] = []
    mx: list[float | None] = []
    for ls in lats:
        if not ls:
            p50.append(None)
            p95.append(None)
            p99.append(None)
            mx.append(None)
            continue
        ls.sort()
        p50.append(round(_percentile(ls, 0.50), 3))
        p95.append(round(_percentile(ls, 0.95), 3))
        p99.append(round(_percentile(ls, 0.99), 3))
        mx.append(round(ls[-1], 3))
    return Timeline(
        bin_s=width,
        t_s=[float(i * width) for i in range(n)],
        ok=[c / width for c in counts["ok"]],
        fail=[c / width for c in counts["fail"]],
        info=[c / width for c in counts["info"]],
        p50=p50, p95=p95, p99=p99, max=mx,
        totals={k: sum(v) for k, v in counts.items()},
        overall_ms=_overall(lats),
    )


def _overall(lats: list[list[float]]) -> dict[str, float]:
    every = sorted(x for ls in lats for x in ls)
    if not every:
        return {}
    return {"p50": round(_percentile(every, 0.50), 3), "p95": round(_percentile(every, 0.95), 3),
            "p99": round(_percentile(every, 0.99), 3), "max": round(every[-1], 3)}


def completions_during(history: History, faults: list[Fault]) -> list[dict[str, int]]:
    """Per fault: client completions by type (ok / fail / info) inside its interval."""
    import bisect

    done = sorted((op.time, op.type) for op in history.ops
                  if op.type != "invoke" and op.is_client())
    times = [t for t, _ in done]
    out = []
    for f in faults:
        lo = bisect.bisect_left(times, f.start_ns)
        hi = bisect.bisect_right(times, f.end_ns)
        c = {"ok": 0, "fail": 0, "info": 0}
        for _, typ in done[lo:hi]:
            c[typ] = c.get(typ, 0) + 1
        out.append(c)
    return out
