"""The asyncio driver of the group coordinator: futures, the clock, the log.

The coordinator is sans-I/O; this is the one place that gives it I/O. Each request
gets a handle and a future, and goes into a queue that one pump drains in batches:
1. read-only requests (OffsetFetch, DescribeGroups, ListGroups) first: they see only
   durable state;
2. then the mutations, in arrival order; their Outputs' records are appended to
   `__consumer_offsets` as they come;
3. under the `always` flush policy, one fsync in a worker thread covers the whole batch
   (group commit) while the event loop keeps serving other APIs; requests arriving
   meanwhile wait for the next batch;
4. then the batch's replies resolve their futures.
So an OffsetCommit (or a stored assignment) is acknowledged only once written, no
reply ever reveals state that is not durable yet, and a slow fsync never blocks the
loop. Under `interval` and `never` step 3 is skipped (the tick flushes `interval`).

A handler whose connection closes while it waits (its task is cancelled) leaves a
member waiting in JoinGroup/SyncGroup, exactly as in Kafka (a muted channel hides the
disconnect); the late reply is dropped and the member expires by its timeouts.
If a write or fsync fails, the requests of that batch fail with the exception (the
server closes their connections: the outcome is unknown to the clients, never a false
ack). On start, a log mostly made of dead records (superseded commits) is rewritten
as a snapshot of the live state (`GroupStore.rewrite`), so replay time stays bounded.

The log is any `GroupLog`: the local `GroupStore` on a single node, a Raft-replicated
`__consumer_offsets` partition in a cluster (`reference_broker.cluster.groups`), whose
`settle` waits for the Raft commit. A log that can no longer vouch for this
coordinator's state (leadership lost, commit outcome unknown) raises `Deposed`: the
batch fails with it and the service retires (`retire`): it takes no more requests,
and the replicated log is replayed by whichever node coordinates next.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from ._coordinator import GroupConfig, GroupCoordinator, Output
from ._errors import ErrorCode
from ._messages import (
    DeleteGroups,
    DeleteGroupsResult,
    GroupDescription,
    Heartbeat,
    HeartbeatResult,
    JoinGroup,
    JoinResult,
    LeaveGroup,
    LeaveResult,
    ListGroupsResult,
    OffsetCommit,
    OffsetCommitResult,
    OffsetFetch,
    OffsetFetchResult,
    Reply,
    Result,
    SyncGroup,
    SyncResult,
)
from ._records import GroupLogRecord, GroupRecord
from ._state import PLANTED_BUGS
from .store import GroupStore

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")
# Rewrite __consumer_offsets on start when it holds this many records and at least
# COMPACT_RATIO times more than the live state needs.
COMPACT_MIN_RECORDS = 1000
COMPACT_RATIO = 2


class Deposed(Exception):
    """The log cannot vouch for this coordinator any more; `error` is what the requests
    concerned are answered (NOT_COORDINATOR: certainly not stored; REQUEST_TIMED_OUT:
    maybe stored)."""

    def __init__(self, error: ErrorCode, why: str) -> None:
        super().__init__(why)
        self.error = error


class GroupLog(Protocol):
    """Where a `GroupService` writes its coordinator's records."""

    @property
    def sync_on_write(self) -> bool:
        """Whether `settle` must be awaited before acknowledging what was written."""
        ...

    def write(self, recs: Sequence[GroupLogRecord], now_ms: int) -> None: ...

    async def settle(self) -> None:
        """Return once everything written is durable; raise if it may never be."""

    def maybe_flush(self, now_ms: int) -> None: ...

    def close(self) -> None: ...


def config_from_broker(cfg: Any) -> GroupConfig:
    """The coordinator's settings from a `BrokerConfig` (Kafka names; planted bugs from
    ``logtrial.bugs`` and ``cfg.bugs``; names that are not the coordinator's belong to
    other parts of the broker)."""
    raw = getattr(cfg, "raw", {}) or {}

    def raw_int(key: str, default: int) -> int:
        try:
            return int(raw.get(key, default))
        except (TypeError, ValueError):
            log.warning("%s=%r is not an integer; using %d", key, raw.get(key), default)
            return default

    named = {b.strip() for b in str(raw.get("logtrial.bugs", "")).split(",") if b.strip()}
    named |= set(getattr(cfg, "bugs", ()) or ())
    return GroupConfig(
        bugs=frozenset(named) & PLANTED_BUGS.keys(),
        initial_rebalance_delay_ms=cfg.group_initial_rebalance_delay_ms,
        min_session_timeout_ms=cfg.group_min_session_timeout_ms,
        max_session_timeout_ms=cfg.group_max_session_timeout_ms,
        max_size=raw_int("group.max.size", 2**31 - 1),
        offset_metadata_max_bytes=raw_int("offset.metadata.max.bytes", 4096),
        offsets_retention_ms=cfg.offsets_retention_minutes * 60000,
        offsets_retention_check_interval_ms=raw_int("offsets.retention.check.interval.ms",
                                                    600000),
    )


L = TypeVar("L", bound=GroupLog)


class GroupService(Generic[L]):
    """One coordinator with its log; `ctx.groups` in the handlers on a single node."""

    def __init__(self, coordinator: GroupCoordinator, store: L,
                 clock_ms: Callable[[], int]) -> None:
        self.coordinator = coordinator
        self.store: L = store
        self._clock_ms = clock_ms
        self._next_handle = 0
        self._waiting: dict[int, asyncio.Future[Result]] = {}
        self._reads: deque[tuple[asyncio.Future[Any], Callable[[], None]]] = deque()
        self._writes: deque[tuple[int | None, Callable[[int], Output]]] = deque()
        self._busy = False  # an fsync is in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self.retired: Deposed | None = None

    @classmethod
    def open(cls, data_dir: Path, config: GroupConfig, *, clock_ms: Callable[[], int],
             flush: str = "always", flush_interval_ms: int = 1000,
             incarnation: str | None = None) -> GroupService[GroupStore]:
        """Open `<data_dir>/__consumer_offsets-0` and replay it into a new coordinator."""
        now = clock_ms()
        store = GroupStore.open(data_dir, flush=flush, flush_interval_ms=flush_interval_ms,
                                now_ms=now)
        coord = GroupCoordinator(config, incarnation=incarnation or uuid.uuid4().hex[:12])
        coord.begin_loading()
        n = 0
        for record in store.replay():
            coord.replay(record)
            n += 1
        coord.finish_loading(clock_ms())
        log.info("group coordinator loaded %d records, %d groups", n, len(coord.group_ids()))
        live = coord.snapshot()
        if n > max(COMPACT_MIN_RECORDS, COMPACT_RATIO * len(live)):
            store.rewrite(live, clock_ms())
            log.info("compacted %s: %d records -> %d", store.directory, n, len(live))
        return GroupService(coord, store, clock_ms)

    # ----- requests that may wait -----------------------------------------------------

    async def join(self, req: JoinGroup) -> JoinResult:
        result = await self._submit(self.coordinator.join, req)
        assert isinstance(result, JoinResult)
        return result

    async def sync(self, req: SyncGroup) -> SyncResult:
        result = await self._submit(self.coordinator.sync, req)
        assert isinstance(result, SyncResult)
        return result

    async def heartbeat(self, req: Heartbeat) -> HeartbeatResult:
        result = await self._submit(self.coordinator.heartbeat, req)
        assert isinstance(result, HeartbeatResult)
        return result

    async def leave(self, req: LeaveGroup) -> LeaveResult:
        result = await self._submit(self.coordinator.leave, req)
        assert isinstance(result, LeaveResult)
        return result

    async def commit(self, req: OffsetCommit) -> OffsetCommitResult:
        result = await self._submit(self.coordinator.commit, req)
        assert isinstance(result, OffsetCommitResult)
        return result

    async def delete_groups(self, req: DeleteGroups) -> DeleteGroupsResult:
        result = await self._submit(self.coordinator.delete_groups, req)
        assert isinstance(result, DeleteGroupsResult)
        return result

    # ----- read-only requests ---------------------------------------------------------

    async def fetch_offsets(self, req: OffsetFetch) -> OffsetFetchResult:
        return await self._read(lambda: self.coordinator.fetch_offsets(req))

    async def describe(self, group_ids: Iterable[str]) -> tuple[GroupDescription, ...]:
        ids = list(group_ids)
        return await self._read(lambda: self.coordinator.describe(ids))

    async def list_groups(self, states: Iterable[str] | None = None,
                          types: Iterable[str] | None = None) -> ListGroupsResult:
        return await self._read(lambda: self.coordinator.list_groups(states, types))

    # ----- lifetime -------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Called by the server's housekeeping task (every ~100 ms)."""
        self._writes.append((None, self.coordinator.tick))
        self._kick()
        if not self._busy:
            self.store.maybe_flush(now_ms)

    async def aclose(self) -> None:
        """Wait for the fsync in flight, answer waiting joins and syncs, close the log."""
        while self._busy:
            await asyncio.sleep(0.005)
        self.close()

    def close(self) -> None:
        """`aclose` for when no fsync can be in flight (no event loop running)."""
        self._deliver(self.coordinator.shutdown().replies)
        self.store.close()

    def retire(self, why: Deposed) -> None:
        """Stop coordinating: requests not yet written fail with ``why``; members waiting
        in JoinGroup/SyncGroup get COORDINATOR_NOT_AVAILABLE (they rediscover); a batch
        awaiting `settle` still gets its true outcome. The log stays open (its owner
        closes it)."""
        if self.retired is not None:
            return
        self.retired = why
        self._deliver(self.coordinator.shutdown().replies)
        reads, self._reads = self._reads, deque()
        writes, self._writes = self._writes, deque()
        for fut, _ in reads:
            if not fut.done():
                fut.set_exception(why)
        for handle, _ in writes:
            wfut = self._waiting.pop(handle, None) if handle is not None else None
            if wfut is not None and not wfut.done():
                wfut.set_exception(why)

    # ----- internals ------------------------------------------------------------------

    async def _submit(self, step: Callable[[int, R, int], Output], req: R) -> Result:
        if self.retired is not None:
            raise self.retired
        self._next_handle += 1
        handle = self._next_handle
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting[handle] = fut
        self._writes.append((handle, lambda now: step(handle, req, now)))
        self._kick()
        try:
            return await fut
        finally:
            self._waiting.pop(handle, None)

    async def _read(self, query: Callable[[], T]) -> T:
        if self.retired is not None:
            raise self.retired
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def run() -> None:
            if fut.done():
                return
            try:
                fut.set_result(query())
            except Exception as exc:  # a coordinator bug: fail this request only
                log.exception("group coordinator query failed")
                fut.set_exception(exc)

        self._reads.append((fut, run))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if not self._busy:
            self._pump()

    def _pump(self) -> None:
        while self._reads or self._writes:
            reads, self._reads = self._reads, deque()
            writes, self._writes = self._writes, deque()
            for _, run in reads:
                run()
            now = self._clock_ms()
            outs = []
            for handle, step in writes:
                try:
                    outs.append(step(now))
                except Exception as exc:  # a coordinator bug: fail this request only
                    log.exception("group coordinator step failed")
                    fut = self._waiting.pop(handle, None) if handle is not None else None
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
            records = [r for out in outs for r in out.records]
            replies = [r for out in outs for r in out.replies]
            for rec in records:
                if isinstance(rec, GroupRecord):
                    log.info("group %s generation %d: %d members, protocol %s, leader %s",
                             rec.group_id, rec.generation, len(rec.members), rec.protocol,
                             rec.leader)
            try:
                self.store.write(records, now)
            except Deposed as exc:
                self._fail(replies, exc)
                self.retire(exc)
                return
            except Exception as exc:
                log.exception("writing %d group records failed", len(records))
                self._fail(replies, exc)
                continue
            if records and self.store.sync_on_write:
                self._busy = True
                task = asyncio.get_running_loop().create_task(self._sync_then_deliver(replies))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            self._deliver(replies)

    async def _sync_then_deliver(self, replies: list[Reply]) -> None:
        try:
            await self.store.settle()
        except Deposed as exc:
            self._fail(replies, exc)
            self.retire(exc)
        except Exception as exc:
            log.exception("fsync of __consumer_offsets failed")
            self._fail(replies, exc)
        else:
            self._deliver(replies)
        finally:
            self._busy = False
        self._pump()

    def _deliver(self, replies: Iterable[Reply]) -> None:
        for reply in replies:
            fut = self._waiting.pop(reply.handle, None)
            if fut is not None and not fut.done():
                fut.set_result(reply.result)

    def _fail(self, replies: Iterable[Reply], exc: BaseException) -> None:
        for reply in replies:
            fut = self._waiting.pop(reply.handle, None)
            if fut is not None and not fut.done():
                fut.set_exception(exc)
