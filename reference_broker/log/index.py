"""Sparse offset and time indexes of one segment: pure, in memory, with a byte format.

A `SegmentIndex` follows a segment's batches as they are appended (or rescanned)
and answers "where does the batch holding offset X start?" and "from where must a
search for timestamp T start?" without touching the file.

Rules (they make reads bounded):

- Offset index: the first batch of the segment is always indexed; after that a batch
  is indexed when it starts at least ``interval`` bytes after the last indexed one.
  So the batch holding any offset starts less than ``interval`` bytes after the
  position `lookup_offset` returns (with the interval that built the index).
- Time index entry ``(T, O, P)``: every record at an offset below ``O`` has a
  timestamp <= ``T``, and ``O`` starts at byte ``P`` (a batch boundary). An entry is
  added after a batch that ends at least ``interval`` bytes after the last entry, and
  `seal` adds a final entry ``(max timestamp, next offset, size)`` when the segment
  is closed, so a closed segment's metadata is its last time entry.

On-disk format (big-endian, fixed width, no header; the file name gives the base):
offset index entry = relative offset uint32, position uint32 (8 bytes);
time index entry = timestamp int64, relative offset uint32, position uint32 (16 bytes).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right

from reference_broker.records import NO_TIMESTAMP

OFFSET_ENTRY = struct.Struct(">II")
TIME_ENTRY = struct.Struct(">qII")


class SegmentIndex:
    """Indexes and running metadata (size, next offset, max timestamp) of one segment."""

    __slots__ = ("base_offset", "interval", "max_timestamp", "next_offset", "offsets",
                 "positions", "sealed", "size", "time_offsets", "time_positions",
                 "times")

    def __init__(self, base_offset: int, interval: int) -> None:
        self.base_offset = base_offset
        self.interval = interval
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.sealed = False
        self.offsets = array("q")
        self.positions = array("q")
        self.times = array("q")
        self.time_offsets = array("q")
        self.time_positions = array("q")

    @property
    def empty(self) -> bool:
        return self.size == 0

    def add_batch(self, position: int, base_offset: int, next_offset: int,
                  max_timestamp: int, size: int) -> None:
        """Account for the batch just written at ``position`` (must be the end)."""
        assert position == self.size and base_offset == self.next_offset, (
            position, self.size, base_offset, self.next_offset)
        if not self.positions or position - self.positions[-1] >= self.interval:
            self.offsets.append(base_offset)
            self.positions.append(position)
        end = position + size
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
        last_time_pos = self.time_positions[-1] if self.time_positions else 0
        if end - last_time_pos >= self.interval:
            self.times.append(self.max_timestamp)
            self.time_offsets.append(next_offset)
            self.time_positions.append(end)
        self.size = end
        self.next_offset = next_offset
        self.sealed = False

    def seal(self) -> None:
        """Add the final time entry that closes the segment (idempotent)."""
        if not (self.time_positions and self.time_positions[-1] == self.size):
            self.times.append(self.max_timestamp)
            self.time_offsets.append(self.next_offset)
            self.time_positions.append(self.size)
        elif self.times[-1] != self.max_timestamp:
            self.times[-1] = self.max_timestamp
        self.sealed = True

    def lookup_offset(self, offset: int) -> tuple[int, int]:
        """``(entry offset, position)`` of the last indexed batch starting at or before
        ``offset``; ``(base, 0)`` if none."""
        i = bisect_right(self.offsets, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.offsets[i], self.positions[i]

    def lookup_time(self, timestamp: int) -> tuple[int, int]:
        """``(offset, position)`` where a search for the first record with a timestamp
        >= ``timestamp`` may start: nothing before it qualifies."""
        i = bisect_left(self.times, timestamp) - 1
        if i < 0:
            return self.base_offset, 0
        return self.time_offsets[i], self.time_positions[i]

    # -- bytes ---------------------------------------------------------------------

    def offset_index_bytes(self) -> bytes:
        base = self.base_offset
        return b"".join(OFFSET_ENTRY.pack(o - base, p)
                        for o, p in zip(self.offsets, self.positions))

    def time_index_bytes(self) -> bytes:
        base = self.base_offset
        return b"".join(TIME_ENTRY.pack(t, o - base, p)
                        for t, o, p in zip(self.times, self.time_offsets,
                                           self.time_positions))

    @classmethod
    def from_bytes(cls, base_offset: int, interval: int, offset_index: bytes,
                   time_index: bytes, size: int) -> SegmentIndex | str:
        """Load the indexes of a closed segment of ``size`` bytes.

        Returns the index, or a string saying why the bytes are not sane (then the
        caller rebuilds the index from the segment).
        """
        if len(offset_index) % OFFSET_ENTRY.size:
            return f"offset index length {len(offset_index)} is not a multiple of 8"
        if len(time_index) % TIME_ENTRY.size:
            return f"time index length {len(time_index)} is not a multiple of 16"
        if size == 0:
            return "segment is empty"
        if not time_index:
            return "time index has no final entry"
        ix = cls(base_offset, interval)
        prev_o, prev_p = -1, -1
        for rel, pos in OFFSET_ENTRY.iter_unpack(offset_index):
            if rel <= prev_o or pos <= prev_p or pos >= size:
                return f"offset index entry ({rel}, {pos}) out of order or past the end"
            if prev_o < 0 and (rel, pos) != (0, 0):
                return "offset index does not start at the segment's first batch"
            ix.offsets.append(base_offset + rel)
            ix.positions.append(pos)
            prev_o, prev_p = rel, pos
        if not ix.offsets:
            return "offset index is empty"
        prev_t, prev_o, prev_p = NO_TIMESTAMP - 1, 0, 0
        for ts, rel, pos in TIME_ENTRY.iter_unpack(time_index):
            if ts < prev_t or rel <= prev_o or pos <= prev_p or pos > size:
                return f"time index entry ({ts}, {rel}, {pos}) out of order or past the end"
            ix.times.append(ts)
            ix.time_offsets.append(base_offset + rel)
            ix.time_positions.append(pos)
            prev_t, prev_o, prev_p = ts, rel, pos
        if prev_p != size:
            return f"time index ends at byte {prev_p}, the segment at {size}"
        if ix.offsets[-1] >= ix.time_offsets[-1]:
            return "offset index entry beyond the segment's next offset"
        ix.size = size
        ix.next_offset = ix.time_offsets[-1]
        ix.max_timestamp = ix.times[-1]
        ix.sealed = True
        return ix
