"""The Raft log as the core sees it: a storage protocol, an in-memory model, and
the per-step overlay through which the node reads its own not-yet-written entries.

The node never writes storage. Each `Ready` it returns lists the writes (drop the
suffix from `truncate_from`, append `entries`, store `hard_state`) and whether
they must be fsynced before its messages leave (`sync`). A driver must apply a
Ready with `persist` (or the equivalent) before it calls the node again; the node
reads storage (and only reads it) to build AppendEntries for lagging followers
and to check log matching.

`LogStorage` is what a backing store must offer: `MemoryLog` here, the simulator's
crashable disk in ``harness/sim``, and later an adapter over the partition log.
There a Raft entry is one record batch and its term the batch's partition leader
epoch; Raft indexes are dense (1, 2, 3, ...) while Kafka offsets count records, so
the adapter keeps the (base offset, term) of each batch in memory (rebuilt from
the batch headers on open), maps `truncate` to ``truncate_to(base offset)``, and
stores the leader's no-op (``data == b""``) as an empty control batch. The node
assumes the log starts at index 1 (no snapshots or retention below it yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._messages import Entry


@dataclass(frozen=True, slots=True, kw_only=True)
class HardState:
    """What must survive a crash besides the log: the term and the vote in it."""

    term: int = 0
    voted_for: int | None = None


class LogStorage(Protocol):
    """A node's durable log and hard state. Indexes are dense and start at 1.

    Implementations must not reorder writes: after a crash the store holds what
    was synced plus possibly a prefix of the writes made since (a torn tail is
    cut, never kept with a hole)."""

    def hard_state(self) -> HardState: ...

    def last_index(self) -> int: ...

    def term_at(self, index: int) -> int | None:
        """0 for index 0; None beyond the last index."""
        ...

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        """Entries with ``lo <= index < hi`` (1 <= lo, hi <= last_index() + 1)."""
        ...

    def append(self, entries: Sequence[Entry]) -> None:
        """Append; the first entry's index is ``last_index() + 1``."""
        ...

    def truncate(self, from_index: int) -> None:
        """Drop every entry with ``index >= from_index``."""
        ...

    def set_hard_state(self, state: HardState) -> None: ...

    def sync(self) -> None:
        """Make every write so far durable."""
        ...


class MemoryLog:
    """`LogStorage` in a list: the reference model (sync does nothing)."""

    __slots__ = ("_entries", "_hard_state")

    def __init__(self, entries: Sequence[Entry] = (), hard_state: HardState | None = None
                 ) -> None:
        self._entries: list[Entry] = []
        self._hard_state = hard_state or HardState()
        self.append(entries)

    def hard_state(self) -> HardState:
        return self._hard_state

    def last_index(self) -> int:
        return len(self._entries)

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if 0 < index <= len(self._entries):
            return self._entries[index - 1].term
        return None

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        return self._entries[lo - 1:hi - 1]

    def append(self, entries: Sequence[Entry]) -> None:
        if entries and entries[0].index != len(self._entries) + 1:
            raise ValueError(f"append at index {entries[0].index} to a log whose last "
                             f"index is {len(self._entries)}: the log must stay dense")
        self._entries.extend(entries)

    def truncate(self, from_index: int) -> None:
        del self._entries[max(from_index, 1) - 1:]

    def set_hard_state(self, state: HardState) -> None:
        self._hard_state = state

    def sync(self) -> None:
        pass


class LogView:
    """The node's view of its log: storage plus the writes of the current step.

    `take` hands the pending writes to the Ready and assumes the driver applies
    them before the next step (see the module docstring)."""

    __slots__ = ("_new", "_storage", "_trunc", "last_index", "last_term")

    def __init__(self, storage: LogStorage) -> None:
        self._storage = storage
        self._trunc: int | None = None  # storage suffix to drop, from this index
        self._new: list[Entry] = []  # entries to append after the truncation
        self.last_index = storage.last_index()
        self.last_term = storage.term_at(self.last_index) or 0

    def term_at(self, index: int) -> int | None:
        if index > self.last_index or index < 0:
            return None
        if index == 0:
            return 0
        new = self._new
        if new and index >= new[0].index:
            return new[index - new[0].index].term
        return self._storage.term_at(index)

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi``, clipped to the log."""
        hi = min(hi, self.last_index + 1)
        if lo >= hi:
            return []
        new = self._new
        first_new = new[0].index if new else self.last_index + 1
        out: list[Entry] = []
        if lo < first_new:
            out.extend(self._storage.entries(lo, min(hi, first_new)))
        if hi > first_new:
            out.extend(new[max(lo, first_new) - first_new:hi - first_new])
        return out

    def append(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        assert entries[0].index == self.last_index + 1, "appends keep the log dense"
        self._new.extend(entries)
        self.last_index = entries[-1].index
        self.last_term = entries[-1].term

    def truncate(self, from_index: int) -> None:
        """Drop every entry with ``index >= from_index``."""
        if from_index > self.last_index:
            return
        new = self._new
        if new and from_index >= new[0].index:
            del new[from_index - new[0].index:]
        else:
            new.clear()
            self._trunc = from_index if self._trunc is None else min(self._trunc, from_index)
        self.last_index = from_index - 1
        self.last_term = self.term_at(self.last_index) or 0

    def pending(self) -> bool:
        return self._trunc is not None or bool(self._new)

    def take(self) -> tuple[int | None, tuple[Entry, ...]]:
        """The step's writes, (truncate_from, entries); the view forgets them."""
        out = (self._trunc, tuple(self._new))
        self._trunc = None
        self._new = []
        return out


def persist(storage: LogStorage, truncate_from: int | None, entries: Sequence[Entry],
            hard_state: HardState | None, sync: bool) -> None:
    """Apply one Ready's writes to ``storage`` in the order the node assumes."""
    if truncate_from is not None:
        storage.truncate(truncate_from)
    if entries:
        storage.append(entries)
    if hard_state is not None:
        storage.set_hard_state(hard_state)
    if sync:
        storage.sync()
