"""retention.py: which segments go, with the exact boundary cases (pure)."""

from __future__ import annotations

from reference_broker.log.retention import SegmentInfo, deletable_prefix


def _segs(*spec: tuple[int, int]) -> list[SegmentInfo]:
    """(size, max timestamp) per segment; 10 offsets per segment."""
    return [SegmentInfo(10 * i, 10 * i + 10, size, ts) for i, (size, ts) in enumerate(spec)]


def _k(segs: list[SegmentInfo], *, now: int = 10_000, hw: int = 10**9, start: int = 0,
       ms: int = -1, nbytes: int = -1) -> int:
    return deletable_prefix(segs, now_ms=now, high_watermark=hw, log_start_offset=start,
                            retention_ms=ms, retention_bytes=nbytes)


def test_time_boundary_is_strict() -> None:
    segs = _segs((100, 1000), (100, 1000), (100, 1000))
    assert _k(segs, now=2000, ms=1000) == 0  # exactly retention_ms old: kept
    assert _k(segs, now=2001, ms=1000) == 2  # older: deleted, never the active one


def test_time_uses_largest_timestamp_and_stops_at_first_young_segment() -> None:
    segs = _segs((100, 500), (100, 1500), (100, 100), (100, 100))
    assert _k(segs, now=2001, ms=1000) == 1  # the second is young: the third waits too


def test_size_boundary() -> None:
    segs = _segs((100, 0), (100, 0), (100, 0), (50, 0))  # total 350
    assert _k(segs, nbytes=250) == 1  # 350 - 100 = 250 >= 250
    assert _k(segs, nbytes=251) == 0
    assert _k(segs, nbytes=150) == 2
    assert _k(segs, nbytes=0) == 3  # never the active segment
    assert _k(segs, nbytes=-1) == 0


def test_never_past_the_high_watermark() -> None:
    segs = _segs((100, 0), (100, 0), (100, 0), (100, 0))
    assert _k(segs, ms=0, hw=19) == 1  # segment [10, 20) holds offset 19 >= hw
    assert _k(segs, ms=0, hw=20) == 2
    assert _k(segs, nbytes=0, hw=9) == 0
    assert _k(segs, nbytes=0, hw=0) == 0


def test_segments_below_log_start_go_and_rules_combine() -> None:
    segs = _segs((100, 9000), (100, 9000), (100, 0), (100, 9000))
    assert _k(segs, start=20) == 2
    assert _k(segs, start=19) == 1
    assert _k(segs, ms=1000, start=10) == 1
    assert _k(segs, ms=1000, nbytes=200) == 2  # size wins over time here
    assert _k(_segs((100, 0)), ms=0, nbytes=0, start=100) == 0  # only the active one


def test_unlimited() -> None:
    segs = _segs((10**9, 0), (10**9, 0))
    assert _k(segs, now=10**12) == 0
