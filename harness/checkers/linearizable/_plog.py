"""A persistent append-only log: the ``log`` model's state for one key.

The search keeps and hashes many states that share long prefixes. A tuple of
records would cost O(n) to extend and to hash; a node that points to the log
before it costs O(1) for both (its hash chains its predecessor's). Finding an
offset walks back along jump pointers (Myers' skew-binary scheme), so it takes
O(log n). Equality compares records back to the first shared node.
"""

from __future__ import annotations

from typing import Any, Final


class PLog:
    """A log of ``(offset, value)`` records, offsets increasing; immutable."""

    __slots__ = ("_hash", "jump", "n", "off", "prev", "val")

    def __init__(self, prev: PLog | None, off: int, val: Any) -> None:
        self.prev = prev
        self.off = off
        self.val = val
        if prev is None:
            self.n = 0
            self._hash = 0x5EED
            self.jump: PLog | None = None
            return
        self.n = prev.n + 1
        self._hash = hash((prev._hash, off, val))
        # skew-binary jump pointers: O(log n) ancestor search
        pj = prev.jump
        if pj is not None and pj.jump is not None and prev.n - pj.n == pj.n - pj.jump.n:
            self.jump = pj.jump
        else:
            self.jump = prev

    def append(self, off: int, val: Any) -> PLog:
        return PLog(self, off, val)

    @property
    def last(self) -> int:
        """The last offset (-1 when empty)."""
        return self.off if self.n else -1

    def find(self, off: int) -> PLog | None:
        """The node holding ``off``, or None."""
        node: PLog | None = self
        while node is not None and node.n and node.off > off:
            j = node.jump
            node = j if j is not None and j.n and j.off >= off else node.prev
        if node is None or not node.n or node.off != off:
            return None
        return node

    def get(self, off: int, default: Any = None) -> Any:
        node = self.find(off)
        return default if node is None else node.val

    def records(self) -> list[tuple[int, Any]]:
        out = []
        node: PLog | None = self
        while node is not None and node.n:
            out.append((node.off, node.val))
            node = node.prev
        out.reverse()
        return out

    def __len__(self) -> int:
        return self.n

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PLog) or self.n != other.n or self._hash != other._hash:
            return False
        a: PLog | None = self
        b: PLog | None = other
        while a is not b:
            if a is None or b is None or a.off != b.off or a.val != b.val:
                return False
            a, b = a.prev, b.prev
        return True

    def __repr__(self) -> str:
        return f"PLog({self.records()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (from_records, (self.records(),))


EMPTY: Final = PLog(None, -1, None)


def from_records(records: list[tuple[int, Any]]) -> PLog:
    log = EMPTY
    for off, val in records:
        log = log.append(off, val)
    return log
