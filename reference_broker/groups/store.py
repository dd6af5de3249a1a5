"""`__consumer_offsets`: where the coordinator's records live, and their replay.

One partition log in `<data-dir>/__consumer_offsets-0/` (a single node coordinates
every group, so one partition is enough). Each `write` of one coordinator Output is
one record batch v2 (uncompressed; the records are `_records`' key/value pairs), so a
torn tail loses a whole Output or nothing. Under the `always` flush policy the driver
calls `sync()` (an fsync, in a worker thread) after a batch of writes and before it
acknowledges any of them; `interval` and `never` trade that for speed, as for topics.

The log is a `reference_broker.log.PartitionLog` (segments, CRC recovery that
truncates a torn tail, fsync policy) with retention off: replay reads every record
since the first. Kafka compacts this topic in the background; here `rewrite` replaces
the log with a snapshot of the live state (the driver does it on start when most
records are dead), crash-safely:
1. write the snapshot to `__consumer_offsets-0.compacting/` and fsync it;
2. rename the live directory to `.old`, the snapshot to the live name, fsync the parent;
3. delete `.old`.
`open` finishes or discards an interrupted rewrite: without a live directory the
snapshot is complete (step 2 began only after step 1 ended), with one it is garbage.

`encode_batch` / `decode_batch` are the batch format, shared with the replicated
`__consumer_offsets` of a cluster (`reference_broker.cluster.groups`), whose Raft
no-ops are control batches that hold no group records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from reference_broker import records
from reference_broker.log import LogConfig, PartitionLog

from ._records import GroupLogRecord, decode_record, encode_record

log = logging.getLogger(__name__)

TOPIC = "__consumer_offsets"
PARTITION_DIR = f"{TOPIC}-0"
COMPACTING_SUFFIX = ".compacting"
OLD_SUFFIX = ".old"
_READ_CHUNK = 1 << 20
_SNAPSHOT_BATCH = 500
SEGMENT_BYTES = 100 * 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_batch(recs: Sequence[GroupLogRecord], now_ms: int) -> bytes:
    """One record batch v2 holding ``recs`` (one Kafka record each)."""
    return records.build_batch([
        records.Record(key=k, value=v, timestamp=now_ms)
        for k, v in (encode_record(r) for r in recs)])


def decode_batch(data: bytes) -> list[GroupLogRecord]:
    """The group records of one stored batch; none in a control batch (a Raft no-op)."""
    if not data or records.read_header(data).is_control:
        return []
    return [decode_record(r.value) for r in records.iter_records(data)
            if r.value is not None]


class GroupStore:
    """The coordinator's durable log: `replay()` on start, `write()` per Output."""

    def __init__(self, plog: PartitionLog, config: LogConfig, directory: Path) -> None:
        self._log = plog
        self._config = config
        self._directory = directory
        self.records_replayed = 0
        self.sync_on_write = False  # the caller must `sync()` before acknowledging

    @classmethod
    def open(cls, data_dir: Path, *, flush: str = "always", flush_interval_ms: int = 1000,
             now_ms: int = 0) -> GroupStore:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        directory = data_dir / PARTITION_DIR
        compacting = data_dir / (PARTITION_DIR + COMPACTING_SUFFIX)
        old = data_dir / (PARTITION_DIR + OLD_SUFFIX)
        if compacting.exists():
            if directory.exists():
                log.warning("%s: discarding an unfinished rewrite", compacting)
                shutil.rmtree(compacting)
            else:
                log.warning("%s: finishing an interrupted rewrite", compacting)
                compacting.rename(directory)
                _fsync_dir(data_dir)
        if old.exists():
            shutil.rmtree(old)
        # Under "always" the driver fsyncs each batch itself (`sync`, off the event loop),
        # so the log's own policy is "never"; "interval" and "never" are the log's.
        config = LogConfig(segment_bytes=SEGMENT_BYTES, retention_ms=-1, retention_bytes=-1,
                           flush="never" if flush == "always" else flush,  # type: ignore[arg-type]
                           flush_interval_ms=flush_interval_ms)
        store = cls(PartitionLog.open(directory, config, now_ms), config, directory)
        store.sync_on_write = flush == "always"
        return store

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def end_offset(self) -> int:
        return self._log.log_end_offset

    def replay(self) -> Iterator[GroupLogRecord]:
        """Every stored record, in log order."""
        offset = self._log.log_start_offset
        end = self._log.log_end_offset
        self.records_replayed = 0
        while offset < end:
            chunk = self._log.read(offset, _READ_CHUNK, end)
            if not chunk:
                break
            for pos, h in records.iter_batches(chunk):
                if h.next_offset <= offset:
                    continue
                for rec in records.iter_records(chunk, pos):
                    if rec.offset >= offset and rec.value is not None:
                        self.records_replayed += 1
                        yield decode_record(rec.value)
                offset = h.next_offset

    def write(self, recs: Sequence[GroupLogRecord], now_ms: int) -> None:
        """Append `recs` as one batch (durable after `sync()` if `sync_on_write`)."""
        if not recs:
            return
        self._log.append(encode_batch(recs, now_ms), now_ms)

    def sync(self) -> None:
        """fsync what was written (safe in a worker thread while nothing else writes)."""
        self._log.flush()

    async def settle(self) -> None:
        """`sync` in a worker thread, so the event loop keeps serving meanwhile."""
        await asyncio.to_thread(self.sync)


    def rewrite(self, snapshot: Sequence[GroupLogRecord], now_ms: int) -> None:
        """Replace the log by `snapshot` (the live state), crash-safely (see above)."""
        parent = self._directory.parent
        compacting = parent / (PARTITION_DIR + COMPACTING_SUFFIX)
        old = parent / (PARTITION_DIR + OLD_SUFFIX)
        if compacting.exists():
            shutil.rmtree(compacting)
        fresh = PartitionLog.open(compacting, self._config, now_ms)
        try:
            for i in range(0, len(snapshot), _SNAPSHOT_BATCH):
                fresh.append(encode_batch(snapshot[i:i + _SNAPSHOT_BATCH], now_ms), now_ms)
            fresh.flush()
        finally:
            fresh.close()
        _fsync_dir(compacting)
        self._log.close()
        self._directory.rename(old)
        compacting.rename(self._directory)
        _fsync_dir(parent)
        shutil.rmtree(old)
        self._log = PartitionLog.open(self._directory, self._config, now_ms)

    def maybe_flush(self, now_ms: int) -> None:
        self._log.maybe_flush(now_ms)

    def close(self) -> None:
        self._log.close()
