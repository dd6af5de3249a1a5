"""A partition's transaction index and the marker format (reference_broker.txn.partition)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reference_broker import records
from reference_broker.txn import AbortedTxn, PartitionTxns, marker_batch, marker_is_commit


def test_lso_follows_the_oldest_open_transaction() -> None:
    t = PartitionTxns()
    assert t.last_stable_offset(10) == 10
    t.on_data(1, 3)
    t.on_data(1, 5)  # same transaction: first offset stays 3
    t.on_data(2, 4)
    assert t.last_stable_offset(10) == 3
    assert t.last_stable_offset(2) == 2  # never above the high watermark
    assert t.on_marker(1, True, 6) is None
    assert t.last_stable_offset(10) == 4
    assert t.on_marker(2, False, 7) == AbortedTxn(2, 4, 7)
    assert t.last_stable_offset(10) == 10
    assert t.on_marker(2, False, 8) is None  # a repeated marker adds nothing


def test_aborted_between_names_the_overlapping_aborts() -> None:
    t = PartitionTxns()
    for pid, first, marker in [(1, 0, 2), (2, 1, 5), (3, 6, 8), (4, 9, 12)]:
        t.on_data(pid, first)
        t.on_marker(pid, False, marker)
    assert [a.producer_id for a in t.aborted_between(0, 100)] == [1, 2, 3, 4]
    assert [a.producer_id for a in t.aborted_between(3, 7)] == [2, 3]
    assert [a.producer_id for a in t.aborted_between(9, 9)] == []
    assert [a.producer_id for a in t.aborted_between(13, 20)] == []
    t.forget_below(6)
    assert [a.producer_id for a in t.aborted_between(0, 100)] == [3, 4]


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["data", "commit", "abort"])),
                max_size=40))
def test_index_matches_a_replay_of_the_log(events: list[tuple[int, str]]) -> None:
    """Every record of an aborted transaction (and only those) is covered."""
    t = PartitionTxns()
    owner: dict[int, tuple[int, str]] = {}  # offset -> (pid, fate)
    open_: dict[int, list[int]] = {}
    for offset, (pid, kind) in enumerate(events):
        if kind == "data":
            t.on_data(pid, offset)
            open_.setdefault(pid, []).append(offset)
            continue
        t.on_marker(pid, kind == "commit", offset)
        for o in open_.pop(pid, []):
            owner[o] = (pid, kind)
    end = len(events)
    lso = t.last_stable_offset(end)
    assert lso == min((o for offs in open_.values() for o in offs), default=end)
    aborted = t.aborted_between(0, end)
    for o, (pid, fate) in owner.items():
        covered = any(a.producer_id == pid and a.first_offset <= o < a.last_offset
                      for a in aborted)
        assert covered == (fate == "abort")


def test_marker_format() -> None:
    data = marker_batch(7, 3, True, 1000, coordinator_epoch=5)
    h = records.validate_batch(data)
    assert h.is_control and h.is_transactional
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.record_count) == (7, 3, -1, 1)
    (r,) = records.iter_records(data)
    assert r.key == b"\x00\x00\x00\x01" and r.value == b"\x00\x00\x00\x00\x00\x05"
    assert marker_is_commit(data) is True
    assert marker_is_commit(marker_batch(7, 3, False, 1000)) is False
    other = records.build_batch([records.Record(b"\x00\x00\x00\x05", None, 0)], control=True)
    assert marker_is_commit(other) is None
    assert marker_is_commit(b"junk") is None


def test_lso_is_never_below_the_log_start() -> None:
    t = PartitionTxns()
    t.on_data(7, 2)
    assert t.last_stable_offset(10, log_start_offset=0) == 2
    assert t.last_stable_offset(10, log_start_offset=5) == 5  # retention passed its start
    assert t.last_stable_offset(4, log_start_offset=5) == 4  # and never above the HW


def test_a_marker_that_bumps_the_epoch_makes_the_next_batch_start_at_sequence_0() -> None:
    # Kafka: a marker of a higher epoch clears the producer's batches, and the new
    # epoch's first batch must have sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER); a
    # later batch of it arriving first (its first lost or reordered) is not a start.
    from reference_broker.partition import ProducerStateTable
    from reference_broker.protocol import errors

    table = ProducerStateTable()
    table.record(7, 0, 0, 4, 0, 4, 1000)
    table.bump_epoch(7, 1)
    assert table.check(7, 1, 5, 5).error_code == errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert table.check(7, 1, 0, 2).ok_to_append
    assert table.check(7, 0, 5, 5).error_code == errors.INVALID_PRODUCER_EPOCH
