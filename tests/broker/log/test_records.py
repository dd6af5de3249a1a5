"""records.py: header layout, CRC, offset assignment, record codec (both directions)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from reference_broker import records as R


def _kafka_python_batch(n: int, *, pid: int = 9, seq: int = 0) -> bytes:
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=pid, producer_epoch=0, base_sequence=seq,
                                  batch_size=1 << 20)
    for i in range(n):
        b.append(i, 2000 + i, b"key%d" % i, b"val" * i, [("h", b"x")])
    return bytes(b.build())


def test_header_of_a_kafka_python_batch() -> None:
    buf = _kafka_python_batch(3, pid=9, seq=4)
    h = R.validate_batch(buf)
    assert (h.base_offset, h.last_offset_delta, h.record_count) == (0, 2, 3)
    assert (h.base_timestamp, h.max_timestamp) == (2000, 2002)
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence) == (9, 0, 4, 6)
    assert h.size == len(buf) and h.next_offset == 3
    assert not (h.is_control or h.is_transactional or h.is_log_append_time)


def test_our_batches_decode_in_kafka_python() -> None:
    recs = [R.Record(b"k", b"v" * 10, 1000, (("h", b"x"),)), R.Record(None, b"w", 1005)]
    for comp in (R.COMPRESSION_NONE, R.COMPRESSION_GZIP):
        buf = R.build_batch(recs, base_offset=5, producer_id=7, producer_epoch=1,
                            base_sequence=3, compression=comp)
        kb = DefaultRecordBatch(buf)
        assert kb.validate_crc()
        got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in kb]
        assert got == [(5, 1000, b"k", b"v" * 10, [("h", b"x")]), (6, 1005, None, b"w", [])]
        assert [(r.offset, r.key, r.value) for r in R.iter_records(buf)] == [
            (5, b"k", b"v" * 10), (6, None, b"w")]


def test_kafka_python_records_decode_here() -> None:
    got = list(R.iter_records(_kafka_python_batch(3)))
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in got] == [
        (i, 2000 + i, b"key%d" % i, b"val" * i, (("h", b"x"),)) for i in range(3)]


def test_assign_offsets_keeps_crc_and_is_dense() -> None:
    buf = _kafka_python_batch(3) + R.build_batch([R.Record(None, b"a", 1)] * 2)
    out, nxt = R.assign_offsets(buf, 100, partition_leader_epoch=4)
    assert nxt == 105
    hs = [h for _, h in R.iter_batches(out, check_crc=True)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in hs] == [(100, 4), (103, 4)]
    assert bytes(buf) == _kafka_python_batch(3) + R.build_batch([R.Record(None, b"a", 1)] * 2)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:30], "truncated"),
    (lambda b: b"", "empty"),
    (lambda b: b[:16] + b"\x01" + b[17:], "magic"),
    (lambda b: b[:8] + (10).to_bytes(4, "big") + b[12:], "length"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "crc"),
    (lambda b: b[:23] + (5).to_bytes(4, "big") + b[27:], "crc"),
])
def test_validate_produce_names_the_problem(mutate: object, reason: str) -> None:
    buf = _kafka_python_batch(3)
    with pytest.raises(R.InvalidRecords) as e:
        R.validate_produce(mutate(buf))  # type: ignore[operator]
    assert e.value.reason == reason


def test_offsets_mismatch_is_rejected() -> None:
    buf = bytearray(R.build_batch([R.Record(None, b"a", 1)] * 2))
    buf[23:27] = (5).to_bytes(4, "big")  # last offset delta 5 with 2 records
    buf[17:21] = R.compute_crc(buf).to_bytes(4, "big")
    with pytest.raises(R.InvalidRecords) as e:
        R.validate_produce(buf)
    assert e.value.reason == "offsets"


_VALID = R.build_batch([R.Record(b"k%d" % i, b"v" * i, 1000 + i, (("h", b"x"),))
                        for i in range(4)])


@given(st.binary(max_size=300))
def test_garbage_raises_only_invalid_records(data: bytes) -> None:
    with contextlib.suppress(R.InvalidRecords):
        R.validate_produce(data)
    with contextlib.suppress(R.InvalidRecords):
        list(R.iter_records(data))


@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)),
                min_size=1, max_size=6),
       st.integers(0, len(_VALID)))
def test_mutated_batches_raise_only_invalid_records(flips: list[tuple[int, int]],
                                                     cut: int) -> None:
    buf = bytearray(_VALID)
    for pos, byte in flips:
        buf[pos] = byte
    buf = buf[:cut] if cut < len(buf) else buf
    with contextlib.suppress(R.InvalidRecords):
        R.validate_produce(buf)
    # records of a batch whose header survived: decoding must fail cleanly too
    with contextlib.suppress(R.InvalidRecords):
        list(R.iter_records(buf))
