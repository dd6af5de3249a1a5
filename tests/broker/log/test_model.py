"""PartitionLog against a plain in-memory model, driven by a hypothesis state machine.

The model restates the spec directly (lists of segments of batches, Kafka's roll and
retention rules); every step compares offsets, sizes, segment shapes and the exact
bytes read. Rules: appends, reads, timestamp lookups, truncations, retention,
clean reopens and reopens after a torn tail.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reference_broker import records as R
from reference_broker.log import LogConfig, OffsetOutOfRange, PartitionLog
from reference_broker.log import files as F


@dataclass
class MBatch:
    data: bytes  # as stored: base offset assigned
    base: int
    next: int
    timestamps: list[int]

    @property
    def max_ts(self) -> int:
        return max(self.timestamps)


@dataclass
class MSeg:
    base: int
    batches: list[MBatch] = field(default_factory=list)
    first_append: int | None = None

    @property
    def size(self) -> int:
        return sum(len(b.data) for b in self.batches)

    @property
    def next(self) -> int:
        return self.batches[-1].next if self.batches else self.base

    @property
    def max_ts(self) -> int:
        return max((b.max_ts for b in self.batches), default=R.NO_TIMESTAMP)


class Model:
    def __init__(self, cfg: LogConfig) -> None:
        self.cfg = cfg
        self.segs = [MSeg(0)]
        self.start = 0

    @property
    def leo(self) -> int:
        return self.segs[-1].next

    def append(self, raw: list[tuple[bytes, list[int]]], now: int) -> tuple[int, int]:
        first = self.leo
        for data, tss in raw:
            seg = self.segs[-1]
            base = self.leo
            nxt = base + len(tss)
            if seg.size > 0 and (
                    seg.size + len(data) > self.cfg.segment_bytes
                    or (seg.first_append is not None
                        and now - seg.first_append > self.cfg.roll_ms)):
                seg = MSeg(base)
                self.segs.append(seg)
            if not seg.batches:
                seg.first_append = now
            stored = struct.pack(">q", base) + data[8:]
            seg.batches.append(MBatch(stored, base, nxt, tss))
        return first, self.leo - 1

    def read(self, offset: int, max_bytes: int, max_offset: int | None) -> bytes | None:
        if offset < self.start or offset > self.leo:
            return None
        limit = self.leo if max_offset is None else min(max_offset, self.leo)
        if offset >= limit:
            return b""
        seg = next(s for s in reversed(self.segs) if s.base <= offset)
        out: list[bytes] = []
        total = 0
        for b in seg.batches:
            if b.next <= offset:
                continue
            if b.next - 1 >= limit:
                break
            if out and total + len(b.data) > max_bytes:
                break
            out.append(b.data)
            total += len(b.data)
        return b"".join(out)

    def offset_for_timestamp(self, ts: int, max_offset: int | None) -> tuple[int, int] | None:
        limit = self.leo if max_offset is None else min(max_offset, self.leo)
        for seg in self.segs:
            for b in seg.batches:
                for i, t in enumerate(b.timestamps):
                    if t >= ts:
                        off = b.base + i
                        return None if off >= limit else (max(off, self.start), t)
        return None

    def truncate(self, offset: int) -> int | None:
        if offset >= self.leo:
            return self.leo
        if offset < self.start:
            return None
        i = max(j for j, s in enumerate(self.segs) if s.base <= offset) if any(
            s.base <= offset for s in self.segs) else 0
        was_closed = i < len(self.segs) - 1
        del self.segs[i + 1:]
        seg = self.segs[i]
        seg.batches = [b for b in seg.batches if b.next - 1 < offset]
        if not seg.batches:
            seg.first_append = None
        elif was_closed:
            seg.first_append = seg.batches[0].max_ts
        return self.leo

    def retention(self, now: int, hw: int) -> int:
        """Kafka's passes in turn: below log start, time, size; whole closed segments
        wholly below the high watermark only."""
        segs = self.segs
        deleted = 0

        def ok(s: MSeg) -> bool:
            return s is not self.segs[-1] and s.next <= hw

        while len(segs) > 1 and segs[0].next <= self.start:
            segs.pop(0)
            deleted += 1
        if self.cfg.retention_ms >= 0:
            while ok(segs[0]) and now - segs[0].max_ts > self.cfg.retention_ms:
                segs.pop(0)
                deleted += 1
        if self.cfg.retention_bytes >= 0:
            while ok(segs[0]) and (sum(s.size for s in segs) - segs[0].size
                                   >= self.cfg.retention_bytes):
                segs.pop(0)
                deleted += 1
        self.start = max(self.start, segs[0].base)
        return deleted

    def advance_start(self, offset: int) -> int | None:
        """The start moves up to ``offset`` (never back); whole segments below go."""
        if offset > self.leo:
            return None
        self.start = max(self.start, offset)
        deleted = 0
        while len(self.segs) > 1 and self.segs[0].next <= self.start:
            self.segs.pop(0)
            deleted += 1
        return deleted

    def reset(self, offset: int) -> bool:
        if offset < self.start:
            return False
        self.segs = [MSeg(offset)]
        self.start = offset
        return True

    def reopen(self, now: int) -> None:
        seg = self.segs[-1]
        if seg.batches:
            ts = seg.batches[0].max_ts
            seg.first_append = min(now, ts)


_batch_spec = st.tuples(st.integers(1, 3), st.integers(0, 120), st.integers(-400, 20))


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="plog-model-"))
        self.now = 1000
        self.tag = 0
        self.log: PartitionLog | None = None

    @initialize(segment_bytes=st.integers(150, 700), roll_ms=st.sampled_from([50, 300, 10**9]),
                retention_ms=st.sampled_from([-1, 0, 100, 1000]),
                retention_bytes=st.sampled_from([-1, 0, 300, 1200]),
                interval=st.sampled_from([0, 64, 4096]),
                flush=st.sampled_from(["never", "interval", "always"]))
    def setup(self, segment_bytes: int, roll_ms: int, retention_ms: int,
              retention_bytes: int, interval: int, flush: str) -> None:
        self.cfg = LogConfig(segment_bytes=segment_bytes, roll_ms=roll_ms,
                             retention_ms=retention_ms, retention_bytes=retention_bytes,
                             index_interval_bytes=interval, flush=flush,  # type: ignore[arg-type]
                             flush_interval_ms=100)
        self.log = PartitionLog.open(self.dir, self.cfg, self.now)
        self.model = Model(self.cfg)

    @property
    def plog(self) -> PartitionLog:
        assert self.log is not None
        return self.log

    @rule(specs=st.lists(_batch_spec, min_size=1, max_size=6), dt=st.integers(0, 80))
    def append(self, specs: list[tuple[int, int, int]], dt: int) -> None:
        self.now += dt
        raw = []
        for n, size, ts_delta in specs:
            tss = [max(0, self.now + ts_delta + 7 * i - 10 * (i % 2)) for i in range(n)]
            self.tag += 1
            data = R.build_batch([R.Record(None, self.tag.to_bytes(4, "big") + bytes(size), t)
                                  for t in tss])
            raw.append((data, tss))
        info = self.plog.append(b"".join(d for d, _ in raw), self.now)
        base, last = self.model.append(raw, self.now)
        assert (info.base_offset, info.last_offset) == (base, last)
        assert info.max_timestamp == max(max(t) for _, t in raw)
        self.plog.maybe_flush(self.now)

    @rule(spec=_batch_spec, dt=st.integers(0, 20))
    def append_one(self, spec: tuple[int, int, int], dt: int) -> None:
        self.append([spec], dt)

    @rule(rel=st.integers(-2, 40), max_bytes=st.integers(0, 800),
          bound=st.none() | st.integers(0, 40))
    def read(self, rel: int, max_bytes: int, bound: int | None) -> None:
        offset = self.model.start + rel
        max_offset = None if bound is None else self.model.start + bound
        want = self.model.read(offset, max_bytes, max_offset)
        if want is None:
            try:
                self.plog.read(offset, max_bytes, max_offset)
            except OffsetOutOfRange:
                return
            raise AssertionError(f"read({offset}) should be out of range")
        assert self.plog.read(offset, max_bytes, max_offset) == want

    @precondition(lambda self: self.log is not None and self.model.leo > self.model.start)
    @rule(rel=st.integers(0, 40), n=st.integers(1, 4), extra=st.sampled_from([-1, 0, 1]))
    def read_at_size_boundary(self, rel: int, n: int, extra: int) -> None:
        """max_bytes exactly the size of the first n batches (or one byte off)."""
        m = self.model
        offset = m.start + rel % (m.leo - m.start)
        seg = next(s for s in reversed(m.segs) if s.base <= offset)
        sizes = [len(b.data) for b in seg.batches if b.next > offset][:n]
        self.read(offset - m.start, max(0, sum(sizes) + extra), None)

    @precondition(lambda self: self.log is not None and self.model.leo > self.model.start)
    @rule(pick=st.integers(0, 10**6), extra=st.sampled_from([-1, 0, 1]))
    def timestamp_lookup_of_existing(self, pick: int, extra: int) -> None:
        """Look up (about) a timestamp some record has."""
        tss = [t for s in self.model.segs for b in s.batches for t in b.timestamps]
        ts = tss[pick % len(tss)] + extra
        assert self.plog.offset_for_timestamp(ts) == self.model.offset_for_timestamp(ts, None)

    @rule(ts_rel=st.integers(-500, 50), bound=st.none() | st.integers(0, 40))
    def timestamp_lookup(self, ts_rel: int, bound: int | None) -> None:
        ts = self.now + ts_rel
        max_offset = None if bound is None else self.model.start + bound
        assert self.plog.offset_for_timestamp(ts, max_offset) == \
            self.model.offset_for_timestamp(ts, max_offset)

    @rule(back=st.integers(0, 12))
    def truncate(self, back: int) -> None:
        offset = self.model.leo - back
        want = self.model.truncate(offset)
        if want is None:
            try:
                self.plog.truncate_to(offset)
            except OffsetOutOfRange:
                return
            raise AssertionError(f"truncate_to({offset}) should be out of range")
        assert self.plog.truncate_to(offset) == want

    @rule(dt=st.integers(0, 1500), hw_rel=st.integers(0, 40))
    def retention(self, dt: int, hw_rel: int) -> None:
        self.now += dt
        hw = min(self.model.start + hw_rel, self.model.leo)
        old_start = self.model.start
        assert self.plog.apply_retention(self.now, hw) == self.model.retention(self.now, hw)
        assert self.plog.log_start_offset >= old_start

    @precondition(lambda self: self.log is not None and self.cfg.retention_ms >= 0)
    @rule(which=st.integers(0, 10), delta=st.sampled_from([0, 1]), hw_rel=st.integers(0, 40))
    def retention_at_time_boundary(self, which: int, delta: int, hw_rel: int) -> None:
        """Retention exactly when (or 1 ms after) a segment's newest record turns
        retention_ms old; this `now` need not be monotonic for the log."""
        seg = self.model.segs[which % len(self.model.segs)]
        now = seg.max_ts + self.cfg.retention_ms + delta
        hw = min(self.model.start + hw_rel, self.model.leo)
        assert self.plog.apply_retention(now, hw) == self.model.retention(now, hw)

    @rule(rel=st.integers(-2, 40))
    def advance_start(self, rel: int) -> None:
        offset = self.model.start + rel
        want = self.model.advance_start(offset)
        if want is None:
            try:
                self.plog.advance_start(offset)
            except OffsetOutOfRange:
                return
            raise AssertionError(f"advance_start({offset}) should be out of range")
        assert self.plog.advance_start(offset) == want

    @rule(rel=st.integers(-2, 60))
    def reset(self, rel: int) -> None:
        offset = self.model.start + rel
        if not self.model.reset(offset):
            try:
                self.plog.reset(offset)
            except OffsetOutOfRange:
                return
            raise AssertionError(f"reset({offset}) should be out of range")
        self.plog.reset(offset)

    @rule(dt=st.integers(0, 500))
    def reopen(self, dt: int) -> None:
        self.now += dt
        self.plog.close()
        self.log = PartitionLog.open(self.dir, self.cfg, self.now)
        self.model.reopen(self.now)
        assert self.plog.recovery.problems == []

    @precondition(lambda self: self.log is not None
                  and bool(self.model.segs[-1].batches)
                  and self.model.segs[-1].batches[-1].base >= self.model.start)
    @rule(cut=st.integers(1, 10**6), dt=st.integers(0, 500))
    def tear_tail_and_reopen(self, cut: int, dt: int) -> None:
        """A crash in the middle of writing the last batch (one at or above the log
        start: what is below it was deleted, not being written)."""
        self.now += dt
        self.plog.close()
        seg = self.model.segs[-1]
        last = seg.batches.pop()
        cut = 1 + cut % (len(last.data) - 1)
        path = self.dir / F.segment_name(seg.base)
        os.truncate(path, path.stat().st_size - cut)
        if not seg.batches:
            seg.first_append = None
        self.log = PartitionLog.open(self.dir, self.cfg, self.now)
        self.model.reopen(self.now)
        assert self.plog.recovery.truncated_bytes == len(last.data) - cut
        assert len(self.plog.recovery.problems) == 1

    @invariant()
    def same_shape(self) -> None:
        if self.log is None:
            return
        m = self.model
        assert (self.plog.log_start_offset, self.plog.log_end_offset) == (m.start, m.leo)
        assert self.plog.size_bytes == sum(s.size for s in m.segs)
        got = [(i.base_offset, i.next_offset, i.size_bytes, i.max_timestamp)
               for i in self.plog.segment_infos()]
        assert got == [(s.base, s.next, s.size, s.max_ts) for s in m.segs]
        names = sorted(n for n in os.listdir(self.dir) if n.endswith(".log"))
        assert names == [F.segment_name(s.base) for s in m.segs]

    def teardown(self) -> None:
        try:
            if self.log is not None:
                self.log.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# Half the profile's examples (ci: 50, about 15 s here; nightly: 1000): every step
# does real file I/O.
_profile_examples = settings.default.max_examples if settings.default else 100
LogMachine.TestCase.settings = settings(
    max_examples=max(30, _profile_examples // 2), stateful_step_count=50,
    deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestPartitionLogModel = LogMachine.TestCase
