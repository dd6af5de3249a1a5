"""index.py: sparse offset/time index rules, lookups and the byte format (pure)."""

from __future__ import annotations

from reference_broker.log.index import SegmentIndex


def _index(sizes: list[int], *, base: int = 100, interval: int = 100,
           ts: list[int] | None = None) -> SegmentIndex:
    ix = SegmentIndex(base, interval)
    pos, off = 0, base
    for i, size in enumerate(sizes):
        t = ts[i] if ts else 1000 + i
        ix.add_batch(pos, off, off + 2, t, size)  # two records per batch
        pos += size
        off += 2
    return ix


def test_first_batch_always_indexed_then_every_interval() -> None:
    ix = _index([40] * 10, interval=100)  # batches at 0, 40, 80, 120, ...
    assert list(ix.positions) == [0, 120, 240, 360]
    assert list(ix.offsets) == [100, 106, 112, 118]
    assert (ix.size, ix.next_offset, ix.max_timestamp) == (400, 120, 1009)


def test_interval_zero_indexes_every_batch() -> None:
    ix = _index([40] * 5, interval=0)
    assert list(ix.positions) == [0, 40, 80, 120, 160]


def test_lookup_offset_returns_last_entry_at_or_before() -> None:
    ix = _index([40] * 10, interval=100)
    assert ix.lookup_offset(100) == (100, 0)
    assert ix.lookup_offset(105) == (100, 0)
    assert ix.lookup_offset(106) == (106, 120)
    assert ix.lookup_offset(119) == (118, 360)
    assert ix.lookup_offset(50) == (100, 0)  # below the base: start of segment


def test_lookup_offset_bound_holds_for_every_offset() -> None:
    sizes = [30, 200, 10, 10, 10, 90, 400, 5, 5, 5, 5, 5, 70]
    ix = _index(sizes, interval=64)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    for i, start in enumerate(starts):
        for off in (100 + 2 * i, 101 + 2 * i):
            _, pos = ix.lookup_offset(off)
            assert pos <= start < pos + 64 or pos == start


def test_time_lookup_skips_only_older_records() -> None:
    ts = [5, 3, 9, 9, 12, 7, 20]
    ix = _index([50] * len(ts), interval=0, ts=ts)
    # time entries after each batch: (running max, next offset, end position)
    assert list(ix.times) == [5, 5, 9, 9, 12, 12, 20]
    assert ix.lookup_time(5) == (100, 0)
    assert ix.lookup_time(6) == (104, 100)  # records before offset 104 are <= 5
    assert ix.lookup_time(10) == (108, 200)
    assert ix.lookup_time(21) == (114, 350)


def test_seal_adds_final_entry_once() -> None:
    ix = _index([40] * 3, interval=1000)
    assert len(ix.times) == 0
    ix.seal()
    ix.seal()
    assert list(zip(ix.times, ix.time_offsets, ix.time_positions)) == [(1002, 106, 120)]


def test_bytes_round_trip() -> None:
    ix = _index([40] * 10, interval=100, ts=[3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    ix.seal()
    back = SegmentIndex.from_bytes(100, 100, ix.offset_index_bytes(), ix.time_index_bytes(),
                                   400)
    assert isinstance(back, SegmentIndex)
    for a in ("offsets", "positions", "times", "time_offsets", "time_positions"):
        assert list(getattr(back, a)) == list(getattr(ix, a)), a
    assert (back.size, back.next_offset, back.max_timestamp, back.sealed) == (
        400, 120, 9, True)
    assert len(ix.offset_index_bytes()) == 8 * len(ix.offsets)
    assert len(ix.time_index_bytes()) == 16 * len(ix.times)


def test_insane_bytes_are_reported() -> None:
    ix = _index([40] * 10, interval=100)
    ix.seal()
    oi, ti = ix.offset_index_bytes(), ix.time_index_bytes()
    cases = {
        "torn offset index": (oi[:-3], ti, 400),
        "torn time index": (oi, ti[:-1], 400),
        "segment longer than index": (oi, ti, 480),
        "no final time entry": (oi, b"", 400),
        "offset entries swapped": (oi[8:16] + oi[:8] + oi[16:], ti, 400),
        "first entry not at 0": (oi[8:], ti, 400),
        "empty segment": (oi, ti, 0),
    }
    for name, (o, t, size) in cases.items():
        got = SegmentIndex.from_bytes(100, 100, o, t, size)
        assert isinstance(got, str), name
