"""`RaftPartitionLog`: the partition log used as a Raft log (`raft.LogStorage`).

One Raft entry is one record batch; its term is the batch's partition leader epoch.
Raft indexes are dense (1, 2, ...) while Kafka offsets count records, so the base
offset and term of every batch are kept in memory (rebuilt from the batch headers on
open). `truncate` maps to ``PartitionLog.truncate_to(base offset)``; a leader's no-op
(``data == b""``) is stored as a one-record control batch (a commit marker without a
producer), which every Kafka client skips. The term and vote live in
``raft-state.json`` next to the segments, replaced atomically and fsynced.

The log must start at offset 0 (retention is off for replicated partitions: Raft
here has no snapshots). `on_append` / `on_truncate` let the partition keep its
idempotent-producer state in step with the log.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Sequence

from reference_broker import records
from reference_broker.log import PartitionLog
from reference_broker.log.files import fsync_dir
from reference_broker.raft import Entry, HardState

_NOOP_KEY = struct.pack(">hh", 0, 1)  # control record: version 0, type 1 (commit)


def noop_batch(now_ms: int) -> bytes:
    return records.build_batch([records.Record(key=_NOOP_KEY, value=b"", timestamp=now_ms)],
                               control=True)


class RaftPartitionLog:
    """`LogStorage` over a `PartitionLog`; see the module docstring."""

    def __init__(self, plog: PartitionLog, clock_ms: Callable[[], int],
                 on_append: Callable[[records.BatchHeader], None] | None = None,
                 on_truncate: Callable[[], None] | None = None) -> None:
        if plog.log_start_offset != 0:
            raise ValueError(f"{plog.directory}: a replicated log must start at offset 0, "
                             f"not {plog.log_start_offset}")
        self.plog = plog
        self._clock_ms = clock_ms
        self.on_append = on_append
        self.on_truncate = on_truncate
        self._bases: list[int] = []
        self._terms: list[int] = []
        for h in plog.iter_batch_headers(0):
            self._bases.append(h.base_offset)
            self._terms.append(max(h.partition_leader_epoch, 1))
        self._hs_path = plog.directory / "raft-state.json"
        try:
            raw = json.loads(self._hs_path.read_text())
            self._hs = HardState(term=int(raw["term"]), voted_for=raw.get("voted_for"))
        except FileNotFoundError:
            self._hs = HardState()

    # -- LogStorage ------------------------------------------------------------------

    def hard_state(self) -> HardState:
        return self._hs

    def last_index(self) -> int:
        return len(self._bases)

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if 0 < index <= len(self._terms):
            return self._terms[index - 1]
        return None

    def entries(self, lo: int, hi: int) -> Sequence[Entry]:
        hi = min(hi, len(self._bases) + 1)
        if lo >= hi:
            return []
        start, end = self._bases[lo - 1], self.end_offset(hi - 1)
        out: list[Entry] = []
        pos_offset = start
        index = lo
        while pos_offset < end:
            data = self.plog.read(pos_offset, 1 << 20, end)
            if not data:
                break
            for pos, h in records.iter_batches(data):
                out.append(Entry(index=index, term=self._terms[index - 1],
                                 data=bytes(data[pos:pos + h.size])))
                index += 1
                pos_offset = h.next_offset
        assert index == hi, f"read entries {lo}..{index - 1}, wanted up to {hi - 1}"
        return out

    def append(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            assert e.index == len(self._bases) + 1, "raft appends keep the log dense"
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
        if from_index > len(self._bases):
            return
        from_index = max(from_index, 1)
        self.plog.truncate_to(self._bases[from_index - 1])
        del self._bases[from_index - 1:]
        del self._terms[from_index - 1:]
        if self.on_truncate is not None:
            self.on_truncate()

    def set_hard_state(self, state: HardState) -> None:
        tmp = self._hs_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"term": state.term, "voted_for": state.voted_for}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._hs_path)
        fsync_dir(self._hs_path.parent)
        self._hs = state

    def sync(self) -> None:
        self.plog.flush()

    # -- offsets ---------------------------------------------------------------------

    def end_offset(self, index: int) -> int:
        """The offset after entry ``index`` (0 for the empty prefix)."""
        if index <= 0:
            return 0
        if index < len(self._bases):
            return self._bases[index]
        return int(self.plog.log_end_offset)

    def epoch_end(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (largest term <= ``epoch``, the offset after its last
        entry), or (-1, -1) if the log holds no such term."""
        best = -1
        for i in range(len(self._terms) - 1, -1, -1):
            if self._terms[i] <= epoch:
                best = i
                break
        if best < 0:
            return -1, -1
        return self._terms[best], self.end_offset(best + 1)
