"""`PartitionLog`: the durable, segmented log of one partition.

Promises (what the broker builds Kafka's guarantees on):

- Offsets are dense and assigned here: each appended batch gets the next offsets
  by rewriting its base offset; nothing else in the batch changes. An offset is
  never reused, except after an explicit `truncate_to` (for Raft).
- With ``flush="always"`` `append` returns only after the bytes are fsynced, so an
  acknowledged append survives a crash. After any crash, `open` keeps exactly a
  valid prefix of what was written: it CRC-checks the last segment's batches and
  truncates at the first torn or corrupt one.
- Retention deletes whole closed segments only, never the active segment, never a
  segment holding offsets at or above the high watermark passed in, and by time
  only segments whose largest timestamp is more than ``retention_ms`` old.
- The log start offset only moves forward and is persisted (atomically) before any
  segment below it is deleted; reads below it raise `OffsetOutOfRange`. Besides
  retention it moves by `advance_start` (a replica compacting to a point its Raft
  group chose) and `reset` (a follower restarting empty at its leader's start).
- Reads return whole batches, as stored, from one segment, with one ``pread`` in
  the common case; records are never decoded (except by `offset_for_timestamp`).

It never reads a clock: every operation that depends on time takes ``now_ms``.
One owner (the partition's task) drives it; only `flush` may also run in a worker
thread meanwhile (e.g. an fsync off the event loop for group commit).
"""

from __future__ import annotations

import contextlib
import os
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reference_broker import records
from reference_broker.log import files
from reference_broker.log.config import LogConfig
from reference_broker.log.errors import (
    CorruptBatch,
    LogClosed,
    LogCorrupt,
    OffsetOutOfRange,
)
from reference_broker.log.policy import should_flush, should_roll
from reference_broker.log.retention import SegmentInfo, deletable_prefix
from reference_broker.log.scan import ScannedBatch
from reference_broker.log.segment import Segment

_PREFIX = struct.Struct(">qi")
_LOD = struct.Struct(">i")
_BASE = struct.Struct(">q")
_EPOCH = struct.Struct(">i")
_HEADER = struct.Struct(">qiibIhiqqqhii")
#: bytes of a batch needed to know its base offset, length and last offset delta.
_WALK_BYTES = 27
#: closed segments whose file descriptors stay open after a read (LRU).
OPEN_CLOSED_SEGMENTS = 8


@dataclass(frozen=True, slots=True)
class AppendInfo:
    """Offsets given to an append, and the largest batch max timestamp in it."""

    base_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(slots=True)
class RecoveryReport:
    """What `PartitionLog.open` found and repaired."""

    segments: int = 0
    truncated_bytes: int = 0
    rebuilt_indexes: int = 0
    deleted_segments: int = 0
    problems: list[str] = field(default_factory=list)


class PartitionLog:
    """The segmented log of one partition in one directory. Use `PartitionLog.open`."""

    def __init__(self, directory: Path, config: LogConfig, segments: list[Segment],
                 log_start_offset: int, now_ms: int, recovery: RecoveryReport) -> None:
        self.directory = directory
        self.config = config
        self._segments = segments
        self._bases = [s.base_offset for s in segments]
        self._log_start = log_start_offset
        self._last_flush_ms = now_ms
        # Change counters: the owner bumps them, `flush` (maybe in another thread)
        # records how far it synced, so no update is lost to a race.
        self._writes = 0
        self._writes_synced = 0
        self._dir_changes = 0
        self._dir_synced = 0
        self._closed = False
        self._lru: list[Segment] = []  # closed segments with an open descriptor
        self.recovery = recovery

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, config: LogConfig, now_ms: int) -> PartitionLog:
        """Open (creating if needed) the log in ``directory`` and recover it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        report = RecoveryReport()
        bases = _scan_directory(directory)
        start, problem = files.read_log_start_offset(directory)
        if problem:
            report.problems.append(problem)
        if start is not None:  # drop segments wholly below the log start offset
            while len(bases) > 1 and bases[1] <= start:
                _delete_files(directory, bases.pop(0))
                report.deleted_segments += 1
        segments: list[Segment] = []
        interval = config.index_interval_bytes
        try:
            i = 0
            while i < len(bases) - 1:
                base = bases[i]
                seg, problem, rebuilt, cut = Segment.open_closed(directory, base, interval)
                report.rebuilt_indexes += rebuilt
                report.truncated_bytes += cut
                if problem is None and seg.index.empty:  # leftover of a crash: drop it
                    seg.delete()
                    del bases[i]
                    report.deleted_segments += 1
                    continue
                segments.append(seg)
                if problem is not None and seg.next_offset == bases[i + 1]:
                    # Only bytes after its last batch were bad: the cut repaired it.
                    report.problems.append(f"segment {base}: {problem}")
                    problem = None
                if problem is None and seg.next_offset != bases[i + 1]:
                    problem = (f"ends at offset {seg.next_offset} but the next segment "
                               f"starts at {bases[i + 1]}")
                if problem is None and rebuilt:
                    seg.seal(sync=config.flush != "never")  # next open trusts it
                if problem is not None:
                    # Kafka's recovery: keep the valid prefix, drop everything after it.
                    report.problems.append(f"segment {base}: {problem}")
                    for later in bases[i + 1:]:
                        _delete_files(directory, later)
                        report.deleted_segments += 1
                    del bases[i + 1:]
                    seg.unseal()
                    break
                i += 1
            if len(segments) < len(bases):
                seg, problem, cut = Segment.recover(directory, bases[-1], interval)
                segments.append(seg)
                report.truncated_bytes += cut
                if problem is not None:
                    report.problems.append(f"segment {bases[-1]}: {problem}")
        except BaseException:
            for s in segments:
                s.close()
            raise
        if start is None:
            start = segments[0].base_offset if segments else 0
        if not segments or start > segments[-1].next_offset:
            # Nothing readable at or above the log start offset: start afresh there.
            for s in segments:
                s.delete()
                report.deleted_segments += 1
            segments = [Segment.create(directory, start, interval)]
            files.fsync_dir(directory)
        elif start < segments[0].base_offset:
            report.problems.append(f"log start offset {start} is below the first segment "
                                   f"{segments[0].base_offset}; using the latter")
            start = segments[0].base_offset
        active = segments[-1]
        if not active.index.empty:
            ts = active.first_batch_timestamp
            active.first_append_ms = min(now_ms, ts) if ts >= 0 else now_ms
        for s in segments[:-1]:
            s.close()  # reopened on demand
        files.write_log_start_offset(directory, start)
        report.segments = len(segments)
        return cls(directory, config, segments, start, now_ms, report)

    # -- state ---------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._segments[-1].next_offset

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def segment_infos(self) -> list[SegmentInfo]:
        """Segments oldest first (the last one is active)."""
        out = []
        for s in self._segments:
            ts = s.index.max_timestamp
            if ts == records.NO_TIMESTAMP and not s.index.empty:
                ts = s.modified_ms()
            out.append(SegmentInfo(s.base_offset, s.next_offset, s.size, ts,
                                   s.first_batch_timestamp))
        return out

    def reconfigure(self, config: LogConfig) -> None:
        """Use new settings from the next append / retention pass / flush on (e.g.
        after IncrementalAlterConfigs). Existing segments keep their index interval."""
        self._check_open()
        self.config = config

    # -- appending -----------------------------------------------------------------

    def append(self, data: records.Buffer, now_ms: int, *,
               partition_leader_epoch: int | None = None) -> AppendInfo:
        """Append the whole v2 batches in ``data`` (one or more), giving them the next
        offsets. The caller has checked their CRCs (`records.validate_produce`); this
        checks only what keeps the log parseable and dense. With ``flush="always"``
        the bytes are on disk when this returns."""
        self._check_open()
        buf = bytearray(data)
        return self._append(buf, _parse_batches(buf), now_ms, partition_leader_epoch)

    def append_many(self, batches: Iterable[records.Buffer], now_ms: int, *,
                    partition_leader_epoch: int | None = None) -> AppendInfo:
        """`append` for batches given as separate buffers."""
        return self.append(b"".join(batches), now_ms,
                           partition_leader_epoch=partition_leader_epoch)

    def _append(self, buf: bytearray, batches: list[tuple[int, int, int, int]],
                now_ms: int, epoch: int | None) -> AppendInfo:
        config = self.config
        first_offset = nxt = self.log_end_offset
        max_ts = records.NO_TIMESTAMP
        active = self._segments[-1]
        run_start = 0  # start in buf of the batches not yet written
        seg_pos = active.size  # file position the next batch gets
        run: list[ScannedBatch] = []
        written: list[Segment] = []
        for pos, size, lod, batch_max_ts in batches:
            next_offset = nxt + lod + 1
            if should_roll(config, segment_size=seg_pos, segment_base_offset=active.base_offset,
                           first_append_ms=active.first_append_ms, batch_size=size,
                           batch_next_offset=next_offset, now_ms=now_ms):
                if run:
                    active.write(memoryview(buf)[run_start:pos], run, now_ms)
                    written.append(active)
                active = self._roll(nxt)
                run, run_start, seg_pos = [], pos, 0
            _BASE.pack_into(buf, pos, nxt)
            if epoch is not None:
                _EPOCH.pack_into(buf, pos + 12, epoch)
            run.append(ScannedBatch(seg_pos, nxt, next_offset, batch_max_ts, size))
            if batch_max_ts > max_ts:
                max_ts = batch_max_ts
            seg_pos += size
            nxt = next_offset
        active.write(memoryview(buf)[run_start:], run, now_ms)
        written.append(active)
        if config.flush == "always":
            for s in written:
                s.flush()
            self._last_flush_ms = now_ms
        else:
            self._writes += 1
        return AppendInfo(first_offset, nxt - 1, max_ts)

    def _roll(self, base_offset: int) -> Segment:
        sync = self.config.flush != "never"
        old = self._segments[-1]
        old.seal(sync=sync)
        old.close()  # reopened on demand
        new = Segment.create(self.directory, base_offset, self.config.index_interval_bytes)
        self._segments.append(new)
        self._bases.append(base_offset)
        if sync:
            files.fsync_dir(self.directory)
        else:
            self._dir_changes += 1
        return new

    # -- reading -------------------------------------------------------------------

    def _touch(self, seg: Segment) -> Segment:
        """Note a use of ``seg``; keeps at most OPEN_CLOSED_SEGMENTS closed segments'
        descriptors open."""
        if seg is self._segments[-1]:
            return seg
        lru = self._lru
        if seg in lru:
            lru.remove(seg)
        lru.append(seg)
        if len(lru) > OPEN_CLOSED_SEGMENTS:
            lru.pop(0).close()
        return seg

    def _forget(self, gone: list[Segment]) -> None:
        self._lru = [s for s in self._lru if s not in gone]

    def _check_range(self, offset: int) -> None:
        if offset < self._log_start or offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self._log_start, self.log_end_offset)

    def _segment_for(self, offset: int) -> Segment:
        i = bisect_right(self._bases, offset) - 1
        return self._segments[max(i, 0)]

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """Whole batches from the one holding ``offset``, within one segment.

        At least one batch (even one larger than ``max_bytes``) if any qualifies;
        only batches whose last offset is below ``max_offset`` (the high watermark)
        and below the log end offset. ``b""`` at the end. Raises `OffsetOutOfRange`
        below the log start offset or above the log end offset.
        """
        self._check_open()
        self._check_range(offset)
        limit = self.log_end_offset
        if max_offset is not None and max_offset < limit:
            limit = max_offset
        if offset >= limit:
            return b""
        seg = self._touch(self._segment_for(offset))
        _, pos = seg.index.lookup_offset(offset)
        seg_end = seg.size
        max_bytes = max(max_bytes, 0)
        buf = seg.pread(min(seg_end - pos, max_bytes + seg.index.interval + _WALK_BYTES), pos)
        # Skip the batches that end before `offset`.
        p = 0
        while True:
            if len(buf) - p < _WALK_BYTES:
                at = pos + p  # file position of the next batch
                if at >= seg_end:
                    return b""
                buf = seg.pread(min(seg_end - at, max_bytes + seg.index.interval + _WALK_BYTES),
                                at)
                pos, p = at, 0
                continue
            base, length = _PREFIX.unpack_from(buf, p)
            if base + _LOD.unpack_from(buf, p + 23)[0] >= offset:
                break
            p += length + records.LOG_OVERHEAD
        start = q = p
        while len(buf) - q >= _WALK_BYTES:
            base, length = _PREFIX.unpack_from(buf, q)
            if base + _LOD.unpack_from(buf, q + 23)[0] >= limit:
                break
            size = length + records.LOG_OVERHEAD
            if q > start and q + size - start > max_bytes:
                break
            if q + size > len(buf):
                if q > start:
                    break
                buf += seg.pread(q + size - len(buf), pos + len(buf))
            q += size
        if start == 0 and q == len(buf):
            return buf
        return buf[start:q]

    def offset_for_timestamp(self, timestamp_ms: int,
                             max_offset: int | None = None) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first record whose timestamp is >=
        ``timestamp_ms`` (Kafka's ListOffsets by timestamp), or None.

        Records at or above ``max_offset`` are not considered. Decodes the records
        of one batch (none or gzip); for other compressions it answers with the
        batch's base offset and max timestamp, which is never past the true answer.
        """
        self._check_open()
        limit = self.log_end_offset
        if max_offset is not None and max_offset < limit:
            limit = max_offset
        for seg in self._segments:
            if seg.base_offset >= limit:
                return None
            if seg.index.max_timestamp < timestamp_ms:
                continue
            self._touch(seg)
            _, pos = seg.index.lookup_time(timestamp_ms)
            for p, h in seg.iter_headers(pos):
                if h.base_offset >= limit:
                    return None
                if h.max_timestamp < timestamp_ms:
                    continue
                batch = seg.pread(h.size, p)
                try:
                    for r in records.iter_records(batch):
                        if r.offset >= limit:
                            return None
                        if r.timestamp >= timestamp_ms:
                            return max(r.offset, self._log_start), r.timestamp
                except records.InvalidRecords:
                    return max(h.base_offset, self._log_start), h.max_timestamp
        return None

    def iter_batch_headers(self, from_offset: int | None = None
                           ) -> Iterator[records.BatchHeader]:
        """Headers of the batches from the one holding ``from_offset`` (default: the
        log start offset) to the end, e.g. to rebuild producer state on restart.
        Do not append or delete while iterating."""
        self._check_open()
        if from_offset is None or from_offset < self._log_start:
            from_offset = self._log_start
        i = max(bisect_right(self._bases, from_offset) - 1, 0)
        for seg in self._segments[i:]:
            self._touch(seg)
            _, pos = seg.index.lookup_offset(from_offset)
            for _, h in seg.iter_headers(pos):
                if h.last_offset >= from_offset:
                    yield h

    # -- durability ----------------------------------------------------------------

    def flush(self, now_ms: int | None = None) -> None:
        """fsync every segment written since the last flush (and the directory).

        The one method that may run in a worker thread while the owner keeps
        appending and reading (group commit): everything appended before the call
        is durable when it returns; later appends are left for the next flush."""
        self._check_open()
        writes, dir_changes = self._writes, self._dir_changes
        for s in list(self._segments):
            s.flush()
        if dir_changes != self._dir_synced:
            files.fsync_dir(self.directory)
            self._dir_synced = dir_changes
        self._writes_synced = writes
        if now_ms is not None:
            self._last_flush_ms = now_ms

    def maybe_flush(self, now_ms: int) -> bool:
        """For ``flush="interval"``: fsync if ``flush_interval_ms`` has passed since
        the last fsync and something is unsynced. Returns whether it flushed."""
        self._check_open()
        if should_flush(self.config, now_ms=now_ms, last_flush_ms=self._last_flush_ms,
                        dirty=self._writes != self._writes_synced
                        or self._dir_changes != self._dir_synced):
            self.flush(now_ms)
            return True
        return False

    # -- truncation and retention ----------------------------------------------------

    def truncate_to(self, offset: int) -> int:
        """Remove every batch holding an offset >= ``offset`` (for Raft); returns the
        new log end offset (``offset``, or lower if ``offset`` falls inside a batch:
        batches are never split). Raises `OffsetOutOfRange` below the log start."""
        self._check_open()
        if offset >= self.log_end_offset:
            return self.log_end_offset
        if offset < self._log_start:
            raise OffsetOutOfRange(offset, self._log_start, self.log_end_offset)
        i = max(bisect_right(self._bases, offset) - 1, 0)
        was_closed = i < len(self._segments) - 1
        self._forget(self._segments[i:])
        for s in self._segments[i + 1:]:
            s.delete()
        del self._segments[i + 1:]
        del self._bases[i + 1:]
        seg = self._segments[i]
        found = seg.batch_position(offset)
        if was_closed:
            seg.unseal()
        if found is not None:
            seg.truncate(found[0])
        if seg.index.empty:
            seg.first_append_ms = None
        elif was_closed:  # active again: time its roll from its first batch
            ts = seg.first_batch_timestamp
            seg.first_append_ms = ts if ts >= 0 else None
        if self.config.flush != "never":
            seg.flush()
            files.fsync_dir(self.directory)
        else:
            self._writes += 1
            self._dir_changes += 1
        return self.log_end_offset

    def retention_point(self, now_ms: int, high_watermark: int, *,
                        by_first_write: bool = False) -> int | None:
        """The base offset of the first segment retention keeps, if it would delete
        any now (see `retention`; ``by_first_write``: planted bug early-retention)."""
        self._check_open()
        k = deletable_prefix(self.segment_infos(), now_ms=now_ms,
                             high_watermark=high_watermark, log_start_offset=self._log_start,
                             retention_ms=self.config.retention_ms,
                             retention_bytes=self.config.retention_bytes,
                             by_first_write=by_first_write)
        return self._segments[k].base_offset if k else None

    def apply_retention(self, now_ms: int, high_watermark: int, *,
                        by_first_write: bool = False) -> int:
        """Delete the segments retention allows (see `retention`); returns how many.

        The new log start offset is persisted before any file is deleted."""
        point = self.retention_point(now_ms, high_watermark, by_first_write=by_first_write)
        return 0 if point is None else self.advance_start(point)

    def advance_start(self, offset: int) -> int:
        """Move the log start offset up to ``offset`` (at most the log end) and delete
        the segments wholly below it, never the active one; returns how many. The
        new start is persisted before any file is deleted."""
        self._check_open()
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self._log_start, self.log_end_offset)
        if offset > self._log_start:
            files.write_log_start_offset(self.directory, offset)
            self._log_start = offset
        k = 0
        while k < len(self._segments) - 1 and self._segments[k].next_offset <= self._log_start:
            k += 1
        if k == 0:
            return 0
        self._forget(self._segments[:k])
        for s in self._segments[:k]:
            s.delete()
        del self._segments[:k]
        del self._bases[:k]
        self._dir_changes += 1
        return k

    def reset(self, offset: int) -> None:
        """Drop every record and restart the log, empty, at ``offset`` (Kafka's
        truncate-fully-and-start-at: a follower whose leader no longer has what it
        lacks). The segments go newest first, so a crash leaves a prefix of the old
        log (or, once the new start is persisted, the new empty log)."""
        self._check_open()
        if offset < self._log_start:
            raise OffsetOutOfRange(offset, self._log_start, self.log_end_offset)
        self._forget(self._segments)
        for s in reversed(self._segments):
            s.delete()
        files.write_log_start_offset(self.directory, offset)
        self._log_start = offset
        self._segments = [Segment.create(self.directory, offset,
                                         self.config.index_interval_bytes)]
        self._bases = [offset]
        if self.config.flush != "never":
            files.fsync_dir(self.directory)
        else:
            self._dir_changes += 1

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Flush and release the files (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            for s in self._segments:
                s.close()

    def __enter__(self) -> PartitionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosed(f"partition log {self.directory} is closed")


def _parse_batches(buf: bytearray) -> list[tuple[int, int, int, int]]:
    """``(position, size, last offset delta, max timestamp)`` of each batch in ``buf``;
    raises `CorruptBatch` unless ``buf`` is whole v2 batches with dense offsets."""
    out = []
    pos = 0
    end = len(buf)
    unpack = _HEADER.unpack_from
    while pos < end:
        if end - pos >= records.HEADER_SIZE:
            (_, length, _, magic, _, _, lod, _, max_ts, _, _, _, count) = unpack(buf, pos)
            size = length + records.LOG_OVERHEAD
            if (length >= records.MIN_BATCH_LENGTH and pos + size <= end
                    and magic == records.MAGIC_V2):
                if lod < 0 or count != lod + 1:
                    raise CorruptBatch(f"batch at byte {pos}: record count {count} does not "
                                       f"match last offset delta {lod}")
                out.append((pos, size, lod, max_ts))
                pos += size
                continue
        try:
            records.read_header(buf, pos)
        except records.InvalidRecords as e:
            raise CorruptBatch(f"cannot append: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover
    if not out:
        raise CorruptBatch("cannot append: no batches given")
    return out


def _scan_directory(directory: Path) -> list[int]:
    """Base offsets of the segment files, sorted; removes leftovers of crashes
    (temp files, index files without a segment)."""
    try:
        names = os.listdir(directory)
    except OSError as e:
        raise LogCorrupt(f"cannot list partition directory {directory}: {e}") from e
    bases = sorted(b for n in names if (b := files.parse_segment_name(n)) is not None)
    have = set(bases)
    for n in names:
        if n.endswith(files.TEMP_SUFFIX):
            os.unlink(directory / n)
            continue
        for suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
            b = files.parse_segment_name(n, suffix)
            if b is not None and b not in have:
                os.unlink(directory / n)
    return bases


def _delete_files(directory: Path, base: int) -> None:
    for suffix in (files.LOG_SUFFIX, files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / files.segment_name(base, suffix))
