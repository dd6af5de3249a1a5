"""`GroupService` over a log that may lose its claim (a Raft-replicated
`__consumer_offsets`): replies wait for `settle`, and `Deposed` retires the service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from reference_broker.groups import (
    CommitOffset,
    ErrorCode,
    GroupCoordinator,
    GroupLogRecord,
    OffsetCommit,
    OffsetFetch,
)
from reference_broker.groups.driver import Deposed, GroupService

from ._sim import FAST


class HeldLog:
    """A `GroupLog` whose writes settle only when the test decides, as a Raft entry
    commits (or is replaced) when the quorum decides."""

    sync_on_write = True

    def __init__(self) -> None:
        self.written: list[list[GroupLogRecord]] = []
        self.outcome: asyncio.Future[None] | None = None

    def write(self, recs: Sequence[GroupLogRecord], now_ms: int) -> None:
        self.written.append(list(recs))
        self.outcome = asyncio.get_running_loop().create_future()

    async def settle(self) -> None:
        assert self.outcome is not None
        await self.outcome

    def maybe_flush(self, now_ms: int) -> None:
        pass

    def close(self) -> None:
        pass


def _commit(offset: int) -> OffsetCommit:
    return OffsetCommit(group_id="g", offsets=(CommitOffset(topic="t", partition=0,
                                                            offset=offset),))


def _service() -> tuple[GroupService, HeldLog]:
    held = HeldLog()
    return GroupService(GroupCoordinator(FAST), held, clock_ms=lambda: 1000), held


def test_a_commit_is_answered_only_once_its_write_settles() -> None:
    async def scenario() -> None:
        svc, held = _service()
        task = asyncio.ensure_future(svc.commit(_commit(5)))
        await asyncio.sleep(0.01)
        assert not task.done() and len(held.written) == 1
        assert held.outcome is not None
        held.outcome.set_result(None)
        result = await task
        assert [p.error for p in result.partitions] == [ErrorCode.NONE]
        fetched = await svc.fetch_offsets(OffsetFetch(group_id="g"))
        assert [o.offset for o in fetched.offsets] == [5]

    asyncio.run(scenario())


def test_a_deposed_write_fails_its_batch_and_everything_queued_behind_it() -> None:
    async def scenario() -> None:
        svc, held = _service()
        first = asyncio.ensure_future(svc.commit(_commit(5)))
        await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(svc.commit(_commit(6))),
                  asyncio.ensure_future(svc.fetch_offsets(OffsetFetch(group_id="g")))]
        await asyncio.sleep(0.01)
        assert held.outcome is not None
        held.outcome.set_exception(Deposed(ErrorCode.NOT_COORDINATOR, "replaced"))
        for t in (first, *queued):
            with pytest.raises(Deposed) as err:
                await t
            assert err.value.error == ErrorCode.NOT_COORDINATOR
        assert len(held.written) == 1  # nothing queued was written after the loss
        assert svc.retired is not None
        with pytest.raises(Deposed):
            await svc.fetch_offsets(OffsetFetch(group_id="g"))

    asyncio.run(scenario())


def test_retiring_keeps_the_true_outcome_of_a_write_in_flight() -> None:
    async def scenario() -> None:
        svc, held = _service()
        first = asyncio.ensure_future(svc.commit(_commit(5)))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(svc.commit(_commit(6)))
        await asyncio.sleep(0.01)
        svc.retire(Deposed(ErrorCode.NOT_COORDINATOR, "leadership lost"))
        with pytest.raises(Deposed):
            await queued
        assert held.outcome is not None
        held.outcome.set_result(None)  # the entry committed after all: a true success
        result = await first
        assert [p.error for p in result.partitions] == [ErrorCode.NONE]
        assert len(held.written) == 1

    asyncio.run(scenario())
