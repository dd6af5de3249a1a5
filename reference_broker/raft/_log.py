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
stores the leader's no-op (``data == b""``) as an empty control batch.

Compaction (retention; the Raft paper's section 7): a log may start after a
`Snapshot` point, (index, term) of the last entry it no longer holds, plus opaque
``data`` from the driver (for a Kafka log: the log start offset). Entries up to
the point are committed, so nothing but the point itself needs keeping. A Ready
carries at most one snapshot write, applied before the other writes: `compact`
(drop the entries up to the point, keep the rest) or `reset` (drop the whole log,
which restarts after the point: a follower installing the leader's snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._messages import Entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Where a compacted log starts: every entry up to `index` is gone; `term` is the
    term of the entry at `index`. ``Snapshot()`` is the empty prefix (index 0)."""

    index: int = 0
    term: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        if self.index < 0 or self.term < 0 or (self.index == 0) != (self.term == 0):
            raise ValueError(f"Snapshot needs index and term both 0 or both >= 1, got "
                             f"index={self.index} term={self.term}")


@dataclass(frozen=True, slots=True, kw_only=True)
class HardState:
    """What must survive a crash besides the log: the term and the vote in it."""

    term: int = 0
    voted_for: int | None = None


class LogStorage(Protocol):
    """A node's durable log and hard state. Indexes are dense and start right after
    the snapshot point (at 1 without one).

    Implementations must not reorder writes: after a crash the store holds what
    was synced plus possibly a prefix of the writes made since (a torn tail is
    cut, never kept with a hole)."""

    def hard_state(self) -> HardState: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot:
        """The compacted prefix (``Snapshot()`` if none)."""
        ...

    def term_at(self, index: int) -> int | None:
        """The snapshot's term at its index (0 for index 0); None below the snapshot
        point and beyond the last index."""
        ...

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        """Entries with ``lo <= index < hi`` (snapshot index < lo, hi <= last_index() + 1)."""
        ...

    def append(self, entries: Sequence[Entry]) -> None:
        """Append; the first entry's index is ``last_index() + 1``."""
        ...

    def truncate(self, from_index: int) -> None:
        """Drop every entry with ``index >= from_index`` (> the snapshot index)."""
        ...

    def compact(self, snapshot: Snapshot) -> None:
        """Drop every entry up to ``snapshot.index`` (which the log holds, with
        ``snapshot.term``); the log now starts after it. Durable before later writes."""
        ...

    def reset(self, snapshot: Snapshot) -> None:
        """Drop the whole log; it restarts empty after ``snapshot.index``."""
        ...

    def set_hard_state(self, state: HardState) -> None: ...

    def sync(self) -> None:
        """Make every write so far durable."""
        ...


class MemoryLog:
    """`LogStorage` in a list: the reference model (sync does nothing)."""

    __slots__ = ("_entries", "_hard_state", "_snap")

    def __init__(self, entries: Sequence[Entry] = (), hard_state: HardState | None = None
                 ) -> None:
        self._entries: list[Entry] = []
        self._hard_state = hard_state or HardState()
        self._snap = Snapshot()
        if entries:
            self.append(entries)

    def hard_state(self) -> HardState:
        return self._hard_state

    def snapshot(self) -> Snapshot:
        return self._snap

    def last_index(self) -> int:
        return self._snap.index + len(self._entries)

    def term_at(self, index: int) -> int | None:
        first = self._snap.index
        if index == first:
            return self._snap.term
        if first < index <= first + len(self._entries):
            return self._entries[index - first - 1].term
        return None

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        first = self._snap.index
        assert lo > first, f"entries from {lo}: compacted up to {first}"
        return self._entries[lo - first - 1:hi - first - 1]

    def append(self, entries: Sequence[Entry]) -> None:
        if entries and entries[0].index != self.last_index() + 1:
            raise ValueError(f"append at index {entries[0].index} to a log whose last "
                             f"index is {self.last_index()}: the log must stay dense")
        self._entries.extend(entries)

    def truncate(self, from_index: int) -> None:
        del self._entries[max(from_index - self._snap.index, 1) - 1:]

    def compact(self, snapshot: Snapshot) -> None:
        if self.term_at(snapshot.index) != snapshot.term:
            raise ValueError(f"compact to {snapshot}: the log holds term "
                             f"{self.term_at(snapshot.index)} there")
        del self._entries[:snapshot.index - self._snap.index]
        self._snap = snapshot

    def reset(self, snapshot: Snapshot) -> None:
        self._entries.clear()
        self._snap = snapshot

    def set_hard_state(self, state: HardState) -> None:
        self._hard_state = state

    def sync(self) -> None:
        pass


class LogView:
    """The node's view of its log: storage plus the writes of the current step.

    `take` and `take_snapshot` hand the pending writes to the Ready and assume the
    driver applies them (snapshot first) before the next step (see the module
    docstring)."""

    __slots__ = ("_new", "_reset", "_snap_write", "_storage", "_trunc", "last_index",
                 "last_term", "snapshot")

    def __init__(self, storage: LogStorage) -> None:
        self._storage = storage
        self._trunc: int | None = None  # storage suffix to drop, from this index
        self._new: list[Entry] = []  # entries to append after the truncation
        self._snap_write: Snapshot | None = None  # applied before the other writes
        self._reset = False  # the snapshot write drops the whole log
        self.snapshot = storage.snapshot()
        self.last_index = storage.last_index()
        self.last_term = storage.term_at(self.last_index) or 0

    def term_at(self, index: int) -> int | None:
        """None below the snapshot point (compacted) and beyond the last index."""
        snap = self.snapshot
        if index > self.last_index or index < snap.index:
            return None
        if index == snap.index:
            return snap.term
        new = self._new
        if new and index >= new[0].index:
            return new[index - new[0].index].term
        return self._storage.term_at(index)

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index < hi``, clipped to the log (``lo`` must be above
        the snapshot point)."""
        assert lo > self.snapshot.index, f"entries from {lo}: compacted up to " \
                                         f"{self.snapshot.index}"
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
        """Drop every entry with ``index >= from_index`` (above the snapshot point)."""
        if from_index > self.last_index:
            return
        assert from_index > self.snapshot.index, "a compacted entry is committed"
        new = self._new
        if new and from_index >= new[0].index:
            del new[from_index - new[0].index:]
        else:
            new.clear()
            if not self._reset:  # after a reset storage holds nothing to drop
                self._trunc = from_index if self._trunc is None else min(self._trunc,
                                                                          from_index)
        self.last_index = from_index - 1
        self.last_term = self.term_at(self.last_index) or 0

    def compact(self, snapshot: Snapshot) -> None:
        """Forget the entries up to ``snapshot.index``, which storage must hold."""
        if (self._trunc is not None and self._trunc <= snapshot.index) or \
                (self._new and self._new[0].index <= snapshot.index):
            raise ValueError(f"cannot compact up to {snapshot.index}: entries up to it "
                             f"are not written yet (persist the last Ready first)")
        self.snapshot = snapshot
        if not self._reset:
            self._snap_write = snapshot

    def reset(self, snapshot: Snapshot) -> None:
        """Drop the whole log: it restarts after ``snapshot``."""
        self._new = []
        self._trunc = None
        self._reset = True
        self._snap_write = self.snapshot = snapshot
        self.last_index = snapshot.index
        self.last_term = snapshot.term

    def pending(self) -> bool:
        return self._trunc is not None or bool(self._new) or self._snap_write is not None

    def take(self) -> tuple[int | None, tuple[Entry, ...]]:
        """The step's writes, (truncate_from, entries); the view forgets them."""
        out = (self._trunc, tuple(self._new))
        self._trunc = None
        self._new = []
        return out

    def take_snapshot(self) -> tuple[Snapshot | None, bool]:
        """The step's snapshot write and whether it is a reset; the view forgets it."""
        out = (self._snap_write, self._reset)
        self._snap_write = None
        self._reset = False
        return out


def persist(storage: LogStorage, truncate_from: int | None, entries: Sequence[Entry],
            hard_state: HardState | None, sync: bool, *, snapshot: Snapshot | None = None,
            reset: bool = False) -> None:
    """Apply one Ready's writes to ``storage`` in the order the node assumes (pass the
    Ready's ``snapshot`` and ``reset`` too once compaction is used)."""
    if snapshot is not None:
        if reset:
            storage.reset(snapshot)
        else:
            storage.compact(snapshot)
    if truncate_from is not None:
        storage.truncate(truncate_from)
    if entries:
        storage.append(entries)
    if hard_state is not None:
        storage.set_hard_state(hard_state)
    if sync:
        storage.sync()
