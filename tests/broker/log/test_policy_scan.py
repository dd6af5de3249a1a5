"""policy.py (roll / flush decisions) and scan.py (batch validation), both pure."""

from __future__ import annotations

from reference_broker import records as R
from reference_broker.log import LogConfig
from reference_broker.log.policy import MAX_RELATIVE_OFFSET, should_flush, should_roll
from reference_broker.log.scan import scan

from .helpers import batch


def _roll(cfg: LogConfig, **kw: int | None) -> bool:
    args: dict = dict(segment_size=100, segment_base_offset=0, first_append_ms=0,
                      batch_size=10, batch_next_offset=5, now_ms=0)
    args.update(kw)
    return should_roll(cfg, **args)


def test_roll_rules() -> None:
    cfg = LogConfig(segment_bytes=110, roll_ms=1000)
    assert not _roll(cfg)
    assert _roll(cfg, batch_size=11)  # 100 + 11 > 110
    assert not _roll(cfg, segment_size=0, batch_size=10_000)  # empty: never
    assert not _roll(cfg, now_ms=1000)
    assert _roll(cfg, now_ms=1001)  # more than roll_ms since the first append
    assert not _roll(cfg, now_ms=10**6, first_append_ms=None)
    assert _roll(cfg, batch_next_offset=MAX_RELATIVE_OFFSET + 1)


def test_flush_rules() -> None:
    cfg = LogConfig(flush="interval", flush_interval_ms=100)
    assert not should_flush(cfg, now_ms=99, last_flush_ms=0, dirty=True)
    assert should_flush(cfg, now_ms=100, last_flush_ms=0, dirty=True)
    assert not should_flush(cfg, now_ms=100, last_flush_ms=0, dirty=False)
    for policy in ("always", "never"):
        cfg2 = LogConfig(flush=policy, flush_interval_ms=100)
        assert not should_flush(cfg2, now_ms=10**9, last_flush_ms=0, dirty=True)


def _dense(*counts: int) -> bytes:
    out, _nxt = R.assign_offsets(b"".join(batch(n) for n in counts), 7)
    return bytes(out)


def test_scan_accepts_dense_valid_batches() -> None:
    buf = _dense(1, 3, 2)
    res = scan(buf, 0, 7, at_eof=True)
    assert res.problem is None and res.consumed == len(buf)
    assert [(b.base_offset, b.next_offset) for b in res.batches] == [(7, 8), (8, 11), (11, 13)]


def test_scan_torn_tail_vs_read_more() -> None:
    buf = _dense(1, 3)
    cut = buf[:-5]
    res = scan(cut, 0, 7, at_eof=False)
    assert res.problem is None and len(res.batches) == 1 and res.need > len(cut) - res.consumed
    res = scan(cut, 0, 7, at_eof=True)
    assert res.problem is not None and "torn tail" in res.problem
    assert len(res.batches) == 1


def test_scan_stops_at_crc_and_offset_gaps() -> None:
    buf = bytearray(_dense(1, 1, 1))
    one = len(buf) // 3
    buf[2 * one - 1] ^= 0xFF  # last byte of the second batch
    res = scan(buf, 0, 7, at_eof=True)
    assert [b.base_offset for b in res.batches] == [7] and "crc" in (res.problem or "")
    res = scan(_dense(1, 1), 0, 6, at_eof=True)  # expected 6, found 7
    assert res.batches == [] and "expected 6" in (res.problem or "")
    res = scan(bytes(12) + bytes(60), 0, 0, at_eof=True)
    assert res.batches == [] and "impossible" in (res.problem or "")
