"""A simulated disk implementing ``reference_broker.raft.LogStorage``.

Writes apply at once to what the node reads back (the page cache) and are also
journalled; `sync_upto` makes a prefix of the journal durable. `crash` throws
the cache away and keeps the durable state plus a random prefix of the unsynced
writes, as a file system may (writes land in order; a torn tail is cut by
recovery, never kept with a hole). Compaction and snapshot installs (`compact`,
`reset`) are journalled like any other write.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from reference_broker.raft import Entry, HardState, MemoryLog, Snapshot

_Op = tuple[str, Any]


class SimDisk(MemoryLog):
    """One node's log and hard state (a `MemoryLog`: the page cache), with a durable
    copy behind them."""

    def __init__(self) -> None:
        super().__init__()
        self._durable_log: list[Entry] = []
        self._durable_hs = HardState()
        self._durable_snap = Snapshot()
        self._journal: list[_Op] = []  # writes not yet durable, oldest first
        self._written = 0  # ops ever written
        self._synced = 0  # ops ever made durable
        self.syncs = 0

    # -- LogStorage: MemoryLog's, journalled -----------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        super().append(entries)
        self._record(("append", tuple(entries)))

    def truncate(self, from_index: int) -> None:
        super().truncate(from_index)
        self._record(("truncate", from_index))

    def compact(self, snapshot: Snapshot) -> None:
        super().compact(snapshot)
        self._record(("compact", snapshot))

    def reset(self, snapshot: Snapshot) -> None:
        super().reset(snapshot)
        self._record(("reset", snapshot))

    def set_hard_state(self, state: HardState) -> None:
        super().set_hard_state(state)
        self._record(("hard_state", state))

    def sync(self) -> None:
        self.sync_upto(self._written)

    # -- the simulation's side -----------------------------------------------------

    @property
    def written(self) -> int:
        """A position in the journal, for `sync_upto`."""
        return self._written

    @property
    def log(self) -> list[Entry]:
        """The entries after the snapshot point (``log[0]`` has index
        ``snapshot().index + 1``)."""
        return self._entries

    def sync_upto(self, position: int) -> None:
        """Make every write before ``position`` durable."""
        n = position - self._synced
        if n <= 0:
            return
        self.syncs += 1
        for op in self._journal[:n]:
            self._apply_durable(op)
        del self._journal[:n]
        self._synced = position

    def crash(self, rng: random.Random) -> int:
        """Lose the cache and all but a random prefix of the unsynced writes;
        returns how many writes were lost."""
        keep = rng.randint(0, len(self._journal))
        lost = len(self._journal) - keep
        for op in self._journal[:keep]:
            self._apply_durable(op)
        self._journal = []
        self._written = self._synced = self._synced + keep
        self._entries = list(self._durable_log)
        self._hard_state = self._durable_hs
        self._snap = self._durable_snap
        return lost

    def _record(self, op: _Op) -> None:
        self._journal.append(op)
        self._written += 1

    def _apply_durable(self, op: _Op) -> None:
        kind, arg = op
        if kind == "append":
            self._durable_log.extend(arg)
        elif kind == "truncate":
            del self._durable_log[arg - self._durable_snap.index - 1:]
        elif kind == "compact":
            del self._durable_log[:arg.index - self._durable_snap.index]
            self._durable_snap = arg
        elif kind == "reset":
            self._durable_log = []
            self._durable_snap = arg
        else:
            self._durable_hs = arg
