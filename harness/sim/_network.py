"""A simulated network: per-message delay (hence reordering, unless ``fifo`` keeps
each link in order as TCP does), loss, duplication and partitions, all drawn from
its own seeded random source.

Partitions are data: the set of (src, dst) links that are cut. A message is
judged when it is sent and again when it arrives, so a partition that starts
while a message is in flight drops it too.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass

from reference_broker.raft import Message


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    cut: int = 0


class SimNetwork:
    """Messages in flight, ordered by delivery time then by send order."""

    def __init__(self, rng: random.Random, *, delay_ms_min: int = 1, delay_ms_max: int = 20,
                 loss: float = 0.0, duplicate: float = 0.0, fifo: bool = False) -> None:
        self._rng = rng
        self.fifo = fifo  # links keep order (like TCP): no message overtakes another
        self._link_last: dict[tuple[int, int], int] = {}
        self.delay_ms_min = delay_ms_min
        self.delay_ms_max = delay_ms_max
        self.loss = loss
        self.duplicate = duplicate
        self._cut: set[tuple[int, int]] = set()
        self._queue: list[tuple[int, int, Message]] = []
        self._seq = 0
        self.stats = NetworkStats()

    def partition(self, groups: Iterable[Iterable[int]], nodes: Iterable[int]) -> None:
        """Only nodes in the same group can talk; nodes in no group are isolated."""
        where: dict[int, int] = {}
        for i, group in enumerate(groups):
            for n in group:
                where[n] = i
        ids = list(nodes)
        self._cut = {(a, b) for a in ids for b in ids
                     if a != b and (a not in where or where.get(a) != where.get(b))}

    def heal(self) -> None:
        self._cut = set()

    def connected(self, src: int, dst: int) -> bool:
        return (src, dst) not in self._cut

    def send(self, msg: Message, now_ms: int) -> None:
        rng = self._rng
        self.stats.sent += 1
        if (msg.src, msg.dst) in self._cut:
            self.stats.cut += 1
            return
        if self.loss and rng.random() < self.loss:
            self.stats.lost += 1
            return
        copies = 1
        if self.duplicate and rng.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            self._seq += 1
            at = now_ms + rng.randint(self.delay_ms_min, self.delay_ms_max)
            if self.fifo:
                link = (msg.src, msg.dst)
                at = max(at, self._link_last.get(link, 0))
                self._link_last[link] = at
            heapq.heappush(self._queue, (at, self._seq, msg))

    def due(self, now_ms: int) -> list[Message]:
        """Pop every message whose delivery time has come (and whose link is up)."""
        out: list[Message] = []
        q = self._queue
        while q and q[0][0] <= now_ms:
            msg = heapq.heappop(q)[2]
            if (msg.src, msg.dst) in self._cut:
                self.stats.cut += 1
                continue
            out.append(msg)
        self.stats.delivered += len(out)
        return out

    def in_flight(self) -> int:
        return len(self._queue)
