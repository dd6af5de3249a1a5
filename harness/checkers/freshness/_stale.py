"""``stale-read``: an end offset read more than ``max_stale_ms`` after a write to the
same key was acknowledged, and below that write.

Per key, acknowledged sends are kept in completion order with a running maximum of
their offsets; each ``offsets`` observation looks up (bisect) the highest offset
acknowledged before its invocation minus the allowance. O(n log n).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from harness.checkers.log._found import Found
from harness.errors import HistoryError
from harness.history import History, key_str


@dataclass(slots=True)
class _Acks:
    """A key's acknowledged sends in completion order."""

    times: list[int] = field(default_factory=list)
    #: running maximum offset over the first i + 1 acks, and the op that wrote it
    best: list[tuple[int, int]] = field(default_factory=list)

    def add(self, time_ns: int, offset: int, op: int) -> None:
        self.times.append(time_ns)
        prev = self.best[-1] if self.best else (-1, -1)
        self.best.append(max(prev, (offset, op)))

    def highest_before(self, time_ns: int) -> tuple[int, int] | None:
        """The highest offset acknowledged strictly before ``time_ns``, and its op."""
        i = bisect_left(self.times, time_ns)
        return self.best[i - 1] if i else None


def stale_reads(history: History, max_stale_ms: int, limit: int) -> tuple[Found, int]:
    """The cases, and how many end offsets were judged."""
    found = Found(limit)
    acks: dict[str, _Acks] = {}
    ops = history.ops
    partner = history.partner
    judged = 0
    allowance_ns = max_stale_ms * 1_000_000
    for i, op in enumerate(ops):
        if op.type != "ok":
            continue
        if op.f == "send":
            for mop in op.value or ():
                if len(mop) >= 3 and isinstance(mop[2], list) and mop[2][0] is not None:
                    acks.setdefault(key_str(mop[1]), _Acks()).add(op.time, int(mop[2][0]), i)
        elif op.f == "offsets":
            if not isinstance(op.value, dict):
                raise HistoryError(f"op {op.index}: an ok offsets op's value must be "
                                   f"{{key: [log_start, end_offset]}}, got {op.value!r}")
            inv = partner[i] if partner[i] >= 0 else i
            cutoff = ops[inv].time - allowance_ns
            for k, pair in op.value.items():
                key = key_str(k)
                got = acks.get(key)
                if got is None or not isinstance(pair, list) or len(pair) != 2:
                    continue
                judged += 1
                hit = got.highest_before(cutoff)
                if hit is None or pair[1] > hit[0]:
                    continue
                if found.take():
                    offset, w = hit
                    lag_ms = (ops[inv].time - ops[w].time) / 1e6
                    found.add({
                        "ops": [ops[w].index, ops[inv].index, op.index],
                        "process": op.process, "key": key, "offsets": [offset, pair[1]],
                        "message": (f"key {key}: end offset {pair[1]} read by op "
                                    f"{op.index} (invoked {lag_ms:.0f} ms after op "
                                    f"{ops[w].index} acknowledged offset {offset}) does "
                                    f"not include that write"),
                    })
    return found, judged
