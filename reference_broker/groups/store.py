"""`__consumer_offsets`: where the coordinator's records live, and their replay.

One partition log in `<data-dir>/__consumer_offsets-0/` (a single node coordinates
every group, so one partition is enough). Each `write` of one coordinator Output is
one record batch v2 (uncompressed; the records are `_records`' key/value pairs), so a
torn tail loses a whole Output or nothing. Under the `always` flush policy the batch is
fsynced before `write` returns, which is what lets the driver acknowledge an
OffsetCommit afterwards; `interval` and `never` trade that for speed, as for topics.

The log is a `reference_broker.log.PartitionLog` (segments, CRC recovery that
truncates a torn tail, fsync policy) with retention off: nothing is ever deleted, so
replay reads every record since the first. (Kafka compacts this topic; compaction is
not implemented, so the log and the replay time grow with the number of commits.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from reference_broker import records
from reference_broker.log import LogConfig, PartitionLog

from ._records import GroupLogRecord, decode_record, encode_record

log = logging.getLogger(__name__)

TOPIC = "__consumer_offsets"
PARTITION_DIR = f"{TOPIC}-0"
_READ_CHUNK = 1 << 20
SEGMENT_BYTES = 100 * 1024 * 1024


class GroupStore:
    """The coordinator's durable log: `replay()` on start, `write()` per Output."""

    def __init__(self, plog: PartitionLog) -> None:
        self._log = plog

    @classmethod
    def open(cls, data_dir: Path, *, flush: str = "always", flush_interval_ms: int = 1000,
             now_ms: int = 0) -> GroupStore:
        config = LogConfig(segment_bytes=SEGMENT_BYTES, retention_ms=-1, retention_bytes=-1,
                           flush=flush,  # type: ignore[arg-type]
                           flush_interval_ms=flush_interval_ms)
        return cls(PartitionLog.open(Path(data_dir) / PARTITION_DIR, config, now_ms))

    @property
    def end_offset(self) -> int:
        return self._log.log_end_offset

    def replay(self) -> Iterator[GroupLogRecord]:
        """Every stored record, in log order."""
        offset = self._log.log_start_offset
        end = self._log.log_end_offset
        while offset < end:
            chunk = self._log.read(offset, _READ_CHUNK, end)
            if not chunk:
                break
            for pos, h in records.iter_batches(chunk):
                if h.next_offset <= offset:
                    continue
                for rec in records.iter_records(chunk, pos):
                    if rec.offset >= offset and rec.value is not None:
                        yield decode_record(rec.value)
                offset = h.next_offset

    def write(self, recs: Sequence[GroupLogRecord], now_ms: int) -> None:
        """Append `recs` as one batch; durable on return under the `always` policy."""
        if not recs:
            return
        batch = records.build_batch([
            records.Record(key=k, value=v, timestamp=now_ms)
            for k, v in (encode_record(r) for r in recs)])
        self._log.append(batch, now_ms)  # fsynced before returning under "always"

    def maybe_flush(self, now_ms: int) -> None:
        self._log.maybe_flush(now_ms)

    def close(self) -> None:
        self._log.close()
