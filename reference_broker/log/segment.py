"""One segment file and its indexes: the thin I/O layer under `PartitionLog`.

A `Segment` owns a file descriptor and a `SegmentIndex`. It writes at the end with
``os.pwrite``, reads with ``os.pread``, and knows how to rebuild its index by
scanning (and validating) its own bytes. Index files exist on disk only for closed
segments: the active segment's index lives in memory and is rebuilt by recovery,
which rescans the active segment anyway.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from reference_broker import records
from reference_broker.log import files
from reference_broker.log.index import SegmentIndex
from reference_broker.log.scan import ScannedBatch, scan

SCAN_CHUNK_BYTES = 4 << 20
HEADER_CHUNK_BYTES = 256 << 10


class Segment:
    """A segment file. One owner drives it; only `flush` may run in another thread."""

    __slots__ = ("_fd", "base_offset", "directory", "dirty", "first_append_ms",
                 "first_batch_timestamp", "index")

    def __init__(self, directory: Path, base_offset: int, fd: int,
                 index: SegmentIndex) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self._fd = fd
        self.index = index
        self.dirty = False
        #: append time of the segment's first batch (for roll_ms); None while empty.
        self.first_append_ms: int | None = None
        self.first_batch_timestamp = records.NO_TIMESTAMP

    # -- paths ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.directory / files.segment_name(self.base_offset)

    def _aux(self, suffix: str) -> Path:
        return self.directory / files.segment_name(self.base_offset, suffix)

    @property
    def size(self) -> int:
        return self.index.size

    @property
    def fd(self) -> int:
        """The file descriptor, reopened on demand after `close` (closed segments
        give theirs back so that thousands of segments do not exhaust descriptors)."""
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    @property
    def next_offset(self) -> int:
        return self.index.next_offset

    # -- opening -------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, base_offset: int, interval: int) -> Segment:
        """A new empty segment file (an existing one is emptied)."""
        path = directory / files.segment_name(base_offset)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        for suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
            _unlink(directory / files.segment_name(base_offset, suffix))
        return cls(directory, base_offset, fd, SegmentIndex(base_offset, interval))

    @classmethod
    def open_closed(cls, directory: Path, base_offset: int,
                    interval: int) -> tuple[Segment, str | None, bool, int]:
        """Open a closed segment, trusting its index files if they are sane.

        Returns ``(segment, problem, rebuilt, bytes truncated)``: ``problem`` is set
        (and the file truncated to its valid prefix) if rebuilding found a bad batch.
        """
        fd = os.open(directory / files.segment_name(base_offset), os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            try:
                oi = (directory / files.segment_name(base_offset, files.INDEX_SUFFIX)
                      ).read_bytes()
                ti = (directory / files.segment_name(base_offset, files.TIME_INDEX_SUFFIX)
                      ).read_bytes()
            except FileNotFoundError:
                loaded: SegmentIndex | str = "index files missing"
            else:
                loaded = SegmentIndex.from_bytes(base_offset, interval, oi, ti, size)
            if isinstance(loaded, SegmentIndex):
                seg = cls(directory, base_offset, fd, loaded)
                seg.first_batch_timestamp = seg._first_batch_timestamp()
                return seg, None, False, 0
            seg = cls(directory, base_offset, fd, SegmentIndex(base_offset, interval))
            problem = seg._rebuild(size)
            return seg, problem, True, size - seg.size
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def recover(cls, directory: Path, base_offset: int,
                interval: int) -> tuple[Segment, str | None, int]:
        """Open the last segment: validate every batch, truncate a torn or corrupt
        tail, rebuild the index. Returns ``(segment, problem, bytes truncated)``."""
        fd = os.open(directory / files.segment_name(base_offset), os.O_RDWR)
        try:
            for suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
                _unlink(directory / files.segment_name(base_offset, suffix))
            size = os.fstat(fd).st_size
            seg = cls(directory, base_offset, fd, SegmentIndex(base_offset, interval))
            problem = seg._rebuild(size)
            return seg, problem, size - seg.size
        except BaseException:
            os.close(fd)
            raise

    def _rebuild(self, size: int) -> str | None:
        """Scan ``[0, size)``, index the valid prefix, truncate the file after it."""
        index = SegmentIndex(self.base_offset, self.index.interval)
        first: ScannedBatch | None = None
        pos = 0
        expected = self.base_offset
        problem: str | None = None
        need = 0
        while pos < size:
            want = min(size - pos, max(SCAN_CHUNK_BYTES, need))
            buf = os.pread(self.fd, want, pos)
            res = scan(buf, pos, expected, at_eof=len(buf) < want or pos + want >= size)
            for b in res.batches:
                index.add_batch(b.position, b.base_offset, b.next_offset, b.max_timestamp,
                                b.size)
            if res.batches:
                first = first or res.batches[0]
                expected = res.batches[-1].next_offset
            pos += res.consumed
            if res.problem is not None:
                problem = res.problem
                break
            need = res.need if res.consumed == 0 else 0
        if pos < size:
            os.ftruncate(self.fd, pos)
        self.index = index
        self.first_batch_timestamp = first.max_timestamp if first else records.NO_TIMESTAMP
        return problem

    def _first_batch_timestamp(self) -> int:
        if self.size < records.HEADER_SIZE:
            return records.NO_TIMESTAMP
        return int(_MAX_TS.unpack(os.pread(self.fd, 8, 35))[0])

    # -- writing -------------------------------------------------------------------

    def write(self, data: records.Buffer, batches: list[ScannedBatch], now_ms: int) -> None:
        """Append ``data`` (whole batches whose positions in ``batches`` are file
        positions, starting at the current end) and index them."""
        pos = self.index.size
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.pwrite(self.fd, view[written:], pos + written)
        if self.index.empty and batches:
            self.first_append_ms = now_ms
            self.first_batch_timestamp = batches[0].max_timestamp
        add = self.index.add_batch
        for b in batches:
            add(b.position, b.base_offset, b.next_offset, b.max_timestamp, b.size)
        self.dirty = True

    def flush(self) -> None:
        """fdatasync the file if written since the last flush.

        Safe in another thread while the owner appends: the flag is cleared before
        the sync (a write racing with it marks the segment dirty again), and the
        sync uses a private descriptor, so the owner may close or reuse its own."""
        if not self.dirty:
            return
        self.dirty = False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:  # deleted meanwhile (retention, truncation)
            return
        try:
            os.fdatasync(fd)
        except BaseException:
            self.dirty = True
            raise
        finally:
            os.close(fd)

    def seal(self, *, sync: bool) -> None:
        """Close the segment for writing: final time entry, index files on disk."""
        if sync:
            self.flush()
        self.index.seal()
        files.atomic_write(self._aux(files.INDEX_SUFFIX), self.index.offset_index_bytes(),
                           sync=sync)
        files.atomic_write(self._aux(files.TIME_INDEX_SUFFIX), self.index.time_index_bytes(),
                           sync=sync)

    def unseal(self) -> None:
        """Make a closed segment the active one again (after a truncation)."""
        for suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
            _unlink(self._aux(suffix))
        self.index.sealed = False

    def truncate(self, position: int) -> None:
        """Cut the file at ``position`` (a batch boundary) and rebuild the index."""
        os.ftruncate(self.fd, position)
        self._rebuild(position)
        self.dirty = True
        if self.index.empty:
            self.first_append_ms = None

    # -- reading -------------------------------------------------------------------

    def pread(self, n: int, position: int) -> bytes:
        return os.pread(self.fd, n, position)

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, records.BatchHeader]]:
        """``(position, header)`` of each batch from ``position`` (a batch boundary)."""
        end = self.index.size
        while position < end:
            buf = os.pread(self.fd, min(HEADER_CHUNK_BYTES, end - position), position)
            p = 0
            while len(buf) - p >= records.HEADER_SIZE:
                h = records.BatchHeader(*_HEADER.unpack_from(buf, p))
                yield position + p, h
                p += h.size
            if p == 0:  # cannot happen in a validated segment; never spin
                return
            position += p

    def batch_position(self, offset: int) -> tuple[int, records.BatchHeader] | None:
        """Position and header of the batch holding ``offset``, if in this segment."""
        _, pos = self.index.lookup_offset(offset)
        for p, h in self.iter_headers(pos):
            if h.last_offset >= offset:
                return p, h
        return None

    def modified_ms(self) -> int:
        return os.stat(self.path).st_mtime_ns // 1_000_000

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Give the descriptor back (a later use reopens it); unsynced bytes stay in
        the page cache and a later `flush` still syncs them (fsync is per file)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def delete(self) -> None:
        self.close()
        for suffix in (files.LOG_SUFFIX, files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX):
            _unlink(self._aux(suffix))


_HEADER = struct.Struct(">qiibIhiqqqhii")
_MAX_TS = struct.Struct(">q")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
