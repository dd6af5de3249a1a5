"""Everything from the broker or the clients is text on the page, never markup."""

from __future__ import annotations

from pathlib import Path

import orjson

from harness.report import write_index, write_junit, write_report
from tests.report._dom import parse
from tests.report.fixtures.make import PAYLOADS, escape_run


def test_markup_in_a_history_renders_as_text(tmp_path: Path) -> None:
    d = escape_run(tmp_path / "run")
    html = write_report(d).read_text()
    dom = parse(html)
    # No element the payloads would create exists: one <img> would be an injection.
    assert not dom.find_all("img")
    assert not [n for n in dom.iter() if any(a.startswith("on") for a in n.attrs)]
    scripts = dom.find_all("script")
    assert len(scripts) == 3  # the data, uPlot, ours: no injected script element
    assert "alert(" not in "".join(s.text for s in scripts[1:])
    # The raw payloads occur nowhere in the markup, only escaped.
    for p in PAYLOADS:
        assert p not in html
    # ... and yet a reader sees them verbatim, as text, in every place they came from.
    text = dom.norm_text()
    for p in PAYLOADS:
        assert p in text
    assert PAYLOADS[0] in dom.by_id("replay-command").text
    assert PAYLOADS[1] in dom.by_id("faults").norm_text()
    assert PAYLOADS[0] in dom.by_id("anomaly-log-lost-write").norm_text()
    fig = dom.by_id("linearizability").find("figure")
    assert PAYLOADS[2] in fig.attrs["data-partition"]
    assert any(PAYLOADS[3] in g.attrs["data-tip"] for g in fig.find_all("g", cls="op"))
    cells = dom.by_id("order").find_all("g", cls="cell")
    assert any(PAYLOADS[1] in c.attrs["data-tip"] for c in cells)
    # The embedded JSON cannot close its element, and still decodes to the payload.
    raw = dom.by_id("report-data").text
    assert "<" not in raw and ">" not in raw
    data = orjson.loads(raw)
    assert data["run_id"].startswith(PAYLOADS[0])
    # The link to a node log whose name carries markup stays one attribute value.
    hrefs = [a.attrs["href"] for a in dom.by_id("logs").find_all("a")]
    assert any(PAYLOADS[1] in h for h in hrefs)


def test_markup_in_junit_and_index_is_escaped(tmp_path: Path) -> None:
    d = escape_run(tmp_path / "run")
    import xml.etree.ElementTree as ET

    root = ET.parse(write_junit(d)).getroot()
    assert root.find("testsuite").get("name").endswith(PAYLOADS[0] + PAYLOADS[1]
                                                       + PAYLOADS[2] + PAYLOADS[3])
    html = write_index(tmp_path).read_text()
    for p in PAYLOADS:
        assert p not in html
    dom = parse(html)
    assert not dom.find_all("img")
    assert len(dom.find_all("script")) == 0
    assert PAYLOADS[0] in dom.by_id("recent").norm_text()
