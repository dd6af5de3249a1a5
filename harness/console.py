"""Terminal rendering of check results (rich): a short table, then the first witnesses."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from harness.checkers import CheckResult

_VERDICT = {True: "[bold green]valid[/]", False: "[bold red]INVALID[/]"}


def verdict_text(valid: object) -> str:
    return _VERDICT.get(valid, "[bold yellow]unknown[/]")  # type: ignore[call-overload]


def _witness_line(w: dict[str, Any]) -> str:
    msg = w.get("message")
    if msg:
        return str(msg)
    parts = [f"{k}={w[k]}" for k in ("key", "process", "ops", "offsets", "values") if k in w]
    return ", ".join(parts) or str(w)[:200]


def print_result(result: CheckResult, console: Console | None = None,
                 witnesses_shown: int = 3) -> None:
    con = console or Console(stderr=False, highlight=False)
    con.print(f"{result.checker}: {verdict_text(result.valid)}")
    if result.error:
        con.print("[yellow]note:[/] " + result.error.splitlines()[0])
    if result.anomalies:
        table = Table(show_header=True, header_style="bold")
        table.add_column("anomaly")
        table.add_column("count", justify="right")
        table.add_column("verdict")
        table.add_column(f"first witnesses (up to {witnesses_shown})", overflow="fold")
        for t in sorted(result.anomalies):
            ws = result.anomalies[t]
            kind = result.classification.get(t, "bad")
            shown = "\n".join(_witness_line(w) for w in ws[:witnesses_shown])
            table.add_row(t, str(result.counts.get(t, len(ws))),
                          "[red]bad[/]" if kind == "bad" else "[dim]allowed[/]", shown)
        con.print(table)
    stats = result.stats
    if stats:
        summary = ", ".join(f"{k}={v}" for k, v in stats.items()
                            if isinstance(v, (int, float, str)))
        if summary:
            con.print(f"[dim]{summary}[/]")
