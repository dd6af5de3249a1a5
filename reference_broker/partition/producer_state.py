"""Idempotent-producer state of one partition (sans-I/O), with Kafka's rules.

Per producer id the partition remembers the producer epoch and the last five batches
appended (first/last sequence, first/last offset, max timestamp), as Kafka's
`ProducerStateEntry` does. A batch carrying a producer id is checked against it before
it is appended (`check`) and recorded after (`record`):

1. Duplicate: same epoch and the same first and last sequence as one of the last five
   batches -> not appended again; the producer gets the ORIGINAL offsets and no error
   (Kafka >= 1.0 answers retries this way; DUPLICATE_SEQUENCE_NUMBER is not sent).
2. Epoch lower than the current one -> INVALID_PRODUCER_EPOCH (fenced zombie).
3. Epoch higher than the current one (a bumped producer) -> the first sequence must be
   0, else OUT_OF_ORDER_SEQUENCE_NUMBER; the old epoch's batches are forgotten.
4. Same epoch -> the first sequence must follow the last one (wrapping after
   2**31 - 1 to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER (a gap, or a retry of a batch
   older than the last five).
5. Unknown producer id (never seen, or its state was lost with retention) -> any
   sequence is accepted, as Kafka does since KIP-360; UNKNOWN_PRODUCER_ID is never
   returned.

State is rebuilt after a restart by `record`-ing the headers of the batches in the log
(`rebuild`), so a retry that reaches a restarted broker is still recognised.
Batches without a producer id (-1) bypass all of this. A transaction marker
(`bump_epoch`) with a higher epoch than the producer's (a transaction aborted by a
re-initialised or timed-out producer) starts the new epoch without batches: its first
batch must have sequence 0, as after rule 3.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from reference_broker.protocol import errors

BATCHES_TO_RETAIN = 5
_SEQ_MAX = (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """What the broker remembers of an appended idempotent batch."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[BatchMeta] = field(default_factory=lambda: deque(maxlen=BATCHES_TO_RETAIN))

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


@dataclass(frozen=True, slots=True)
class Check:
    """Outcome of `ProducerStateTable.check`: append, duplicate (with the original), or error."""

    error_code: int = errors.NONE
    duplicate: BatchMeta | None = None

    @property
    def ok_to_append(self) -> bool:
        return self.error_code == errors.NONE and self.duplicate is None


APPEND = Check()


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _SEQ_MAX)


class ProducerStateTable:
    """producer id -> ProducerEntry for one partition."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, ProducerEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, producer_id: int) -> ProducerEntry | None:
        return self._entries.get(producer_id)

    def items(self) -> list[tuple[int, ProducerEntry]]:
        """(producer id, entry) pairs, by producer id (for DescribeProducers)."""
        return sorted(self._entries.items())

    def check(self, producer_id: int, epoch: int, first_seq: int, last_seq: int) -> Check:
        """Decide what to do with a batch from `producer_id` (see the module docstring)."""
        if producer_id < 0:
            return APPEND
        entry = self._entries.get(producer_id)
        if entry is None:
            return APPEND
        if epoch == entry.epoch:
            for meta in entry.batches:
                if meta.first_seq == first_seq and meta.last_seq == last_seq:
                    return Check(duplicate=meta)
        if epoch < entry.epoch:
            return Check(error_code=errors.INVALID_PRODUCER_EPOCH)
        if epoch > entry.epoch:
            if first_seq != 0:
                return Check(error_code=errors.OUT_OF_ORDER_SEQUENCE_NUMBER)
            return APPEND
        # An entry without batches was started by a marker's epoch bump: last_seq is -1,
        # so the epoch's first batch must have sequence 0.
        if not in_sequence(entry.last_seq, first_seq):
            return Check(error_code=errors.OUT_OF_ORDER_SEQUENCE_NUMBER)
        return APPEND

    def record(self, producer_id: int, epoch: int, first_seq: int, last_seq: int,
               first_offset: int, last_offset: int, max_timestamp: int) -> None:
        """Remember an appended batch (after `check` allowed it, or on rebuild)."""
        if producer_id < 0:
            return
        entry = self._entries.get(producer_id)
        if entry is None or epoch > entry.epoch:
            entry = ProducerEntry(epoch)
            self._entries[producer_id] = entry
        elif epoch < entry.epoch:
            return  # replayed history of a fenced epoch: the newer state wins
        entry.batches.append(BatchMeta(first_seq, last_seq, first_offset, last_offset,
                                       max_timestamp))

    def bump_epoch(self, producer_id: int, epoch: int) -> None:
        """A transaction marker of ``epoch`` was written: a higher epoch starts afresh
        (the producer's next batch has sequence 0), fencing the older epochs."""
        if producer_id < 0:
            return
        entry = self._entries.get(producer_id)
        if entry is None or epoch > entry.epoch:
            self._entries[producer_id] = ProducerEntry(epoch)

    def rebuild(self, headers: Iterable[tuple[int, int, int, int, int, int, int]]) -> None:
        """Replay `(pid, epoch, first_seq, last_seq, first_off, last_off, max_ts)` in log order."""
        for pid, epoch, first_seq, last_seq, first_off, last_off, max_ts in headers:
            self.record(pid, epoch, first_seq, last_seq, first_off, last_off, max_ts)
