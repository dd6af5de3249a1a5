"""Topics and partitions of one broker: metadata persisted in the data dir, one log each.

Layout under `--data-dir` (Kafka's): `<topic>-<n>/` per partition (owned by
`reference_broker.log.PartitionLog`), `topics.json` (name -> topic id, partition
count, topic-level config overrides; rewritten atomically: temp file, fsync, rename,
fsync of the directory) and `producer-ids.json` (the next block of producer ids, so an
id is never handed out twice, even across SIGKILL).

A deleted topic is first dropped from `topics.json`, its directories renamed to
`<topic>-<n>.<id>-delete` and then removed; leftovers of a crash in between are removed
on the next start. `__consumer_offsets` belongs to the group coordinator: this store
never creates, lists or deletes it.

`Partition` couples a log with its idempotent-producer state and its transaction state
(`reference_broker.txn.PartitionTxns`: open transactions, last stable offset, aborted
index), both rebuilt from the log on open, and with the futures of fetches waiting for
data (woken on append). Transactional batches are appended only when the produce
handler passes a gate (the transaction coordinator's verdict); control batches only
by `write_marker`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_broker import records
from reference_broker.config import BrokerConfig, TopicConfig
from reference_broker.log import LogConfig, OffsetOutOfRange, PartitionLog
from reference_broker.partition import ProducerStateTable
from reference_broker.protocol import errors
from reference_broker.txn.partition import PartitionTxns, marker_batch, marker_is_commit

log = logging.getLogger(__name__)

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
PRODUCER_ID_BLOCK = 1000
LEADER_EPOCH = 0  # one node, never re-elected


def topic_name_error(name: str | None) -> str | None:
    """Why `name` is not a legal topic name (Kafka's rules), or None."""
    if not name:
        return "topic name is empty"
    if name in (".", ".."):
        return f"topic name {name!r} is not allowed"
    if not _TOPIC_RE.match(name):
        return (f"topic name {name!r} must be 1-249 characters of ASCII letters, digits, "
                "'.', '_' or '-'")
    return None


def log_config(cfg: TopicConfig, broker: BrokerConfig) -> LogConfig:
    """STORAGE's LogConfig for a topic's effective settings.

    flush.policy=always is implemented here, not by the log, as a group commit: the
    log runs with `interval` (so rolled segments are synced) and the broker fsyncs
    each written partition once before it sends any answer (`TopicStore.sync_dirty`),
    so pipelined produce requests share one fsync.
    """
    flush = "interval" if cfg.flush_policy == "always" else cfg.flush_policy
    return LogConfig(
        segment_bytes=cfg.segment_bytes,
        roll_ms=cfg.segment_ms,
        retention_ms=cfg.retention_ms,
        retention_bytes=cfg.retention_bytes,
        flush=flush,  # type: ignore[arg-type]
        flush_interval_ms=cfg.flush_ms,
        index_interval_bytes=broker.index_interval_bytes,
    )


@dataclass(frozen=True, slots=True)
class AppendResult:
    error_code: int
    base_offset: int = -1
    log_start_offset: int = -1
    message: str | None = None


#: A produce handler's verdict on a transactional batch of (producer id, epoch) for
#: this partition: None to accept, else the refusal.
TxnGate = Callable[[int, int], "AppendResult | None"]


class Partition:
    """One partition: log, high watermark, producer state, waiting fetches.

    Under flush.policy=always the high watermark is the log end at the last fsync, so
    no consumer ever sees a record a machine crash could take back; otherwise it is
    the log end. The fsync runs in a worker thread (`sync`) so the event loop goes on
    serving; while it runs, nothing on the loop may change this log: appends wait
    (`idle`), retention and interval flushes skip the partition (`busy`). Reads are
    safe meanwhile (they only pread and consult the indexes).
    """

    __slots__ = ("_dirty", "_durable_end", "_flushing", "_waiters", "config", "index",
                 "log", "producers", "replica", "sync_always", "topic", "txns")

    def __init__(self, topic: str, index: int, plog: PartitionLog, config: TopicConfig,
                 dirty: set[Partition] | None = None) -> None:
        self.topic = topic
        self.index = index
        self.log = plog
        self.config = config
        self.sync_always = config.flush_policy == "always"
        self._durable_end = int(plog.log_end_offset)
        self._dirty: set[Partition] = dirty if dirty is not None else set()
        self._flushing: asyncio.Task[None] | None = None
        self.producers = ProducerStateTable()
        self.txns = PartitionTxns()
        self._waiters: list[asyncio.Future[None]] = []
        # In a cluster: the partition's Raft group (`reference_broker.cluster`), which
        # appends through Raft and owns the high watermark (its commit index).
        self.replica: Any = None
        self._rebuild_producers()

    def _rebuild_producers(self) -> None:
        n = 0
        for h in self.log.iter_batch_headers(self.log.log_start_offset):
            if h.producer_id < 0:
                continue
            if h.is_control:
                data = self.log.read(h.base_offset, h.size, h.next_offset)
                commit = marker_is_commit(data)
                if commit is not None:
                    self.txns.on_marker(h.producer_id, commit, h.base_offset)
                    self.producers.bump_epoch(h.producer_id, h.producer_epoch)
                continue
            self.producers.record(h.producer_id, h.producer_epoch, h.base_sequence,
                                  h.last_sequence, h.base_offset, h.last_offset,
                                  h.max_timestamp)
            if h.is_transactional:
                self.txns.on_data(h.producer_id, h.base_offset)
            n += 1
        if n:
            log.info("%s-%d: rebuilt state of %d producers from %d batches (%d open and "
                     "%d aborted transactions)", self.topic, self.index,
                     len(self.producers), n, len(self.txns.ongoing), len(self.txns.aborted))

    def reset_producers(self) -> None:
        """Rebuild the producer and transaction state from the log (after a Raft
        truncation)."""
        self.producers = ProducerStateTable()
        self.txns = PartitionTxns()
        self._rebuild_producers()

    def record_producer(self, h: records.BatchHeader) -> None:
        """Note an appended batch (with its final offsets) in the producer state."""
        if h.producer_id >= 0:
            self.producers.record(h.producer_id, h.producer_epoch, h.base_sequence,
                                  h.last_sequence, h.base_offset, h.last_offset,
                                  h.max_timestamp)

    @property
    def high_watermark(self) -> int:
        # One node: every appended (with flush.policy=always: synced) record is
        # committed. Replicated: the offset after Raft's commit index.
        if self.replica is not None:
            return int(self.replica.high_watermark)
        if self.sync_always:
            return self._durable_end
        return int(self.log.log_end_offset)

    def _appended(self) -> None:
        if self.sync_always:
            self._dirty.add(self)
        else:
            self.notify()

    @property
    def busy(self) -> bool:
        """An fsync of this log is running in a worker thread."""
        return self._flushing is not None

    async def idle(self) -> None:
        """Wait until no fsync of this log is running (call before changing the log)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def sync(self, now_ms: int | None = None) -> None:
        """Return once everything appended before the call is fsynced (group commit:
        appends made while an fsync runs are covered by the next one)."""
        target = int(self.log.log_end_offset)
        while self._durable_end < target:
            if self._flushing is None:
                self._flushing = asyncio.ensure_future(self._flush(now_ms))
            await asyncio.shield(self._flushing)

    async def _flush(self, now_ms: int | None) -> None:
        end = int(self.log.log_end_offset)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.log.flush, now_ms)
        finally:
            self._flushing = None
        self._durable_end = max(self._durable_end, end)
        if self._durable_end >= self.log.log_end_offset:
            self._dirty.discard(self)
        self.notify()

    def sync_now(self) -> None:
        """fsync on the calling thread (shutdown and config changes; not while busy)."""
        assert self._flushing is None, "sync_now while a background fsync runs"
        self.log.flush()
        self._durable_end = int(self.log.log_end_offset)
        self._dirty.discard(self)
        self.notify()

    def set_config(self, config: TopicConfig) -> None:
        if self.sync_always and config.flush_policy != "always":
            self.sync_now()
        self.config = config
        self.sync_always = config.flush_policy == "always"
        self._durable_end = int(self.log.log_end_offset)

    @property
    def last_stable_offset(self) -> int:
        """Below it every transaction is decided (read_committed reads stop here)."""
        return self.txns.last_stable_offset(self.high_watermark, self.log_start_offset)

    @property
    def log_start_offset(self) -> int:
        return int(self.log.log_start_offset)

    def validate(self, data: bytes, txn_gate: TxnGate | None = None
                 ) -> list[records.BatchHeader] | AppendResult:
        """The batch headers of a produce request's record set, or why it is refused
        (transactional batches need ``txn_gate``'s consent; control batches are the
        broker's own)."""
        try:
            headers = records.validate_produce(data)
        except records.InvalidRecords as exc:
            code = errors.CORRUPT_MESSAGE if exc.reason in ("crc", "truncated", "length") \
                else errors.INVALID_RECORD
            if exc.reason == "magic":
                code = errors.UNSUPPORTED_FOR_MESSAGE_FORMAT
            return AppendResult(code, message=str(exc))
        max_bytes = self.config.max_message_bytes
        for h in headers:
            if h.size > max_bytes:
                return AppendResult(errors.MESSAGE_TOO_LARGE,
                                    message=f"batch of {h.size} bytes > max.message.bytes "
                                            f"{max_bytes}")
            if h.is_control:
                return AppendResult(errors.INVALID_RECORD,
                                    message="control batches are written by the broker, "
                                            "not produced")
            if h.is_transactional:
                if txn_gate is None:
                    return AppendResult(errors.INVALID_TXN_STATE,
                                        message="transactional batch without a transaction "
                                                "(transactions need a single-node broker)")
                refused = txn_gate(h.producer_id, h.producer_epoch)
                if refused is not None:
                    return refused
        return headers

    def append(self, data: bytes, now_ms: int, txn_gate: TxnGate | None = None
               ) -> AppendResult:
        """Validate and append a produce request's record set (whole batches, v2)."""
        headers = self.validate(data, txn_gate)
        if isinstance(headers, AppendResult):
            return headers
        if len(headers) == 1:
            h = headers[0]
            verdict = self.producers.check(h.producer_id, h.producer_epoch, h.base_sequence,
                                           h.last_sequence)
            if verdict.duplicate is not None:
                return AppendResult(errors.NONE, verdict.duplicate.first_offset,
                                    self.log_start_offset)
            if verdict.error_code:
                return AppendResult(verdict.error_code)
            info = self.log.append(data, now_ms, partition_leader_epoch=LEADER_EPOCH)
            self.producers.record(h.producer_id, h.producer_epoch, h.base_sequence,
                                  h.last_sequence, info.base_offset, info.last_offset,
                                  h.max_timestamp)
            if h.is_transactional:
                self.txns.on_data(h.producer_id, info.base_offset)
            self._appended()
            return AppendResult(errors.NONE, info.base_offset, self.log_start_offset)
        return self._append_many(data, headers, now_ms)

    def _append_many(self, data: bytes, headers: list[records.BatchHeader],
                     now_ms: int) -> AppendResult:
        # Several batches for one partition in one request (rare): Kafka appends them
        # all or none, so every batch is checked first, against a staged state.
        staged = ProducerStateTable()
        for h in headers:
            if h.producer_id < 0:
                continue
            entry = self.producers.entry(h.producer_id)
            if entry is not None and staged.entry(h.producer_id) is None:
                for m in entry.batches:
                    staged.record(h.producer_id, entry.epoch, m.first_seq, m.last_seq,
                                  m.first_offset, m.last_offset, m.max_timestamp)
            verdict = staged.check(h.producer_id, h.producer_epoch, h.base_sequence,
                                   h.last_sequence)
            if not verdict.ok_to_append:
                code = verdict.error_code or errors.DUPLICATE_SEQUENCE_NUMBER
                return AppendResult(code)
            staged.record(h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence,
                          0, 0, h.max_timestamp)
        info = self.log.append(data, now_ms, partition_leader_epoch=LEADER_EPOCH)
        off = info.base_offset
        for h in headers:
            self.producers.record(h.producer_id, h.producer_epoch, h.base_sequence,
                                  h.last_sequence, off, off + h.last_offset_delta,
                                  h.max_timestamp)
            if h.is_transactional:
                self.txns.on_data(h.producer_id, off)
            off += h.last_offset_delta + 1
        self._appended()
        return AppendResult(errors.NONE, info.base_offset, self.log_start_offset)

    def write_marker(self, producer_id: int, epoch: int, commit: bool, now_ms: int) -> int:
        """Append the marker ending the transaction of (producer id, epoch); returns its
        offset. The caller waits for `idle` first; durability follows the flush policy
        (`sync`). The producer's epoch here moves up to ``epoch`` (fencing older ones)."""
        info = self.log.append(marker_batch(producer_id, epoch, commit, now_ms), now_ms,
                               partition_leader_epoch=LEADER_EPOCH)
        self.txns.on_marker(producer_id, commit, info.base_offset)
        self.producers.bump_epoch(producer_id, epoch)
        self._appended()
        return info.base_offset

    def read(self, offset: int, max_bytes: int, max_offset: int) -> bytes:
        """Whole batches from `offset` up to `max_offset` (raises OffsetOutOfRange)."""
        if offset == max_offset and offset >= self.log_start_offset:
            return b""
        data: bytes = self.log.read(offset, max_bytes, max_offset)
        return data

    def wait(self) -> asyncio.Future[None]:
        """A future completed by the next append to this partition."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self._waiters) >= 64:  # drop fetches that timed out meanwhile
            self._waiters = [w for w in self._waiters if not w.done()]
        self._waiters.append(fut)
        return fut

    def notify(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)


@dataclass(slots=True)
class Topic:
    name: str
    topic_id: uuid.UUID
    configs: dict[str, str]
    partitions: list[Partition] = field(default_factory=list)


class TopicStore:
    """All topics of the broker; the only writer of `topics.json`."""

    def __init__(self, data_dir: Path, config: BrokerConfig) -> None:
        self.data_dir = data_dir
        self.config = config
        self._topics: dict[str, Topic] = {}
        self._by_id: dict[uuid.UUID, Topic] = {}
        self._next_pid = 0
        self._pid_limit = 0
        self.dirty: set[Partition] = set()

    # -- lifetime --------------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path, config: BrokerConfig, now_ms: int) -> TopicStore:
        store = cls(data_dir, config)
        data_dir.mkdir(parents=True, exist_ok=True)
        for leftover in data_dir.glob("*-delete"):
            shutil.rmtree(leftover, ignore_errors=True)
        meta = store._read_json("topics.json") or {"topics": {}}
        for name, t in meta["topics"].items():
            topic = Topic(name, uuid.UUID(t["id"]), dict(t.get("configs", {})))
            tcfg = config.topic_config(topic.configs)
            for i in range(int(t["partitions"])):
                plog = PartitionLog.open(data_dir / f"{name}-{i}", log_config(tcfg, config),
                                         now_ms)
                topic.partitions.append(Partition(name, i, plog, tcfg, store.dirty))
            store._add(topic)
        pids = store._read_json("producer-ids.json") or {}
        store._next_pid = store._pid_limit = int(pids.get("next_block", 0))
        return store

    async def sync_dirty(self, now_ms: int | None = None) -> None:
        """Return once every flush.policy=always partition written so far is fsynced.

        The server awaits this before it sends any answer, so an acknowledgement never
        precedes the fsync of what it acknowledges; appends made meanwhile by other
        requests are covered by the same or the next fsync (group commit)."""
        # One pass: what is appended meanwhile belongs to other requests, whose own
        # sync_dirty waits for it (looping here could starve under constant load).
        if self.dirty:
            await asyncio.gather(*(p.sync(now_ms) for p in list(self.dirty)))

    def start_sync_dirty(self, now_ms: int) -> None:
        """Start background fsyncs of the written partitions (housekeeping: acks=0)."""
        for p in list(self.dirty):
            if not p.busy:
                task = asyncio.ensure_future(p.sync(now_ms))
                task.add_done_callback(_log_failure)

    async def drain(self) -> None:
        """Wait for every running fsync and sync what is left (before `close`)."""
        for p in self.all_partitions():
            await p.idle()
        for p in list(self.dirty):
            p.sync_now()

    def close(self) -> None:
        for p in list(self.dirty):
            if not p.busy:
                p.sync_now()
        for topic in self._topics.values():
            for p in topic.partitions:
                p.notify()
                p.log.close()
        self._topics.clear()
        self._by_id.clear()

    def _add(self, topic: Topic) -> None:
        self._topics[topic.name] = topic
        self._by_id[topic.topic_id] = topic

    def _read_json(self, name: str) -> Any:
        path = self.data_dir / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def _write_json(self, name: str, value: Any) -> None:
        path = self.data_dir / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(value, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _persist(self) -> None:
        self._write_json("topics.json", {"topics": {
            t.name: {"id": str(t.topic_id), "partitions": len(t.partitions),
                     "configs": t.configs}
            for t in self._topics.values()}})

    # -- queries ---------------------------------------------------------------------

    def get(self, name: str | None) -> Topic | None:
        return self._topics.get(name) if name is not None else None

    def by_id(self, topic_id: uuid.UUID | None) -> Topic | None:
        return self._by_id.get(topic_id) if topic_id is not None else None

    def __iter__(self) -> Iterator[Topic]:
        return iter(list(self._topics.values()))

    def __len__(self) -> int:
        return len(self._topics)

    def partition(self, name: str | None, index: int) -> Partition | None:
        topic = self.get(name)
        if topic is None or not 0 <= index < len(topic.partitions):
            return None
        return topic.partitions[index]

    def partition_exists(self, topic: str, index: int) -> bool:
        return self.partition(topic, index) is not None

    def all_partitions(self) -> Iterator[Partition]:
        for topic in list(self._topics.values()):
            yield from topic.partitions

    # -- changes ---------------------------------------------------------------------

    def create(self, name: str, num_partitions: int, configs: Mapping[str, str],
               now_ms: int, topic_id: uuid.UUID | None = None) -> Topic:
        """Create a topic (the caller validated name, count and configs); a cluster
        passes the id its controller chose."""
        if name in self._topics or name in INTERNAL_TOPICS:
            raise ValueError(f"topic {name!r} already exists")
        topic = Topic(name, topic_id or uuid.uuid4(), dict(configs))
        tcfg = self.config.topic_config(topic.configs)
        for i in range(num_partitions):
            d = self.data_dir / f"{name}-{i}"
            if d.exists():  # leftover of a crash before topics.json was written
                shutil.rmtree(d)
            plog = PartitionLog.open(d, log_config(tcfg, self.config), now_ms)
            topic.partitions.append(Partition(name, i, plog, tcfg, self.dirty))
        self._add(topic)
        self._persist()
        log.info("created topic %s (%d partitions, configs %s)", name, num_partitions,
                 dict(configs))
        return topic

    def add_partitions(self, name: str, count: int, now_ms: int) -> None:
        """Grow a topic to `count` partitions (the caller checked count > current)."""
        topic = self._topics[name]
        tcfg = self.config.topic_config(topic.configs)
        for i in range(len(topic.partitions), count):
            d = self.data_dir / f"{name}-{i}"
            if d.exists():
                shutil.rmtree(d)
            plog = PartitionLog.open(d, log_config(tcfg, self.config), now_ms)
            topic.partitions.append(Partition(name, i, plog, tcfg, self.dirty))
        self._persist()
        log.info("topic %s now has %d partitions", name, count)

    def delete(self, name: str) -> None:
        topic = self._topics.pop(name)
        self._by_id.pop(topic.topic_id, None)
        self.dirty.difference_update(topic.partitions)
        self._persist()
        for p in topic.partitions:
            p.notify()
            p.log.close()
            d = self.data_dir / f"{name}-{p.index}"
            gone = d.with_name(f"{d.name}.{topic.topic_id.hex}-delete")
            try:
                os.replace(d, gone)
                shutil.rmtree(gone)
            except FileNotFoundError:
                pass
        log.info("deleted topic %s", name)

    def set_configs(self, name: str, configs: Mapping[str, str]) -> None:
        """Replace a topic's config overrides and apply them to its logs."""
        topic = self._topics[name]
        topic.configs = dict(configs)
        tcfg = self.config.topic_config(topic.configs)
        lcfg = log_config(tcfg, self.config)
        for p in topic.partitions:
            p.log.reconfigure(lcfg)
            p.set_config(tcfg)
        self._persist()
        log.info("topic %s configs now %s", name, topic.configs)

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before by this data dir."""
        if self._next_pid >= self._pid_limit:
            self._pid_limit = self._next_pid + PRODUCER_ID_BLOCK
            self._write_json("producer-ids.json", {"next_block": self._pid_limit})
        pid = self._next_pid
        self._next_pid += 1
        return pid

    # -- housekeeping ----------------------------------------------------------------

    def apply_retention(self, now_ms: int) -> int:
        """Run retention on every partition; returns how many segments went. A
        replicated partition compacts its Raft log (`cluster.RaftGroup`); planted bug
        ``early-retention`` ages segments by their first write on both."""
        early = "early-retention" in str(self.config.raw.get("logtrial.bugs", "")).split(",")
        deleted = 0
        for p in self.all_partitions():
            if p.busy:
                continue
            if p.replica is None:
                deleted += int(p.log.apply_retention(now_ms, p.high_watermark,
                                                     by_first_write=early))
                p.txns.forget_below(p.log_start_offset)
            elif hasattr(p.replica, "apply_retention"):  # not a partition replicated elsewhere
                deleted += int(p.replica.apply_retention(now_ms, by_first_write=early))
        return deleted

    def maybe_flush(self, now_ms: int) -> None:
        for p in self.all_partitions():
            if not p.busy:
                p.log.maybe_flush(now_ms)

    def flush(self) -> None:
        for p in self.all_partitions():
            if not p.busy:
                p.log.flush()


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background fsync failed: %s", task.exception())


__all__ = ["INTERNAL_TOPICS", "AppendResult", "OffsetOutOfRange", "Partition", "Topic",
           "TopicStore", "topic_name_error"]
