"""Drawing the report model into one self-contained HTML page, and writing files.

The page embeds everything: CSS, the vendored uPlot (MIT, licence header kept) and
our script inline, diagrams as inline SVG, and the report model as JSON in a
``<script type="application/json">`` element from which the script draws the charts.
Nothing is fetched when the page opens.

Escaping: Jinja2 autoescapes every value put into HTML text or attributes; the
embedded JSON has ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so no string
from a history can close the script element or open a tag.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ._build import build_report
from ._load import Run, load_run
from ._order import order_layout
from ._witness import compact

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
REPORT_FILE = "report.html"

#: Fault kind colours (translucent bands over the charts; legend chips use them too).
FAULT_PALETTE = ("#e4572e", "#4c72b0", "#8c6bb1", "#55a868", "#dd8452", "#937860",
                 "#da8bc3", "#8c8c8c")


def script_json(data: Any) -> Markup:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` survives."""
    s = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(s)


@functools.cache
def _static(name: str) -> Markup:
    text = (STATIC / name).read_text(encoding="utf-8")
    low = text.lower()
    if "</script" in low or "</style" in low:
        raise ValueError(f"static file {name} contains a closing tag; it cannot be inlined")
    return Markup(text)


@functools.cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["script_json"] = script_json
    env.filters["secs"] = lambda v: "—" if v is None else f"{float(v):.3f}"
    env.filters["size"] = _human_size
    env.filters["compact"] = compact
    env.globals["static"] = _static
    return env


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def fault_colors(kinds: list[str]) -> dict[str, str]:
    return {k: FAULT_PALETTE[i % len(FAULT_PALETTE)] for i, k in enumerate(kinds)}


def render_report(model: dict[str, Any]) -> str:
    """The HTML page for a report model (`build_report`'s output)."""
    colors = fault_colors(model["fault_kinds"])
    # The charts need where and what, not the nemesis's own description of each fault.
    faults = [{k: f[k] for k in ("kind", "start_s", "end_s")} for f in model["faults"]]
    events = [{k: e[k] for k in ("f", "time_s")} for e in model["fault_events"]]
    data = {"timeline": model["timeline"], "faults": faults,
            "fault_events": events, "fault_colors": colors,
            "verdict": model["headline"]["verdict"], "run_id": model["run_id"],
            "duration_s": model["counts"]["duration_s"], "marks": model["anomaly_marks"]}
    return environment().get_template("report.html.j2").render(
        m=model, colors=colors, data=data,
        order_layouts=[order_layout(d) for d in model["order"]])


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, so no reader sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(run_dir: Path, run: Run | None = None) -> Path:
    """Render ``run_dir/report.html`` from the run directory; returns its path."""
    run_dir = Path(run_dir)
    run = run if run is not None else load_run(run_dir)
    out = run_dir / REPORT_FILE
    atomic_write(out, render_report(build_report(run)))
    return out
