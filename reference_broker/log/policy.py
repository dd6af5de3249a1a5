"""When to roll a segment and when to fsync: pure decisions, time passed in."""

from __future__ import annotations

from reference_broker.log.config import LogConfig

#: relative offsets in the indexes are uint32.
MAX_RELATIVE_OFFSET = 0xFFFFFFFF


def should_roll(config: LogConfig, *, segment_size: int, segment_base_offset: int,
                first_append_ms: int | None, batch_size: int, batch_next_offset: int,
                now_ms: int) -> bool:
    """Whether a batch must go into a new segment instead of the active one.

    Never for an empty segment (so a batch larger than ``segment_bytes`` gets a
    segment of its own instead of being refused). Otherwise when the batch would
    take the segment past ``segment_bytes``, when more than ``roll_ms`` has passed
    since the segment's first append (Kafka's ``>``), or when the batch's offsets
    no longer fit the index's 32-bit relative offsets.
    """
    if segment_size == 0:
        return False
    if segment_size + batch_size > config.segment_bytes:
        return True
    if first_append_ms is not None and now_ms - first_append_ms > config.roll_ms:
        return True
    return batch_next_offset - segment_base_offset > MAX_RELATIVE_OFFSET


def should_flush(config: LogConfig, *, now_ms: int, last_flush_ms: int, dirty: bool) -> bool:
    """For the ``interval`` policy: fsync once ``flush_interval_ms`` has passed."""
    return (config.flush == "interval" and dirty
            and now_ms - last_flush_ms >= config.flush_interval_ms)
