"""Planted bugs: realistic misimplementations, each off by default, that exist so the
harness can prove it catches them (``reference-broker --bug NAME``, ``--list-bugs``;
``logtrial run --bug NAME``). None may change behaviour when off.

This module is the one list of names; each part of the broker reads the names that
concern it from ``BrokerConfig.raw["logtrial.bugs"]`` (a comma list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from reference_broker.groups import PLANTED_BUGS as _GROUP_BUGS

CONFIG_KEY: Final = "logtrial.bugs"

#: name -> one-line description, for every bug a running broker can switch on.
BUGS: Final[Mapping[str, str]] = dict(sorted(_GROUP_BUGS.items()))


def parse_bugs(names: Iterable[str]) -> frozenset[str]:
    """Validated bug names; raises ValueError naming the unknown ones and the valid."""
    out = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(out - BUGS.keys())
    if unknown:
        raise ValueError(f"unknown bug(s) {', '.join(unknown)}; known: "
                         f"{', '.join(BUGS) or 'none'} (see --list-bugs)")
    return out
