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

The result is the longest of the three prefixes (Kafka applies them in turn, which
gives the same prefix). -1 disables a rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What retention (and a reader of the log's shape) needs to know of a segment.

    ``max_timestamp`` is the largest record timestamp in the segment (for a segment
    whose batches carry no timestamp, the file's modification time)."""

    base_offset: int
    next_offset: int
    size_bytes: int
    max_timestamp: int


def deletable_prefix(segments: Sequence[SegmentInfo], *, now_ms: int, high_watermark: int,
                     log_start_offset: int, retention_ms: int,
                     retention_bytes: int) -> int:
    """How many of the oldest ``segments`` retention deletes now."""
    limit = 0  # closed segments wholly below the high watermark
    while limit < len(segments) - 1 and segments[limit].next_offset <= high_watermark:
        limit += 1
    below_start = 0
    while (below_start < len(segments) - 1
           and segments[below_start].next_offset <= log_start_offset):
        below_start += 1
    by_time = 0
    if retention_ms >= 0:
        while by_time < limit and now_ms - segments[by_time].max_timestamp > retention_ms:
            by_time += 1
    by_size = 0
    if retention_bytes >= 0:
        total = sum(s.size_bytes for s in segments)
        while by_size < limit and total - segments[by_size].size_bytes >= retention_bytes:
            total -= segments[by_size].size_bytes
            by_size += 1
    return max(below_start, by_time, by_size)
