"""The transaction state of one partition (sans-I/O), and the control batches (markers).

`PartitionTxns` follows the partition's log: a transactional data batch opens a
transaction of its producer id at its base offset (if none is open); a marker closes
it, and an abort marker adds an `AbortedTxn` (producer id, first offset, marker
offset) to the aborted-transaction index. From that:

- the last stable offset (LSO) is the smallest first offset of the open transactions,
  or else the high watermark (never above it), and never below the log start offset
  (as in Kafka: retention is bounded by the high watermark, not the LSO, so it may
  delete the start of a transaction still open): read_committed consumers read below
  it;
- `aborted_between` names the aborted transactions a read_committed fetch of
  ``[start, end)`` must tell the client about (the client drops their records).

Nothing here is persisted: the owner rebuilds it after a restart by replaying the
log's batch headers (`on_data`) and markers (`on_marker`, type read by
`marker_is_commit`), so it is exactly as durable as the log. A transaction open at a
crash stays open (the LSO stays at its first offset) until the coordinator writes its
marker.

Marker format (Kafka's): a control batch (attributes: transactional + control bits)
carrying the transaction's producer id and epoch, sequence -1, one record whose key is
int16 version 0 + int16 type (0 abort, 1 commit) and whose value is int16 version 0 +
int32 coordinator epoch.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from dataclasses import dataclass, field

from reference_broker import records

ABORT = 0
COMMIT = 1
_KEY = struct.Struct(">hh")
_VALUE = struct.Struct(">hi")


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the abort marker's offset


@dataclass(slots=True)
class PartitionTxns:
    """Open transactions (producer id -> first offset) and the aborted index."""

    ongoing: dict[int, int] = field(default_factory=dict)
    aborted: list[AbortedTxn] = field(default_factory=list)  # by marker offset

    def on_data(self, producer_id: int, base_offset: int) -> None:
        """A transactional data batch of ``producer_id`` was appended at ``base_offset``."""
        self.ongoing.setdefault(producer_id, base_offset)

    def on_marker(self, producer_id: int, commit: bool, offset: int) -> AbortedTxn | None:
        """A marker was appended at ``offset``; returns the aborted entry it added."""
        first = self.ongoing.pop(producer_id, None)
        if first is None or commit:
            return None
        entry = AbortedTxn(producer_id, first, offset)
        self.aborted.append(entry)
        return entry

    def first_unstable_offset(self) -> int | None:
        return min(self.ongoing.values()) if self.ongoing else None

    def last_stable_offset(self, high_watermark: int, log_start_offset: int = 0) -> int:
        first = self.first_unstable_offset()
        if first is None:
            return high_watermark
        return min(max(first, log_start_offset), high_watermark)

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions with records in ``[start, end)``, by first offset."""
        i = bisect_left(self.aborted, start, key=lambda a: a.last_offset)
        out = [a for a in self.aborted[i:] if a.first_offset < end]
        out.sort(key=lambda a: a.first_offset)
        return out

    def forget_below(self, log_start_offset: int) -> None:
        """Drop aborted entries whose marker retention deleted."""
        i = bisect_left(self.aborted, log_start_offset, key=lambda a: a.last_offset)
        if i:
            del self.aborted[:i]


def marker_batch(producer_id: int, epoch: int, commit: bool, timestamp_ms: int,
                 coordinator_epoch: int = 0) -> bytes:
    """A control batch ending the transaction of (producer id, epoch)."""
    rec = records.Record(key=_KEY.pack(0, COMMIT if commit else ABORT),
                         value=_VALUE.pack(0, coordinator_epoch), timestamp=timestamp_ms)
    return records.build_batch([rec], producer_id=producer_id, producer_epoch=epoch,
                               base_sequence=records.NO_SEQUENCE, transactional=True,
                               control=True)


def marker_is_commit(batch: records.Buffer) -> bool | None:
    """True for a commit marker, False for an abort marker, None if the control batch
    at the start of ``batch`` is not a transaction marker (or unreadable)."""
    try:
        for r in records.iter_records(batch):
            if r.key is None or len(r.key) < _KEY.size:
                return None
            _, kind = _KEY.unpack_from(r.key)
            if kind == COMMIT:
                return True
            if kind == ABORT:
                return False
            return None
    except records.InvalidRecords:
        return None
    return None
