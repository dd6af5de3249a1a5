"""Throughput, latency and fault intervals: pure functions over tiny histories."""

from __future__ import annotations

from typing import Any

from harness.history import History, op_from_dict
from harness.report._timeline import bin_width_s, fault_intervals, timeline

S = 1_000_000_000


def hist(*rows: tuple[Any, ...]) -> History:
    ops = []
    for i, (t, p, typ, f, v) in enumerate(rows):
        ops.append(op_from_dict({"index": i, "time": t, "process": p, "type": typ, "f": f,
                                 "value": v}, i))
    return History.of(ops)


def test_throughput_and_latency_per_second() -> None:
    h = hist(
        (0, 0, "invoke", "send", [["send", 1, 1]]),
        (10_000_000, 0, "ok", "send", [["send", 1, [0, 1]]]),          # 10 ms, bin 0
        (S + 1, 1, "invoke", "poll", [["poll"]]),
        (S + 30_000_001, 1, "ok", "poll", [["poll", {}]]),              # 30 ms, bin 1
        (S + 2, 0, "invoke", "send", [["send", 1, 2]]),
        (S + 50_000_002, 0, "fail", "send", [["send", 1, 2]]),          # 50 ms, bin 1
        (2 * S, 2, "invoke", "send", [["send", 1, 3]]),
        (2 * S + 5_000_000, 2, "info", "send", [["send", 1, 3]]),      # 5 ms, bin 2
        (2 * S + 6_000_000, "nemesis", "info", "kill", ["n1"]),
    )
    tl = timeline(h)
    assert tl.bin_s == 1
    assert tl.t_s == [0.0, 1.0, 2.0]
    assert tl.ok == [1, 1, 0]
    assert tl.fail == [0, 1, 0]
    assert tl.info == [0, 0, 1]
    assert tl.p50 == [10.0, 30.0, 5.0]
    assert tl.max == [10.0, 50.0, 5.0]
    assert tl.totals == {"ok": 2, "fail": 1, "info": 1}


def test_empty_bins_have_no_latency() -> None:
    h = hist((0, 0, "invoke", "send", None), (3 * S, 0, "ok", "send", None))
    tl = timeline(h)
    assert tl.p99 == [None, None, None, 3000.0]
    assert tl.ok == [0, 0, 0, 1]


def test_long_runs_are_downsampled() -> None:
    assert bin_width_s(600 * S, 600) == 1
    assert bin_width_s(601 * S, 600) == 2
    assert bin_width_s(3600 * S, 600) == 10
    h = hist((0, 0, "invoke", "send", None), (7200 * S, 0, "ok", "send", None))
    tl = timeline(h, max_bins=600)
    assert len(tl.t_s) <= 601
    assert tl.bin_s == 15
    assert tl.ok[-1] == 1 / 15


def test_faults_pair_start_and_stop() -> None:
    h = hist(
        (1 * S, "nemesis", "info", "start-partition", {"kind": "majority"}),
        (2 * S, "nemesis", "info", "kill", ["n1"]),
        (3 * S, "nemesis", "info", "stop-partition", None),
        (4 * S, "nemesis", "info", "start", ["n1"]),
        (5 * S, "nemesis", "info", "bump-clock", {"n2": 100}),
        (6 * S, "nemesis", "info", "pause", ["n3"]),
        (7 * S, 0, "invoke", "poll", None),
        (8 * S, 0, "ok", "poll", None),
    )
    faults, instants = fault_intervals(h)
    got = [(f.kind, f.start_ns // S, f.end_ns // S, f.open_ended) for f in faults]
    assert got == [("partition", 1, 3, False), ("kill", 2, 4, False), ("pause", 6, 8, True)]
    assert faults[0].value == {"kind": "majority"}
    assert [(i.f, i.time_ns // S) for i in instants] == [("bump-clock", 5)]


def test_nemesis_invoke_info_pairs_count_once() -> None:
    h = hist(
        (1 * S, "nemesis", "invoke", "start-loss", None),
        (1 * S + 5, "nemesis", "info", "start-loss", {"loss": 0.2}),
        (2 * S, "nemesis", "invoke", "stop-loss", None),
        (2 * S + 5, "nemesis", "info", "stop-loss", None),
    )
    faults, instants = fault_intervals(h)
    assert [(f.kind, f.start_ns, f.end_ns) for f in faults] == [("loss", S + 5, 2 * S + 5)]
    assert instants == []


def test_a_stop_without_start_is_an_instant() -> None:
    faults, instants = fault_intervals(hist((S, "nemesis", "info", "resume", ["n1"])))
    assert faults == []
    assert [i.f for i in instants] == ["resume"]


def test_overall_latency_and_completions_during_faults() -> None:
    from harness.report._timeline import completions_during

    h = hist(
        (0, 0, "invoke", "send", None), (10_000_000, 0, "ok", "send", None),
        (S, "nemesis", "info", "start-partition", None),
        (S + 1, 0, "invoke", "send", None), (S + 40_000_001, 0, "fail", "send", None),
        (S + 2, 1, "invoke", "poll", None), (S + 20_000_002, 1, "info", "poll", None),
        (2 * S, "nemesis", "info", "stop-partition", None),
        (2 * S + 1, 0, "invoke", "send", None), (2 * S + 30_000_001, 0, "ok", "send", None),
    )
    tl = timeline(h)
    assert tl.overall_ms == {"p50": 20.0, "p95": 40.0, "p99": 40.0, "max": 40.0}
    faults, _ = fault_intervals(h)
    assert completions_during(h, faults) == [{"ok": 0, "fail": 1, "info": 1}]
