"""A tiny synchronous driver for hand-written Raft scenarios.

Each Ready is persisted (and synced) at once and its messages queued; `deliver`
hands queued messages over in send order, dropping those on cut links. Election
timeouts are fixed per node (``timeouts``) so tests decide who times out first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reference_broker.raft import (
    Entry,
    MemoryLog,
    Message,
    RaftConfig,
    RaftNode,
    Ready,
    Role,
    persist,
)


def fixed(value: int) -> Callable[[int, int], int]:
    """An election-timeout source that always answers ``value`` (clamped)."""
    return lambda lo, hi: min(max(value, lo), hi)


class Cluster:
    def __init__(self, n: int = 3, timeouts: dict[int, int] | None = None,
                 **config: Any) -> None:
        self.ids = tuple(range(1, n + 1))
        self.config = config
        self.timeouts = timeouts or {i: 150 + 50 * (i - 1) for i in self.ids}
        self.storage = {i: MemoryLog() for i in self.ids}
        self.now_ms = 0
        self.queue: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.applied: dict[int, list[Entry]] = {i: [] for i in self.ids}
        self.readies: dict[int, list[Ready]] = {i: [] for i in self.ids}
        self.nodes = {i: self._new(i) for i in self.ids}

    def _new(self, i: int) -> RaftNode:
        cfg = RaftConfig(node_id=i, voters=self.ids, **self.config)
        return RaftNode(cfg, self.storage[i], fixed(self.timeouts[i]), self.now_ms)

    def restart(self, i: int) -> RaftNode:
        self.nodes[i] = self._new(i)
        self.applied[i] = []
        self.queue = [m for m in self.queue if m.dst != i and m.src != i]
        return self.nodes[i]

    def handle(self, i: int, ready: Ready) -> Ready:
        persist(self.storage[i], ready.truncate_from, ready.entries, ready.hard_state,
                ready.sync, snapshot=ready.snapshot, reset=ready.reset)
        self.readies[i].append(ready)
        self.applied[i].extend(ready.committed)
        self.queue.extend(ready.messages)
        return ready

    def step(self, msg: Message) -> Ready:
        return self.handle(msg.dst, self.nodes[msg.dst].step(msg, self.now_ms))

    def ready(self, i: int) -> Ready:
        return self.handle(i, self.nodes[i].ready())

    def isolate(self, i: int) -> None:
        self.cut |= {(i, j) for j in self.ids if j != i} | {(j, i) for j in self.ids if j != i}

    def heal(self) -> None:
        self.cut = set()

    def deliver(self, rounds: int = 100) -> int:
        """Deliver queued messages (and what they cause) until quiet; returns how many."""
        count = 0
        for _ in range(rounds):
            if not self.queue:
                break
            batch, self.queue = self.queue, []
            for m in batch:
                if (m.src, m.dst) not in self.cut:
                    count += 1
                    self.step(m)
        return count

    def advance(self, ms: int, step_ms: int = 10) -> None:
        """Let ``ms`` pass in ``step_ms`` ticks, delivering everything after each."""
        end = self.now_ms + ms
        while self.now_ms < end:
            self.now_ms += step_ms
            for i in self.ids:
                self.handle(i, self.nodes[i].tick(self.now_ms))
            self.deliver()

    def leader(self) -> int | None:
        leaders = [i for i in self.ids if self.nodes[i].role is Role.LEADER]
        assert len(leaders) <= 1 or len({self.nodes[i].term for i in leaders}) == len(leaders)
        return max(leaders, key=lambda i: self.nodes[i].term) if leaders else None

    def elect(self) -> int:
        """Run until a leader has committed its no-op; returns the leader."""
        for _ in range(200):
            self.advance(10)
            lead = self.leader()
            if lead is not None and self.nodes[lead].commit_index >= \
                    self.nodes[lead].log.last_index:
                return lead
        raise AssertionError("no leader elected")

    def log_terms(self, i: int) -> list[int]:
        """Terms of the entries after the snapshot point."""
        s = self.storage[i]
        return [e.term for e in s.entries(s.snapshot().index + 1, s.last_index() + 1)]
