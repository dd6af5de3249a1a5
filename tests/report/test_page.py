"""Render the fixture run directories and check what a reader sees, number by number."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.errors import HistoryError, UsageError
from harness.history import load
from harness.report import write_all, write_report
from tests.report._dom import Node, parse


def page(run_dir: Path) -> tuple[Node, dict[str, Any], str]:
    out = write_report(run_dir)
    assert out == run_dir / "report.html"
    html = out.read_text()
    dom = parse(html)
    data = orjson.loads(dom.by_id("report-data").text)
    return dom, data, html


def verdict_table(dom: Node) -> list[tuple[str, str, str, str]]:
    rows = dom.by_id("verdict").find("tbody").find_all("tr")
    out = []
    for r in rows:
        tds = [td.norm_text() for td in r.find_all("td")]
        out.append((tds[0], tds[1], tds[2], tds[3]))
    return out


def test_valid_run(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("valid-ok")
    dom, data, html = page(d)
    assert dom.by_id("overall-verdict").norm_text() == "PASS"
    assert "kept every promise" in dom.by_id("headline").norm_text()
    what = dom.by_id("what-was-tested").norm_text()
    assert "against reference (3 nodes, proxy backend)" in what
    assert "acks=all, replication factor 3, idempotence on" in what
    assert "injected faults: partition, kill, pause every 10 s" in what
    tab = dom.by_id("settings")
    settings = {th.norm_text(): td.norm_text()
                for th, td in zip(tab.find_all("th"), tab.find_all("td"), strict=True)}
    assert len(settings) == 19
    assert settings["seed"] == "1" and settings["nodes"] == "n1, n2, n3"
    assert settings["versions"] == "reference 0.1.0, kafka-python 3.0.12"
    assert verdict_table(dom) == [("linearizable", "—", "pass", ""), ("log", "—", "pass", "")]
    # Throughput matches the history: every client completion counted once by type.
    h = load(d / "history.jsonl")
    comp = [op for op in h.ops if op.is_client() and op.type != "invoke"]
    tl = data["timeline"]
    for typ in ("ok", "fail", "info"):
        assert tl["totals"][typ] == sum(op.type == typ for op in comp)
        assert round(sum(tl[typ]) * tl["bin_s"]) == tl["totals"][typ]
    assert tl["totals"]["fail"] > 0 and tl["totals"]["info"] > 0
    caption = dom.by_id("timeline").find("p", cls="caption").norm_text()
    assert f"Totals: {tl['totals']['ok']} ok" in caption
    assert dom.by_id("chart-throughput") and dom.by_id("chart-latency")
    # Faults: partition and kill healed, pause still open at the end.
    rows = [[td.norm_text() for td in tr.find_all("td")]
            for tr in dom.by_id("faults").find("tbody").find_all("tr")]
    assert [r[0] for r in rows] == ["partition", "kill", "pause"]
    assert rows[2][2].endswith("(never healed)")
    assert [f["kind"] for f in data["faults"]] == ["partition", "kill", "pause"]
    nem = [op for op in h.ops if op.process == "nemesis"]
    assert data["faults"][0]["start_s"] == nem[0].time / 1e9
    assert data["faults"][0]["end_s"] == nem[1].time / 1e9
    # A sample order diagram, no anomalies.
    figs = dom.by_id("order").find_all("figure")
    assert len(figs) == 1 and "sample key" in figs[0].find("figcaption").norm_text()
    assert figs[0].find_all("g", cls="cell")
    assert "None: every check passed." in dom.by_id("anomalies").norm_text()
    assert dom.by_id("replay-command").norm_text().startswith(
        "logtrial run --target reference --nodes 3 --acks all --seed 1 --time-limit 60 "
        "--nemesis partition,kill,pause")
    links = [a.attrs["href"] for a in dom.by_id("logs").find_all("a")]
    assert links == ["nodes/n1/broker.log", "nodes/n2/broker.log", "nodes/n3/broker.log"]
    assert all((d / link).is_file() for link in links)
    # Self-contained: no external fetch of any kind.
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
        for n in dom.find_all(tag):
            assert not n.attrs.get(attr, "data:").startswith(("http", "//")), n.attrs
    assert "https://" not in html.replace("https://github.com/leeoniya/uPlot", "")


#: The planted families, as the log checker names them (plus what they cause).
FAMILY_TYPES = ["G1a", "duplicate", "inconsistent-offsets", "lost-write", "nonmonotonic-poll",
                "poll-skip", "unseen"]


def test_invalid_run_with_each_log_anomaly_family(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("invalid-log-bad")
    dom, _data, _ = page(d)
    results = orjson.loads((d / "results.json").read_bytes())
    log = results["children"]["log"]
    witnesses, counts = log["anomalies"], log["counts"]
    assert sorted(witnesses) == FAMILY_TYPES
    assert dom.by_id("overall-verdict").norm_text() == "FAIL"
    head = dom.by_id("headline").norm_text()
    assert f"broke {len(FAMILY_TYPES)} guarantees" in head and "lost-write ×1" in head
    assert f"G1a ×{counts['G1a']}" in head
    rows = verdict_table(dom)
    assert [(r[1], r[2], r[3]) for r in rows if r[0] == "log"] == [
        (t, "fail", str(counts[t])) for t in FAMILY_TYPES]
    for t in FAMILY_TYPES:
        art = dom.by_id(f"anomaly-log-{t}")
        assert art.attrs["data-total"] == str(counts[t])
        assert art.find("p", cls="guarantee").norm_text().startswith("Breaks: ")
        for w, div in zip(witnesses[t], art.find_all("div", cls="witness"), strict=True):
            head = div.find("p", cls="witness-head").norm_text()
            assert f"key {w['key']}" in head
            assert div.find("p", cls="witness-msg").norm_text() == w["message"]
            shown = [int(tr.find("td").norm_text()) for tr in div.find("tbody").find_all("tr")]
            assert shown == w["ops"]
    # The lost write's row names the acknowledged send and its offset.
    lw = witnesses["lost-write"][0]
    ack_row = dom.by_id("anomaly-log-lost-write").find("tbody").find_all("tr")[0]
    assert f'[[\"send\",\"{lw["key"]}\",[{lw["offsets"][0]},' in ack_row.norm_text()
    # Order diagrams: the lost write's offset is unread, the inconsistent offset marked.
    figs = {f.attrs["data-key"]: f for f in dom.by_id("order").find_all("figure")}
    assert set(figs) == {w["key"] for ws in witnesses.values() for w in ws}
    k = lw["key"]
    unread = figs[k].find_all("g", cls="unread")
    assert unread and f"offset {lw['offsets'][0]}:" in unread[0].attrs["data-tip"]
    inc = witnesses["inconsistent-offsets"][0]
    cells = figs[inc["key"]].find_all("g", cls="inconsistent")
    assert any(f"offset {inc['offsets'][0]}:" in c.attrs["data-tip"] for c in cells)
    assert any(c.find("text").norm_text() == str(inc["values"][1]) for c in cells)
    dup = witnesses["duplicate"][0]
    dups = figs[dup["key"]].find_all("g", cls="duplicate")
    assert len(dups) >= 2
    stat = figs[dup["key"]].find("span", data_stat="duplicate").norm_text()
    assert stat.startswith("1 duplicated")
    # G1a: the aborted transaction's values, read by consumers, are marked.
    g1a = witnesses["G1a"][0]
    aborted = figs[g1a["key"]].find_all("g", cls="aborted")
    assert any(f"offset {g1a['offsets'][0]}:" in c.attrs["data-tip"] for c in aborted)
    assert all(", fail)" in c.attrs["data-tip"] for c in aborted)


def test_allowed_anomaly_passes(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("allowed-ok")
    dom, _, _ = page(d)
    assert dom.by_id("overall-verdict").norm_text() == "PASS"
    head = dom.by_id("headline").norm_text()
    counts = orjson.loads((d / "results.json").read_bytes())["counts"]
    assert set(counts) == {"lost-write", "poll-skip", "unseen"}
    assert ("allowed by this configuration: " + ", ".join(
        f"{t} ×{counts[t]}" for t in ("lost-write", "poll-skip", "unseen"))) in head
    row = next(r for r in dom.by_id("verdict").find("tbody").find_all("tr")
           if r.attrs["data-anomaly"] == "lost-write")
    assert "acks=1: only the leader" in row.norm_text()
    skip = next(r for r in dom.by_id("verdict").find("tbody").find_all("tr")
                if r.attrs["data-anomaly"] == "poll-skip")
    assert "subscribe: a rebalance" in skip.norm_text()
    assert dom.by_id("anomaly-log-lost-write").find("span", cls="badge").norm_text() == "allowed"


def test_linearizability_is_drawn(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("invalid-linear-bad")
    dom, _, _ = page(d)
    results = orjson.loads((d / "results.json").read_bytes())
    [w] = results["children"]["linearizable"]["anomalies"]["nonlinearizable"]
    blocking = w["ops"][0]
    assert dom.by_id("overall-verdict").norm_text() == "FAIL"
    assert ("linearizable", "nonlinearizable", "fail", "1") in verdict_table(dom)
    fig = dom.by_id("linearizability").find("figure")
    assert fig.attrs["data-partition"] == "key r"
    ops = fig.find_all("g", cls="op")
    assert len(ops) == 5
    assert [g.attrs["data-op"] for g in fig.find_all("g", cls="failing")] == [str(blocking)]
    e = w["explanation"]
    n = len(e["linearized"])
    assert [g.find("text").norm_text() for g in fig.find_all("g", cls="lin-point")] == [
        str(i + 1) for i in range(n)]
    cap = fig.find("figcaption").norm_text()
    assert f"{n} ops linearized, then stuck at op {blocking}" in cap
    assert w["message"] in cap
    assert f"state at the end of the prefix: {e['final_state']}" in cap
    legal = [str(c["index"]) for c in e["candidates"] if c["legal"]]
    assert [g.attrs["data-op"] for g in fig.find_all("g", cls="candidate")] == legal
    # Not a log anomaly: no witness table and no order diagram for it.
    assert not dom.by_id("anomalies").find_all("article")


def test_unknown_verdicts(run_dir: Callable[[str], Path]) -> None:
    dom, _, _ = page(run_dir("unknown-timeout"))
    assert dom.by_id("overall-verdict").norm_text() == "UNKNOWN"
    assert "timed out after 10 s" in dom.by_id("headline").norm_text()
    assert ("linearizable", "—", "unknown", "") in verdict_table(dom)
    dom, data, _ = page(run_dir("unknown-noresults"))
    assert dom.by_id("overall-verdict").norm_text() == "UNKNOWN"
    assert "no results.json" in dom.by_id("headline").norm_text()
    assert data["timeline"] is None
    assert "No operations were recorded" in dom.by_id("timeline").norm_text()
    assert "No node logs" in dom.by_id("logs").norm_text()


def test_write_all_writes_report_and_junit(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("valid-ok")
    assert write_all(d) == [d / "report.html", d / "junit.xml"]
    assert (d / "report.html").stat().st_mode & 0o644 == 0o644


def test_bad_run_directories_say_what_is_wrong(tmp_path: Path,
                                               run_dir: Callable[[str], Path]) -> None:
    with pytest.raises(UsageError, match=r"no run\.json"):
        write_report(tmp_path)
    d = run_dir("valid-ok")
    (d / "results.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"results\.json: not valid JSON"):
        write_report(d)
    (d / "results.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="expected CheckResult"):
        write_report(d)
    (d / "results.json").unlink()
    with (d / "history.jsonl").open("a") as fh:
        fh.write('{"type": "ok"}\n')
    with pytest.raises(HistoryError, match=r"history\.jsonl"):
        write_report(d)
    assert not (d / "report.html").exists()


def test_witness_lists_are_capped_with_a_count_of_the_rest(
        run_dir: Callable[[str], Path]) -> None:
    d = run_dir("invalid-log-bad")
    results = orjson.loads((d / "results.json").read_bytes())
    log = results["children"]["log"]
    w = log["anomalies"]["duplicate"][0]
    many = [{**w, "message": f"copy {i}", "ops": list(range(30))} for i in range(500)]
    log["anomalies"]["duplicate"] = many
    log["counts"]["duplicate"] = 5000
    (d / "results.json").write_bytes(orjson.dumps(results))
    dom, _, _ = page(d)
    art = dom.by_id("anomaly-log-duplicate")
    divs = art.find_all("div", cls="witness")
    assert len(divs) == 20
    assert [div.find("p", cls="witness-msg").norm_text() for div in divs[:2]] == [
        "copy 0", "copy 1"]
    assert len(divs[0].find("tbody").find_all("tr")) == 12
    assert "and 18 more ops" in divs[0].norm_text()
    assert art.find("p", data_more="4980").norm_text() == (
        "… and 4980 more duplicate witnesses not listed.")
    assert ("log", "duplicate", "fail", "5000") in verdict_table(dom)


def test_each_witness_says_when_and_under_which_fault(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("invalid-log-bad")
    dom, data, _ = page(d)
    h = load(d / "history.jsonl")
    faults = data["faults"]
    results = orjson.loads((d / "results.json").read_bytes())
    seen_during = seen_quiet = 0
    for t, ws in results["children"]["log"]["anomalies"].items():
        divs = dom.by_id(f"anomaly-log-{t}").find_all("div", cls="witness")
        for w, div in zip(ws, divs, strict=True):
            times = [h.ops[i].time / 1e9 for i in w["ops"]]
            lo, hi = min(times), max(times)
            active = [f for f in faults if f["start_s"] <= hi and lo <= f["end_s"]]
            when = div.find("p", cls="witness-when").norm_text()
            if lo == hi:
                assert when.startswith(f"at {lo:.3f} s:")
            else:
                assert when.startswith(f"from {lo:.3f} s to {hi:.3f} s:")
            if active:
                seen_during += 1
                word = "during" if lo == hi else "faults in that span:"
                assert f"{word} {active[0]['kind']} ({active[0]['start_s']:.3f}-" in when
                assert when.count("(") == len(active)
            else:
                seen_quiet += 1
                assert when.endswith(": no fault was active")
    assert seen_during and seen_quiet
    # One timeline mark per listed witness, at its first op.
    assert len(data["marks"]) == sum(len(ws) for ws in
                                     results["children"]["log"]["anomalies"].values())


def test_a_long_fault_schedule_is_listed_in_part(run_dir: Callable[[str], Path]) -> None:
    d = run_dir("valid-ok")
    lines = (d / "history.jsonl").read_bytes().splitlines()
    ops = [orjson.loads(x) for x in lines]
    end = ops[-1]["time"]
    n = len(ops)
    for i in range(300):  # 300 kill/start pairs after the run, each with a big value
        for f in ("kill", "start"):
            ops.append({"index": n, "time": end + (2 * i + (f == "start") + 1) * 1000,
                        "process": "nemesis", "type": "info", "f": f,
                        "value": {"nodes": ["n1"], "why": "x" * 5000}})
            n += 1
    (d / "history.jsonl").write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in ops))
    dom, data, html = page(d)
    rows = dom.by_id("faults").find("tbody").find_all("tr")
    assert len(rows) == 200
    assert "… and 103 more nemesis events" in dom.by_id("faults").norm_text()
    assert len(data["faults"]) == 303
    assert "value" not in data["faults"][0]
    assert len(html) < 2_500_000
