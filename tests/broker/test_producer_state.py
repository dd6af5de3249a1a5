"""The idempotent-producer rules of `reference_broker.partition` (sans-I/O, table-driven)."""

from __future__ import annotations

import pytest

from reference_broker.partition import BATCHES_TO_RETAIN, ProducerStateTable
from reference_broker.protocol import errors

PID = 7


def _table(*batches: tuple[int, int, int]) -> ProducerStateTable:
    """A table holding appended batches (epoch, first_seq, last_seq) at dense offsets."""
    t = ProducerStateTable()
    off = 0
    for epoch, first, last in batches:
        t.record(PID, epoch, first, last, off, off + last - first, 1000)
        off += last - first + 1
    return t


@pytest.mark.parametrize(("history", "batch", "error", "dup_offset"), [
    # in sequence
    ([(0, 0, 4)], (0, 5, 9), errors.NONE, None),
    # retry of the last batch or of an older one among the last five: original offsets
    ([(0, 0, 4), (0, 5, 9)], (0, 5, 9), errors.NONE, 5),
    ([(0, 0, 4), (0, 5, 9)], (0, 0, 4), errors.NONE, 0),
    # gap, or overlap that is not an exact retry
    ([(0, 0, 4)], (0, 6, 9), errors.OUT_OF_ORDER_SEQUENCE_NUMBER, None),
    ([(0, 0, 4)], (0, 3, 9), errors.OUT_OF_ORDER_SEQUENCE_NUMBER, None),
    # fenced epoch, new epoch must restart at 0
    ([(2, 0, 4)], (1, 5, 9), errors.INVALID_PRODUCER_EPOCH, None),
    ([(2, 0, 4)], (3, 5, 9), errors.OUT_OF_ORDER_SEQUENCE_NUMBER, None),
    ([(2, 0, 4)], (3, 0, 0), errors.NONE, None),
    # a retry with the same sequences but a newer epoch is a new batch, not a duplicate
    ([(0, 0, 4)], (1, 0, 4), errors.NONE, None),
    # sequence wraps after 2**31 - 1
    ([(0, 2**31 - 3, 2**31 - 1)], (0, 0, 1), errors.NONE, None),
    # unknown producer: any sequence (KIP-360)
    ([], (0, 42, 50), errors.NONE, None),
])
def test_check(history: list[tuple[int, int, int]], batch: tuple[int, int, int], error: int,
               dup_offset: int | None) -> None:
    t = _table(*history)
    c = t.check(PID, *batch)
    assert c.error_code == error
    assert (c.duplicate.first_offset if c.duplicate else None) == dup_offset
    assert c.ok_to_append == (error == errors.NONE and dup_offset is None)


def test_only_the_last_five_batches_are_remembered() -> None:
    t = _table(*[(0, i, i) for i in range(BATCHES_TO_RETAIN + 2)])
    # the oldest two are forgotten: their retry is out of order, like Kafka's
    assert t.check(PID, 0, 0, 0).error_code == errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert t.check(PID, 0, 1, 1).error_code == errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    for i in range(2, BATCHES_TO_RETAIN + 2):
        d = t.check(PID, 0, i, i).duplicate
        assert d is not None and d.first_offset == i


def test_new_epoch_forgets_old_batches_and_replay_ignores_fenced_history() -> None:
    t = _table((0, 0, 4), (1, 0, 2))
    entry = t.entry(PID)
    assert entry is not None and entry.epoch == 1 and len(entry.batches) == 1
    t.record(PID, 0, 5, 9, 100, 104, 0)  # an old epoch's batch replayed: ignored
    assert t.entry(PID).epoch == 1  # type: ignore[union-attr]
    assert t.check(PID, 1, 3, 3).ok_to_append


def test_non_idempotent_batches_bypass_the_table() -> None:
    t = ProducerStateTable()
    assert t.check(-1, -1, -1, -1).ok_to_append
    t.record(-1, -1, -1, -1, 0, 0, 0)
    assert len(t) == 0


def test_rebuild_equals_recording() -> None:
    rows = [(PID, 0, 0, 4, 0, 4, 1), (PID, 0, 5, 9, 5, 9, 2), (8, 3, 0, 0, 10, 10, 3)]
    t = ProducerStateTable()
    t.rebuild(rows)
    assert t.check(PID, 0, 5, 9).duplicate is not None
    assert t.check(8, 3, 1, 1).ok_to_append
    assert t.check(8, 2, 1, 1).error_code == errors.INVALID_PRODUCER_EPOCH
