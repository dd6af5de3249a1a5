"""A loaded history: the ops in order, each invocation paired with its completion.

`Pairer` checks the invocation/completion discipline incrementally, so that a streaming
reader can report the first bad line with its number: a completion (``ok``/``fail``)
without an open invocation, or a second invocation while one is open in the same
process. An ``info`` with no open invocation is a standalone event (nemesis ops).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import msgspec

from harness.history._op import Op


class Pairer:
    """Incremental invocation/completion pairing; raises ValueError on a violation."""

    __slots__ = ("_open", "_pos", "partner")

    def __init__(self) -> None:
        self._open: dict[int | str, int] = {}
        self._pos = 0
        #: partner[i] is the position of op i's invocation or completion, -1 if none.
        self.partner: list[int] = []

    def add(self, op: Op) -> None:
        pos = self._pos
        self._pos = pos + 1
        partner = self.partner
        typ = op.type
        if typ == "invoke":
            prev = self._open.get(op.process)
            if prev is not None:
                raise ValueError(
                    f"process {op.process!r} invokes again while its invocation at position "
                    f"{prev} is still open (expected an ok, fail or info completion first)")
            self._open[op.process] = pos
            partner.append(-1)
            return
        inv = self._open.pop(op.process, None)
        if inv is None:
            if typ == "info":
                partner.append(-1)
                return
            raise ValueError(
                f"{typ} completion for process {op.process!r} has no open invocation "
                f"(expected an invoke by that process before it)")
        partner[inv] = pos
        partner.append(inv)

    def open_invocations(self) -> dict[int | str, int]:
        """Processes whose last invocation never completed (position of the invoke)."""
        return dict(self._open)


@dataclass(slots=True)
class History:
    """Ops in history order plus the pairing; checkers take this, never files."""

    ops: list[Op]
    partner: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, ops: Iterable[Op]) -> History:
        """Pair ``ops`` (raising ValueError on a discipline violation)."""
        pairer = Pairer()
        lst = list(ops)
        for op in lst:
            pairer.add(op)
        return cls(lst, pairer.partner)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def completion(self, pos: int) -> Op | None:
        """The completion of the invocation at position ``pos`` (None if it never ended)."""
        j = self.partner[pos]
        return self.ops[j] if j >= 0 else None

    def invocation(self, pos: int) -> Op | None:
        j = self.partner[pos]
        return self.ops[j] if j >= 0 else None

    def pairs(self) -> Iterator[tuple[Op, Op | None]]:
        """Each client invocation with its completion (None: never completed)."""
        ops, partner = self.ops, self.partner
        for i, op in enumerate(ops):
            if op.type == "invoke":
                j = partner[i]
                yield op, (ops[j] if j >= 0 else None)


def renumber(ops: Sequence[Op]) -> list[Op]:
    """Ops with ``index`` set to their position (for writers of synthetic histories)."""
    return [op if op.index == i else msgspec.structs.replace(op, index=i)
            for i, op in enumerate(ops)]
