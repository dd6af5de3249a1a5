"""Which segments retention deletes: a pure function of segment metadata and time.

Kafka's rules, applied to whole closed segments, oldest first, never the active
(last) segment and never a segment holding an offset at or above the high watermark
(``next_offset > high_watermark``):

- below the log start offset: a segment whose every offset is below it;
- time: a segment whose LARGEST record timestamp is more than ``retention_ms`` in
  the past (``now_ms - max_timestamp > retention_ms``), so no record is deleted
  before ``retention_ms`` has passed since its own timestamp; the oldest segments
  are deleted while this holds and the scan stops at the first that is too young;
- size: the oldest segment is deleted while ``total - its size >= retention_bytes``
  (the partition may stay up to one segment above ``retention_bytes``).

The rules run in this order, each continuing from where the previous one stopped
(as Kafka's successive passes do). -1 disables a rule.

A replicated partition applies the same rules on every replica, with its own
commit index as the high watermark (``reference_broker.cluster.storage``).

Planted bug ``early-retention`` (`PLANTED_BUGS`; ``by_first_write``): the time rule
ages a segment by when it was first written (its FIRST record's timestamp) instead
of by its newest record, so a segment that kept receiving young records until it
closed is deleted as soon as its oldest record expires, young records with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PLANTED_BUGS = {
    "early-retention": "retention ages a segment by when it was first written (its first "
                       "record) instead of by its newest record, so records younger than "
                       "retention.ms are deleted with an old segment (one node and cluster)",
}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What retention (and a reader of the log's shape) needs to know of a segment.

    ``max_timestamp`` is the largest record timestamp in the segment (for a segment
    whose batches carry no timestamp, the file's modification time);
    ``first_timestamp`` that of its first batch (only the planted bug reads it)."""

    base_offset: int
    next_offset: int
    size_bytes: int
    max_timestamp: int
    first_timestamp: int = -1


def deletable_prefix(segments: Sequence[SegmentInfo], *, now_ms: int, high_watermark: int,
                     log_start_offset: int, retention_ms: int,
                     retention_bytes: int, by_first_write: bool = False) -> int:
    """How many of the oldest ``segments`` retention deletes now (``by_first_write``:
    the planted bug ``early-retention``)."""
    limit = 0  # closed segments wholly below the high watermark
    while limit < len(segments) - 1 and segments[limit].next_offset <= high_watermark:
        limit += 1
    k = 0
    while k < len(segments) - 1 and segments[k].next_offset <= log_start_offset:
        k += 1
    if retention_ms >= 0:
        while k < limit and now_ms - _age_from(segments[k], by_first_write) > retention_ms:
            k += 1
    if retention_bytes >= 0:
        total = sum(s.size_bytes for s in segments[k:])
        while k < limit and total - segments[k].size_bytes >= retention_bytes:
            total -= segments[k].size_bytes
            k += 1
    return k


def _age_from(s: SegmentInfo, by_first_write: bool) -> int:
    if by_first_write and s.first_timestamp >= 0:
        return s.first_timestamp  # planted bug: the segment's first write, not its newest
    return s.max_timestamp
