"""A simulated disk implementing ``reference_broker.raft.LogStorage``.

Writes apply at once to what the node reads back (the page cache) and are also
journalled; `sync_upto` makes a prefix of the journal durable. `crash` throws
the cache away and keeps the durable state plus a random prefix of the unsynced
writes, as a file system may (writes land in order; a torn tail is cut by
recovery, never kept with a hole).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from reference_broker.raft import Entry, HardState

_Op = tuple[str, Any]


class SimDisk:
    """One node's log and hard state, with a durable copy behind them."""

    def __init__(self) -> None:
        self._log: list[Entry] = []
        self._hs = HardState()
        self._durable_log: list[Entry] = []
        self._durable_hs = HardState()
        self._journal: list[_Op] = []  # writes not yet durable, oldest first
        self._written = 0  # ops ever written
        self._synced = 0  # ops ever made durable
        self.syncs = 0

    # -- LogStorage ----------------------------------------------------------------

    def hard_state(self) -> HardState:
        return self._hs

    def last_index(self) -> int:
        return len(self._log)

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if 0 < index <= len(self._log):
            return self._log[index - 1].term
        return None

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        return self._log[lo - 1:hi - 1]

    def append(self, entries: Sequence[Entry]) -> None:
        if entries and entries[0].index != len(self._log) + 1:
            raise AssertionError(f"append at {entries[0].index} after {len(self._log)}")
        self._log.extend(entries)
        self._record(("append", tuple(entries)))

    def truncate(self, from_index: int) -> None:
        del self._log[from_index - 1:]
        self._record(("truncate", from_index))

    def set_hard_state(self, state: HardState) -> None:
        self._hs = state
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
        return self._log

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
        self._log = list(self._durable_log)
        self._hs = self._durable_hs
        return lost

    def _record(self, op: _Op) -> None:
        self._journal.append(op)
        self._written += 1

    def _apply_durable(self, op: _Op) -> None:
        kind, arg = op
        if kind == "append":
            self._durable_log.extend(arg)
        elif kind == "truncate":
            del self._durable_log[arg - 1:]
        else:
            self._durable_hs = arg
