"""`TxnService`: the asyncio driver of the transaction coordinator on one node.

What it adds to the pure `TxnCoordinator`:

- Durability: the whole coordinator state is written to ``<data-dir>/txn-state.json``
  (temp file, fsync, rename, fsync of the directory) after every change and before
  the request is answered, so an acknowledged InitProducerId, AddPartitionsToTxn,
  AddOffsetsToTxn or TxnOffsetCommit, and the decision of an EndTxn, survive SIGKILL.
- Ending a transaction (`EndPlan`): PREPARE_* is persisted first; then a marker is
  appended to every partition of the transaction and fsynced (under
  flush.policy=always; otherwise the log's own policy applies); then, on commit, the
  staged offsets become the groups' committed offsets (the group coordinator's
  durable commit; any offset it refuses fails the end, which is retried, rather than
  completing a commit without its offsets); then COMPLETE_* is persisted. EndTxn is
  answered only after all that; so is an InitProducerId that fenced an ongoing
  transaction (the coordinator answers CONCURRENT_TRANSACTIONS with the abort; once
  it is written the service asks again, within the same request, and answers with
  the new epoch). A failure leaves PREPARE_* and the request gets
  COORDINATOR_NOT_AVAILABLE (retriable); `tick` retries.
- Time: `tick(now_ms)` (from the server's housekeeping) aborts timed-out
  transactions, retries unfinished ends and, once after start-up, finishes what a
  crash interrupted: PREPARE_* transactions are ended again (writing a marker twice
  is harmless: the second finds no open transaction), and a partition's open
  transaction the coordinator will not end (unknown producer, or its marker lost in a
  crash) gets its marker (`TxnCoordinator.resolve_open`); a partition busy with an
  fsync then, or whose marker could not be written, is visited again at each retry.

Only one end of a given transactional id runs at a time; no other change to it is
accepted meanwhile (the coordinator answers CONCURRENT_TRANSACTIONS in PREPARE_*).

Deliberate simplification: the state file is rewritten whole, and fsynced on the event
loop, on every change (fine for the few transactional ids of a test; Kafka appends to
the replicated ``__transaction_state`` log instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reference_broker.txn.coordinator import (
    EndPlan,
    InitResult,
    StagedOffset,
    TopicPartition,
    TxnCoordinator,
    TxnError,
)

log = logging.getLogger(__name__)

STATE_FILE = "txn-state.json"
RETRY_MS = 1000


class TxnService:
    """One coordinator, its state file, and the partitions and groups it writes to.

    ``topics`` is the broker's `TopicStore`; ``groups`` returns the group coordinator
    (`GroupService`, read when offsets are committed); ``clock_ms`` is the broker's
    clock (used only to timestamp what the requests change)."""

    def __init__(self, coordinator: TxnCoordinator, path: Path, topics: Any,
                 groups: Callable[[], Any], clock_ms: Callable[[], int]) -> None:
        self.coordinator = coordinator
        self.path = path
        self.topics = topics
        self._groups = groups
        self._clock_ms = clock_ms
        self._running: dict[str, asyncio.Task[bool]] = {}
        self._recovered = False
        self._dangling_left = False  # a busy partition's open transaction to close
        self._retry_at_ms = 0

    @classmethod
    def open(cls, data_dir: Path, *, max_timeout_ms: int, topics: Any,
             groups: Callable[[], Any], clock_ms: Callable[[], int]) -> TxnService:
        """Load ``txn-state.json`` (absent: no transactional ids yet); raises ValueError
        with the file's name if it is unreadable."""
        path = data_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        try:
            coord = TxnCoordinator.from_json(data, max_timeout_ms)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if len(coord):
            log.info("transaction coordinator loaded %d transactional ids", len(coord))
        return cls(coord, path, topics, groups, clock_ms)

    # -- requests ----------------------------------------------------------------------

    def check_produce(self, producer_id: int, epoch: int, tp: TopicPartition) -> TxnError:
        return self.coordinator.check_produce(producer_id, epoch, tp)

    def unstable_offsets(self, group_id: str) -> set[TopicPartition]:
        """For OffsetFetch with require_stable (`TxnCoordinator.unstable_offsets`)."""
        return self.coordinator.unstable_offsets(group_id)

    async def init_producer_id(self, transactional_id: str, timeout_ms: int,
                               producer_id: int, epoch: int) -> InitResult:
        res = self.coordinator.init_producer_id(
            transactional_id, timeout_ms, self._clock_ms(), self.topics.allocate_producer_id,
            producer_id=producer_id, epoch=epoch)
        if res.abort is not None:
            # An ongoing transaction was fenced: abort it, then ask again (the request
            # was checked; the second bump hands out an epoch the fence did not use).
            if not self._persisted():
                return InitResult(TxnError.COORDINATOR_NOT_AVAILABLE)
            if not await self._end(res.abort):
                return InitResult(TxnError.CONCURRENT_TRANSACTIONS)
            res = self.coordinator.init_producer_id(
                transactional_id, timeout_ms, self._clock_ms(),
                self.topics.allocate_producer_id)
        if res.error:
            return res
        if not self._persisted():
            return InitResult(TxnError.COORDINATOR_NOT_AVAILABLE)
        return res

    async def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                             partitions: Iterable[TopicPartition]) -> TxnError:
        error = self.coordinator.add_partitions(transactional_id, producer_id, epoch,
                                                partitions, self._clock_ms())
        if not error and not self._persisted():
            return TxnError.COORDINATOR_NOT_AVAILABLE
        return error

    async def add_offsets(self, transactional_id: str, producer_id: int, epoch: int,
                          group_id: str) -> TxnError:
        error = self.coordinator.add_offsets(transactional_id, producer_id, epoch, group_id,
                                             self._clock_ms())
        if not error and not self._persisted():
            return TxnError.COORDINATOR_NOT_AVAILABLE
        return error

    async def stage_offsets(self, transactional_id: str, producer_id: int, epoch: int,
                            group_id: str, offsets: Iterable[StagedOffset]) -> TxnError:
        error = self.coordinator.stage_offsets(transactional_id, producer_id, epoch,
                                               group_id, offsets, self._clock_ms())
        if not error and not self._persisted():
            return TxnError.COORDINATOR_NOT_AVAILABLE
        return error

    async def end_txn(self, transactional_id: str, producer_id: int, epoch: int,
                      commit: bool) -> TxnError:
        error, plan = self.coordinator.end_txn(transactional_id, producer_id, epoch, commit,
                                               self._clock_ms())
        if error or plan is None:
            return error
        if not self._persisted() or not await self._end(plan):
            return TxnError.COORDINATOR_NOT_AVAILABLE
        return TxnError.NONE

    # -- time ------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Abort timed-out transactions; retry unfinished ends; after start-up, close
        what a crash left open (see the module docstring)."""
        if not self._recovered:
            self._recovered = True
            self._retry_at_ms = now_ms + RETRY_MS
            self._spawn_pending()
            self._dangling_left = self._close_dangling(now_ms)
        plans = self.coordinator.expire(now_ms, self.topics.allocate_producer_id)
        if plans:
            self._persist()
            for plan in plans:
                log.info("transaction of %r (producer %d) timed out: aborting with epoch %d",
                         plan.transactional_id, plan.producer_id, plan.epoch)
                self._start(plan)
        if now_ms >= self._retry_at_ms:
            self._retry_at_ms = now_ms + RETRY_MS
            self._spawn_pending()
            if self._dangling_left:
                self._dangling_left = self._close_dangling(now_ms)

    async def aclose(self) -> None:
        """Let the ends in flight finish (they are short: appends and fsyncs)."""
        tasks = list(self._running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    # -- internals -------------------------------------------------------------------

    def _spawn_pending(self) -> None:
        for plan in self.coordinator.pending():
            if plan.transactional_id not in self._running:
                log.info("finishing the %s of %r (producer %d) left unfinished",
                         "commit" if plan.commit else "abort", plan.transactional_id,
                         plan.producer_id)
                self._start(plan)

    def _close_dangling(self, now_ms: int) -> bool:
        """Write the markers `resolve_open` asks for; True if a partition was busy (an
        fsync running: nothing may append) and must be visited again."""
        left = False
        for p in self.topics.all_partitions():
            if p.replica is not None:
                continue
            for pid in list(p.txns.ongoing):
                commit = self.coordinator.resolve_open(pid, (p.topic, p.index))
                if commit is None:
                    continue
                if p.busy:
                    left = True
                    continue
                entry = p.producers.entry(pid)
                epoch = entry.epoch if entry is not None else 0
                log.info("%s-%d: %s the open transaction of producer %d (first offset %d) "
                         "left by a crash", p.topic, p.index,
                         "committing" if commit else "aborting", pid, p.txns.ongoing[pid])
                try:
                    p.write_marker(pid, epoch, commit, now_ms)
                except Exception as exc:
                    log.error("%s-%d: cannot write a marker: %s", p.topic, p.index, exc)
                    left = True
        return left

    def _start(self, plan: EndPlan) -> asyncio.Task[bool]:
        task = self._running.get(plan.transactional_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._carry_out(plan))
            self._running[plan.transactional_id] = task
            tid = plan.transactional_id

            def forget(_: asyncio.Task[bool]) -> None:
                if self._running.get(tid) is task:
                    del self._running[tid]

            task.add_done_callback(forget)
        return task

    async def _end(self, plan: EndPlan) -> bool:
        # shielded: a client that goes away does not stop the markers half-way
        return await asyncio.shield(self._start(plan))

    async def _carry_out(self, plan: EndPlan) -> bool:
        try:
            await self._write_markers(plan)
            if plan.commit and plan.offsets:
                await self._commit_offsets(plan)
            self.coordinator.complete(plan.transactional_id, self._clock_ms())
            self._persist()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("ending the transaction of %r failed (retried): %s",
                      plan.transactional_id, exc)
            return False

    async def _write_markers(self, plan: EndPlan) -> None:
        written = []
        for topic, index in plan.partitions:
            p = self.topics.partition(topic, index)
            if p is not None and p.busy:
                await p.idle()
                p = self.topics.partition(topic, index)
            if p is None:
                continue  # deleted: nothing to end there
            p.write_marker(plan.producer_id, plan.epoch, plan.commit, self._clock_ms())
            written.append(p)
        for p in written:
            if p.sync_always:
                await p.sync(self._clock_ms())

    async def _commit_offsets(self, plan: EndPlan) -> None:
        from reference_broker.groups import CommitOffset, OffsetCommit

        groups = self._groups()
        if groups is None:
            raise RuntimeError("no group coordinator to commit the transaction's offsets")
        by_group: dict[str, list[StagedOffset]] = {}
        for group_id, o in plan.offsets:
            by_group.setdefault(group_id, []).append(o)
        for group_id, offsets in by_group.items():
            result = await groups.commit(OffsetCommit(
                group_id=group_id, transactional=True,
                offsets=tuple(CommitOffset(topic=o.topic, partition=o.partition,
                                           offset=o.offset, leader_epoch=o.leader_epoch,
                                           metadata=o.metadata) for o in offsets)))
            refused = [(pe.topic, pe.partition, int(pe.error))
                       for pe in result.partitions if pe.error]
            if refused:  # the end stays PREPARE_COMMIT and is retried: never lose them
                raise RuntimeError(f"group {group_id} refused the transaction's offsets "
                                   f"(topic, partition, error): {refused}")

    def _persisted(self) -> bool:
        """`_persist` for a request: False (logged) if the state file cannot be written;
        the request then fails retriably (the change stays in memory and is written with
        the next successful one)."""
        try:
            self._persist()
        except OSError as exc:
            log.error("cannot write %s: %s", self.path, exc)
            return False
        return True

    def _persist(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.coordinator.to_json(), f, separators=(",", ":"), sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
