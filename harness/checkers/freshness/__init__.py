"""The ``freshness`` checker: a read that claims to be current is not older than
an allowance.

Kafka does not promise linearizable reads, and neither does a Raft broker without
leader leases: a leader cut off from its peers keeps answering until it notices
(check-quorum) or hears of its successor. What a broker must still bound is how
long: a deposed leader that serves reads for as long as a partition lasts hides
every write the new leader acknowledged, and consumers that trust its end offsets
stop at an old prefix (the reference broker's planted bug ``stale-leader-read``).

Ops it reads: ``ok`` sends (``[offset, value]`` per micro-op) and ``ok`` ``offsets``
ops (the kafka workload's ListOffsets, ``{key: [log_start, end_offset]}``; the end
offset is the high watermark, the offset after the last committed record).

- ``stale-read`` (`_stale`): an ``offsets`` op invoked more than ``max_stale_ms``
  after a send to the same key was acknowledged at offset ``o`` reported an end
  offset ``<= o``: it did not see a write acknowledged that long before it began.

Allowed, not bad, when acks is not ``all`` (an acks=1 write may be lost on failover,
so a later end offset below it is Kafka's documented trade-off, judged by the log
checker as lost-write). Polls are not judged: a consumer reads from its position,
and a poll that returns nothing new claims nothing about the log's end.
"""

from harness.checkers.freshness._check import CHECKER, check
from harness.checkers.freshness._options import (
    ANOMALY_TYPES,
    DEFAULT_MAX_STALE_MS,
    GUARANTEES,
    FreshnessCheckOptions,
)

__all__ = ["ANOMALY_TYPES", "CHECKER", "DEFAULT_MAX_STALE_MS", "GUARANTEES",
           "FreshnessCheckOptions", "check"]
