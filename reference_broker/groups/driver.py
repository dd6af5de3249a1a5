"""The asyncio driver of the group coordinator: futures, the clock, the log.

The coordinator is sans-I/O; this is the one place that gives it I/O. Each request
gets a handle and a future; the coordinator's Outputs are applied in order: records
are written to `__consumer_offsets` first (durable on return under the `always` flush
policy), then the replies resolve their futures. So an OffsetCommit is acknowledged
only after its record is written, and a SyncGroup only after the assignment is.

A handler whose connection closes while it waits (its task is cancelled) leaves a
member waiting in JoinGroup/SyncGroup, exactly as in Kafka (a muted channel hides the
disconnect); the late reply is dropped and the member expires by its timeouts.
If a write fails, the requests of that Output fail with the exception (the server
closes their connections: the outcome is unknown to the clients, never a false ack).
On start, a log mostly made of dead records (superseded commits) is rewritten as a
snapshot of the live state (`GroupStore.rewrite`), so replay time stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from ._coordinator import GroupConfig, GroupCoordinator, Output
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
    Result,
    SyncGroup,
    SyncResult,
)
from .store import GroupStore

log = logging.getLogger(__name__)

R = TypeVar("R")
# Rewrite __consumer_offsets on start when it holds this many records and at least
# COMPACT_RATIO times more than the live state needs.
COMPACT_MIN_RECORDS = 1000
COMPACT_RATIO = 2


class GroupService:
    """One broker's group coordinator with its log; `ctx.groups` in the handlers."""

    def __init__(self, coordinator: GroupCoordinator, store: GroupStore,
                 clock_ms: Callable[[], int]) -> None:
        self.coordinator = coordinator
        self.store = store
        self._clock_ms = clock_ms
        self._next_handle = 0
        self._waiting: dict[int, asyncio.Future[Result]] = {}

    @classmethod
    def open(cls, data_dir: Path, config: GroupConfig, *, clock_ms: Callable[[], int],
             flush: str = "always", flush_interval_ms: int = 1000,
             incarnation: str | None = None) -> GroupService:
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
        return cls(coord, store, clock_ms)

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

    def fetch_offsets(self, req: OffsetFetch) -> OffsetFetchResult:
        return self.coordinator.fetch_offsets(req)

    def describe(self, group_ids: Iterable[str]) -> tuple[GroupDescription, ...]:
        return self.coordinator.describe(group_ids)

    def list_groups(self, states: Iterable[str] | None = None,
                    types: Iterable[str] | None = None) -> ListGroupsResult:
        return self.coordinator.list_groups(states, types)

    # ----- lifetime -------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Called by the server's housekeeping task (every ~100 ms)."""
        self._apply(self.coordinator.tick(now_ms), now_ms)
        self.store.maybe_flush(now_ms)

    def close(self) -> None:
        now = self._clock_ms()
        self._apply(self.coordinator.shutdown(), now)
        self.store.close()

    # ----- internals ------------------------------------------------------------------

    async def _submit(self, step: Callable[[int, R, int], Output], req: R) -> Result:
        self._next_handle += 1
        handle = self._next_handle
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting[handle] = fut
        now = self._clock_ms()
        self._apply(step(handle, req, now), now)
        try:
            return await fut
        finally:
            self._waiting.pop(handle, None)

    def _apply(self, out: Output, now_ms: int) -> None:
        try:
            self.store.write(out.records, now_ms)
        except Exception as exc:
            log.exception("writing %d group records failed", len(out.records))
            for reply in out.replies:
                fut = self._waiting.pop(reply.handle, None)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
            return
        for reply in out.replies:
            fut = self._waiting.pop(reply.handle, None)
            if fut is not None and not fut.done():
                fut.set_result(reply.result)
