"""`RaftPartitionLog`: the partition log used as a Raft log (`raft.LogStorage`).

One Raft entry is one record batch; its term is the batch's partition leader epoch.
Raft indexes are dense (1, 2, ...) while Kafka offsets count records, so the base
offset and term of every batch are kept in memory (rebuilt from the batch headers on
open). `truncate` maps to ``PartitionLog.truncate_to(base offset)``; a leader's no-op
(``data == b""``) is stored as a one-record control batch (a commit marker without a
producer), which every Kafka client skips. The term and vote live in
``raft-state.json`` next to the segments, replaced atomically and fsynced.

Retention compacts the Raft log: `retention_point` says which segments the
partition's retention rules would delete, given the replica's commit index as the
high watermark, as a Raft snapshot point (the index of the last entry below the
first kept segment, and the Kafka log start offset there as the snapshot's
``data``, 8 bytes big-endian). The Raft node turns it into a `compact` write:
the point (index, term, offset) is stored in ``raft-state.json`` first, then the
partition log's start moves there and the segments below go. A follower that
installs its leader's snapshot (`reset`) stores the point, then empties its
partition log and restarts it at the leader's log start offset, so its offsets
stay those of the leader. On open, a partition log that does not start at the
stored point (a crash between the two steps) is brought there: advanced if the
point is a batch boundary of it, else emptied and restarted at the point.
`on_append` / `on_truncate` let the partition keep its idempotent-producer state
in step with the log (`on_truncate` also runs after a reset).
"""

from __future__ import annotations

import json
import os
import struct
from bisect import bisect_left
from collections.abc import Callable, Sequence

from reference_broker import records
from reference_broker.log import PartitionLog
from reference_broker.log.files import fsync_dir
from reference_broker.raft import Entry, HardState, Snapshot

_NOOP_KEY = struct.pack(">hh", 0, 1)  # control record: version 0, type 1 (commit)


def noop_batch(now_ms: int) -> bytes:
    return records.build_batch([records.Record(key=_NOOP_KEY, value=b"", timestamp=now_ms)],
                               control=True)


def snapshot_data(offset: int) -> bytes:
    """A snapshot point's ``data``: the Kafka log start offset there."""
    return offset.to_bytes(8, "big")


def snapshot_offset(snapshot: Snapshot) -> int:
    if snapshot.index == 0:
        return 0
    if len(snapshot.data) != 8:
        raise ValueError(f"snapshot at index {snapshot.index}: data must be an 8-byte log "
                         f"start offset, got {len(snapshot.data)} bytes")
    return int.from_bytes(snapshot.data, "big")


class RaftPartitionLog:
    """`LogStorage` over a `PartitionLog`; see the module docstring."""

    def __init__(self, plog: PartitionLog, clock_ms: Callable[[], int],
                 on_append: Callable[[records.BatchHeader], None] | None = None,
                 on_truncate: Callable[[], None] | None = None) -> None:
        self.plog = plog
        self._clock_ms = clock_ms
        self.on_append = on_append
        self.on_truncate = on_truncate
        self._hs_path = plog.directory / "raft-state.json"
        self._hs = HardState()
        self._snap = Snapshot()
        try:
            raw = json.loads(self._hs_path.read_text())
            self._hs = HardState(term=int(raw["term"]), voted_for=raw.get("voted_for"))
            if raw.get("snapshot"):
                index, term, offset = raw["snapshot"]
                self._snap = Snapshot(index=int(index), term=int(term),
                                      data=snapshot_data(int(offset)))
        except FileNotFoundError:
            pass
        self._start = snapshot_offset(self._snap)  # the offset after the snapshot point
        if self._snap.index == 0 and plog.log_start_offset != 0:
            raise ValueError(f"{plog.directory}: a replicated log without a snapshot point "
                             f"must start at offset 0, not {plog.log_start_offset}")
        self._reconcile()
        self._bases: list[int] = []  # base offset of each entry after the snapshot point
        self._terms: list[int] = []
        for h in plog.iter_batch_headers(self._start):
            self._bases.append(h.base_offset)
            self._terms.append(max(h.partition_leader_epoch, 1))

    def _reconcile(self) -> None:
        """Bring the partition log to start at the snapshot point (see the module
        docstring: a crash may have come between storing the point and moving)."""
        plog, start = self.plog, self._start
        if plog.log_start_offset == start and self._first_base() in (start, None):
            return
        if plog.log_start_offset < start <= plog.log_end_offset:
            plog.advance_start(start)
            if self._first_base() in (start, None):
                return
        plog.reset(start)

    def _first_base(self) -> int | None:
        h = next(iter(self.plog.iter_batch_headers(self._start)), None)
        return None if h is None else h.base_offset

    # -- LogStorage ------------------------------------------------------------------

    def hard_state(self) -> HardState:
        return self._hs

    def snapshot(self) -> Snapshot:
        return self._snap

    def last_index(self) -> int:
        return self._snap.index + len(self._bases)

    def term_at(self, index: int) -> int | None:
        first = self._snap.index
        if index == first:
            return self._snap.term
        if first < index <= first + len(self._terms):
            return self._terms[index - first - 1]
        return None

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        first = self._snap.index
        assert lo > first, f"entries from {lo}: compacted up to {first}"
        hi = min(hi, self.last_index() + 1)
        if lo >= hi:
            return []
        start, end = self._bases[lo - first - 1], self.end_offset(hi - 1)
        out: list[Entry] = []
        pos_offset = start
        index = lo
        while pos_offset < end:
            data = self.plog.read(pos_offset, 1 << 20, end)
            if not data:
                break
            for pos, h in records.iter_batches(data):
                out.append(Entry(index=index, term=self._terms[index - first - 1],
                                 data=bytes(data[pos:pos + h.size])))
                index += 1
                pos_offset = h.next_offset
        assert index == hi, f"read entries {lo}..{index - 1}, wanted up to {hi - 1}"
        return out

    def append(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            assert e.index == self.last_index() + 1, "raft appends keep the log dense"
            data = e.data or noop_batch(self._clock_ms())
            info = self.plog.append(data, self._clock_ms(), partition_leader_epoch=e.term)
            self._bases.append(info.base_offset)
            self._terms.append(e.term)
            if self.on_append is not None:
                h = records.read_header(data)
                if not h.is_control:
                    self.on_append(records.BatchHeader(
                        info.base_offset, h.batch_length, e.term, h.magic, h.crc,
                        h.attributes, h.last_offset_delta, h.base_timestamp,
                        h.max_timestamp, h.producer_id, h.producer_epoch, h.base_sequence,
                        h.record_count))

    def truncate(self, from_index: int) -> None:
        if from_index > self.last_index():
            return
        pos = max(from_index - self._snap.index, 1) - 1
        self.plog.truncate_to(self._bases[pos])
        del self._bases[pos:]
        del self._terms[pos:]
        if self.on_truncate is not None:
            self.on_truncate()

    def compact(self, snapshot: Snapshot) -> None:
        offset = snapshot_offset(snapshot)
        n = snapshot.index - self._snap.index
        if not 0 < n <= len(self._bases) or self.term_at(snapshot.index) != snapshot.term \
                or self.end_offset(snapshot.index) != offset:
            raise ValueError(f"{self.plog.directory}: cannot compact to {snapshot} (offset "
                             f"{offset}): the log holds entries {self._snap.index + 1}.."
                             f"{self.last_index()} from offset {self._start}")
        self._write_state(self._hs, snapshot)
        self.plog.advance_start(offset)
        del self._bases[:n]
        del self._terms[:n]
        self._snap, self._start = snapshot, offset

    def reset(self, snapshot: Snapshot) -> None:
        offset = snapshot_offset(snapshot)
        self._write_state(self._hs, snapshot)
        self.plog.reset(offset)
        self._bases.clear()
        self._terms.clear()
        self._snap, self._start = snapshot, offset
        if self.on_truncate is not None:
            self.on_truncate()

    def set_hard_state(self, state: HardState) -> None:
        self._write_state(state, self._snap)

    def _write_state(self, state: HardState, snapshot: Snapshot) -> None:
        """Replace ``raft-state.json`` atomically (temp file, fsync, rename)."""
        raw: dict[str, object] = {"term": state.term, "voted_for": state.voted_for}
        if snapshot.index:
            raw["snapshot"] = [snapshot.index, snapshot.term, snapshot_offset(snapshot)]
        tmp = self._hs_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(raw, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._hs_path)
        fsync_dir(self._hs_path.parent)
        self._hs = state

    def sync(self) -> None:
        self.plog.flush()

    # -- offsets ---------------------------------------------------------------------

    def end_offset(self, index: int) -> int:
        """The offset after entry ``index`` (the log start offset at or below the
        snapshot point)."""
        k = index - self._snap.index
        if k <= 0:
            return self._start
        if k < len(self._bases):
            return self._bases[k]
        return int(self.plog.log_end_offset)

    def epoch_end(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (largest term <= ``epoch``, the offset after its last
        entry), or (-1, -1) if the log holds no such term (the snapshot point's term
        counts, ending at the log start offset)."""
        first = self._snap.index
        for i in range(len(self._terms) - 1, -1, -1):
            if self._terms[i] <= epoch:
                return self._terms[i], self.end_offset(first + i + 1)
        if first and self._snap.term <= epoch:
            return self._snap.term, self._start
        return -1, -1

    # -- retention -------------------------------------------------------------------

    def retention_point(self, now_ms: int, commit_index: int, *,
                        by_first_write: bool = False) -> tuple[int, bytes] | None:
        """Where retention would compact this log now: (the snapshot index, its
        ``data``), or None. Only segments wholly below the commit index qualify;
        ``by_first_write`` is the planted bug early-retention."""
        point = self.plog.retention_point(now_ms, self.end_offset(commit_index),
                                          by_first_write=by_first_write)
        if point is None:
            return None
        k = bisect_left(self._bases, point)
        if k == 0 or k >= len(self._bases) or self._bases[k] != point:
            return None  # not the start of an entry after the snapshot point
        return self._snap.index + k, snapshot_data(point)
