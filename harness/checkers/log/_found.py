"""A bounded collector of witnesses: counts every case, keeps the first few."""

from __future__ import annotations

from typing import Any

from harness.checkers._result import Witness


class Found:
    """Witnesses of one anomaly type. Call `take` per case; build the witness dict
    only when it returns True, so a million cases cost a million increments."""

    __slots__ = ("count", "limit", "witnesses")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.witnesses: list[Witness] = []

    def take(self) -> bool:
        self.count += 1
        return len(self.witnesses) < self.limit

    def add(self, w: Witness) -> None:
        self.witnesses.append(w)


def fmt_list(xs: list[Any], n: int = 8) -> str:
    """``[1, 2, 3]`` for messages, elided past ``n`` items."""
    if len(xs) <= n:
        return "[" + ", ".join(repr(x) for x in xs) + "]"
    return "[" + ", ".join(repr(x) for x in xs[:n]) + f", ... ({len(xs)} in all)]"
