"""TxnService over real partitions in a temp data dir: the crash windows a SIGKILL test
cannot hit on purpose (a decision persisted, its markers not written; a partition's
transaction its coordinator forgot) and the timeout. The group coordinator is a fake
that records commits (the only fake: this is a unit test of the service)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reference_broker import records
from reference_broker.config import broker_config
from reference_broker.groups import OffsetCommit, OffsetCommitResult
from reference_broker.topics import AppendResult, TopicStore
from reference_broker.txn import StagedOffset, TxnError, TxnState
from reference_broker.txn.service import TxnService

T0 = 1_000_000


class Groups:
    def __init__(self) -> None:
        self.commits: list[OffsetCommit] = []

    async def commit(self, req: OffsetCommit) -> OffsetCommitResult:
        self.commits.append(req)
        return OffsetCommitResult(partitions=())


def open_node(d: Path, groups: Groups, now_ms: int = T0) -> tuple[TopicStore, TxnService]:
    store = TopicStore.open(d, broker_config({}), now_ms)
    svc = TxnService.open(d, max_timeout_ms=900000, topics=store, groups=lambda: groups,
                          clock_ms=lambda: now_ms)
    return store, svc


def send(store: TopicStore, svc: TxnService, pid: int, epoch: int, seq: int) -> AppendResult:
    batch = records.build_batch([records.Record(None, b"v", T0)], producer_id=pid,
                                producer_epoch=epoch, base_sequence=seq, transactional=True)
    p = store.partition("t", 0)
    assert p is not None

    def gate(producer_id: int, e: int) -> AppendResult | None:
        err = svc.check_produce(producer_id, e, ("t", 0))
        return None if err == TxnError.NONE else AppendResult(int(err))

    return p.append(batch, T0, gate)


async def settle(svc: TxnService) -> None:
    await svc.aclose()


def test_a_persisted_commit_is_finished_after_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        groups = Groups()
        store, svc = open_node(tmp_path, groups)
        store.create("t", 1, {}, T0)
        res = await svc.init_producer_id("x", 60000, -1, -1)
        pid = res.producer_id
        assert await svc.add_partitions("x", pid, 0, [("t", 0)]) == TxnError.NONE
        assert send(store, svc, pid, 0, 0).error_code == 0
        assert await svc.add_offsets("x", pid, 0, "g") == TxnError.NONE
        assert await svc.stage_offsets("x", pid, 0, "g", [StagedOffset("in", 0, 42)]) == 0
        # the decision is persisted, then the broker dies before any marker
        error, plan = svc.coordinator.end_txn("x", pid, 0, True, T0)
        assert error == TxnError.NONE and plan is not None
        svc._persist()
        p = store.partition("t", 0)
        assert p is not None
        p.sync_now()
        store.close()

        store, svc = open_node(tmp_path, groups)
        p = store.partition("t", 0)
        assert p is not None
        assert p.txns.ongoing == {pid: 0} and p.last_stable_offset == 0  # still open
        assert svc.coordinator.get("x").state == TxnState.PREPARE_COMMIT  # type: ignore[union-attr]
        svc.tick(T0 + 1)
        await settle(svc)
        assert p.txns.ongoing == {} and p.txns.aborted == []
        assert p.last_stable_offset == p.high_watermark == 2
        assert svc.coordinator.get("x").state == TxnState.COMPLETE_COMMIT  # type: ignore[union-attr]
        assert [(c.group_id, c.transactional, [o.offset for o in c.offsets])
                for c in groups.commits] == [("g", True, [42])]
        store.close()
        # and the completion itself was persisted
        store, svc = open_node(tmp_path, groups)
        assert svc.coordinator.get("x").state == TxnState.COMPLETE_COMMIT  # type: ignore[union-attr]
        store.close()

    asyncio.run(main())


def test_a_transaction_the_coordinator_never_knew_is_aborted(tmp_path: Path) -> None:
    async def main() -> None:
        store, svc = open_node(tmp_path, Groups())
        store.create("t", 1, {}, T0)
        res = await svc.init_producer_id("x", 60000, -1, -1)
        await svc.add_partitions("x", res.producer_id, 0, [("t", 0)])
        assert send(store, svc, res.producer_id, 0, 0).error_code == 0
        p = store.partition("t", 0)
        assert p is not None
        p.sync_now()
        store.close()
        (tmp_path / "txn-state.json").unlink()  # the coordinator's state is lost

        store, svc = open_node(tmp_path, Groups())
        p = store.partition("t", 0)
        assert p is not None and p.last_stable_offset == 0
        svc.tick(T0 + 1)
        await settle(svc)
        assert p.txns.ongoing == {} and [(a.first_offset, a.last_offset)
                                         for a in p.txns.aborted] == [(0, 1)]
        store.close()

    asyncio.run(main())


def test_timeout_aborts_and_fences_in_the_partition_too(tmp_path: Path) -> None:
    async def main() -> None:
        store, svc = open_node(tmp_path, Groups())
        store.create("t", 1, {}, T0)
        res = await svc.init_producer_id("x", 5000, -1, -1)
        pid = res.producer_id
        await svc.add_partitions("x", pid, 0, [("t", 0)])
        assert send(store, svc, pid, 0, 0).error_code == 0
        svc.tick(T0 + 5000)
        await settle(svc)
        p = store.partition("t", 0)
        assert p is not None and p.txns.ongoing == {pid: 0}
        svc.tick(T0 + 5001)
        await settle(svc)
        assert p.txns.ongoing == {} and len(p.txns.aborted) == 1
        entry = p.producers.entry(pid)
        assert entry is not None and entry.epoch == 1
        assert send(store, svc, pid, 0, 1).error_code == TxnError.INVALID_PRODUCER_EPOCH
        assert await svc.end_txn("x", pid, 0, True) == TxnError.PRODUCER_FENCED
        store.close()

    asyncio.run(main())


class RefusingGroups(Groups):
    """A group coordinator that refuses the first ``n`` commits (shutting down)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.refuse = n

    async def commit(self, req: OffsetCommit) -> OffsetCommitResult:
        from reference_broker.groups import ErrorCode, PartitionError

        if self.refuse:
            self.refuse -= 1
            return OffsetCommitResult(partitions=tuple(
                PartitionError(topic=o.topic, partition=o.partition,
                               error=ErrorCode.COORDINATOR_NOT_AVAILABLE)
                for o in req.offsets))
        return await super().commit(req)


def test_offsets_the_group_refuses_keep_the_commit_unfinished(tmp_path: Path) -> None:
    # A committed transaction must carry its offsets: if the group coordinator refuses
    # them (it is shutting down), the end stays PrepareCommit and is retried, instead
    # of completing with the offsets lost.
    async def main() -> None:
        groups = RefusingGroups(1)
        store, svc = open_node(tmp_path, groups)
        store.create("t", 1, {}, T0)
        res = await svc.init_producer_id("x", 60000, -1, -1)
        pid = res.producer_id
        assert await svc.add_offsets("x", pid, 0, "g") == TxnError.NONE
        assert await svc.stage_offsets("x", pid, 0, "g", [StagedOffset("in", 0, 42)]) == 0
        assert await svc.end_txn("x", pid, 0, True) == TxnError.COORDINATOR_NOT_AVAILABLE
        assert svc.coordinator.get("x").state == TxnState.PREPARE_COMMIT  # type: ignore[union-attr]
        svc.tick(T0)  # first tick: recovery retries the unfinished end
        await settle(svc)
        assert svc.coordinator.get("x").state == TxnState.COMPLETE_COMMIT  # type: ignore[union-attr]
        assert [[o.offset for o in c.offsets] for c in groups.commits] == [[42]]
        assert await svc.end_txn("x", pid, 0, True) == TxnError.NONE  # the client's retry
        store.close()

    asyncio.run(main())


def test_a_dangling_transaction_is_closed_even_if_its_log_was_busy_at_start(
        tmp_path: Path) -> None:
    # Recovery closes a partition's transaction the coordinator forgot; a partition
    # whose fsync runs at that moment (clients write right after a restart) must be
    # closed later, not skipped for good (its LSO would never move again).
    async def main() -> None:
        store, svc = open_node(tmp_path, Groups())
        store.create("t", 1, {}, T0)
        res = await svc.init_producer_id("x", 60000, -1, -1)
        await svc.add_partitions("x", res.producer_id, 0, [("t", 0)])
        assert send(store, svc, res.producer_id, 0, 0).error_code == 0
        p = store.partition("t", 0)
        assert p is not None
        p.sync_now()
        store.close()
        (tmp_path / "txn-state.json").unlink()  # the coordinator's state is lost

        store, svc = open_node(tmp_path, Groups())
        p = store.partition("t", 0)
        assert p is not None and p.last_stable_offset == 0
        assert p.append(records.build_batch([records.Record(None, b"plain", T0)]),
                        T0).error_code == 0
        flushing = asyncio.ensure_future(p.sync(T0))
        await asyncio.sleep(0)
        assert p.busy  # an fsync runs in a worker thread
        svc.tick(T0 + 1)
        await flushing
        await settle(svc)
        for t in range(2, 5):
            svc.tick(T0 + t * 1000)
            await settle(svc)
        assert p.txns.ongoing == {} and p.last_stable_offset == p.high_watermark
        store.close()

    asyncio.run(main())
