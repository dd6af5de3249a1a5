"""`__consumer_offsets` persistence: encoding, replay after restart, torn tails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reference_broker.groups import (
    CommitOffset,
    ErrorCode,
    GroupLogRecord,
    GroupRecord,
    GroupTombstone,
    MemberRecord,
    OffsetCommit,
    OffsetFetch,
    OffsetRecord,
    OffsetTombstone,
    RecordFormatError,
)
from reference_broker.groups._records import FORMAT_VERSION, decode_record, encode_record
from reference_broker.groups.driver import GroupService
from reference_broker.groups.store import PARTITION_DIR, GroupStore

from ._sim import FAST

RECORDS: list[GroupLogRecord] = [
    OffsetRecord(group_id="g", topic="t", partition=0, offset=5, leader_epoch=2,
                 metadata=None, commit_timestamp_ms=7),
    OffsetTombstone(group_id="g", topic="t", partition=0),
    GroupRecord(group_id="g", generation=3, protocol_type="consumer", protocol="range",
                leader="m1", members=(MemberRecord(
                    member_id="m1", group_instance_id=None, client_id="c",
                    client_host="/h", rebalance_timeout_ms=1, session_timeout_ms=2,
                    subscription=b"\x00sub", assignment=b"\x01asg"),)),
    GroupTombstone(group_id="g"),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_record_round_trip(record: GroupLogRecord) -> None:
    key, value = encode_record(record)
    assert value[0] == FORMAT_VERSION
    assert key.startswith(b"offset/g" if "Offset" in type(record).__name__ else b"group/g")
    assert decode_record(value) == record


def test_unknown_format_version_is_refused_with_a_message() -> None:
    _, value = encode_record(RECORDS[0])
    with pytest.raises(RecordFormatError, match="version 9"):
        decode_record(bytes([9]) + value[1:])
    with pytest.raises(RecordFormatError, match="corrupt"):
        decode_record(bytes([FORMAT_VERSION]) + b"\xc1garbage")


def test_store_replays_in_order_across_reopen(tmp_path: Path) -> None:
    store = GroupStore.open(tmp_path, flush="always")
    store.write(RECORDS[:2], now_ms=1)
    store.write(RECORDS[2:], now_ms=2)
    store.write([], now_ms=3)
    assert store.end_offset == 4
    store.close()
    again = GroupStore.open(tmp_path, flush="always")
    assert list(again.replay()) == RECORDS
    again.close()


def test_torn_tail_loses_only_the_last_write(tmp_path: Path) -> None:
    store = GroupStore.open(tmp_path, flush="always")
    store.write(RECORDS[:1], now_ms=1)
    store.write(RECORDS[2:3], now_ms=2)
    store.close()
    (segment,) = (tmp_path / PARTITION_DIR).glob("*.log")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # a crash in the middle of the second batch
    again = GroupStore.open(tmp_path, flush="always")
    assert list(again.replay()) == RECORDS[:1]
    again.close()


def test_service_commits_survive_restart(tmp_path: Path) -> None:
    clock = [1000]

    async def first() -> None:
        svc = GroupService.open(tmp_path, FAST, clock_ms=lambda: clock[0], flush="always")
        res = await svc.commit(OffsetCommit(group_id="g", offsets=(
            CommitOffset(topic="t", partition=0, offset=11, metadata="m"),
            CommitOffset(topic="t", partition=1, offset=22))))
        assert [p.error for p in res.partitions] == [ErrorCode.NONE, ErrorCode.NONE]
        res = await svc.commit(OffsetCommit(group_id="g", offsets=(
            CommitOffset(topic="t", partition=0, offset=12),)))
        svc.close()

    asyncio.run(first())
    clock[0] = 5000
    svc = GroupService.open(tmp_path, FAST, clock_ms=lambda: clock[0], flush="always")
    got = asyncio.run(svc.fetch_offsets(OffsetFetch(group_id="g")))
    assert [(o.partition, o.offset, o.metadata) for o in got.offsets] == [
        (0, 12, ""), (1, 22, "")]
    svc.close()


def _many_commits(tmp_path: Path, n: int) -> None:
    store = GroupStore.open(tmp_path, flush="never")
    template = RECORDS[2]
    assert isinstance(template, GroupRecord)
    group = GroupRecord(group_id="g", generation=2, protocol_type="consumer",
                        protocol="range", leader="m1", members=template.members)
    store.write([group], now_ms=0)
    for i in range(n):
        store.write([OffsetRecord(group_id="g", topic="t", partition=i % 3, offset=i)],
                    now_ms=i)
    store.close()


def test_open_compacts_a_log_of_mostly_dead_records(tmp_path: Path) -> None:
    _many_commits(tmp_path, 1500)
    svc = GroupService.open(tmp_path, FAST, clock_ms=lambda: 10, flush="always")
    assert svc.store.records_replayed == 1501
    svc.close()
    again = GroupService.open(tmp_path, FAST, clock_ms=lambda: 20, flush="always")
    assert again.store.records_replayed == 4  # the group and three offsets
    got = asyncio.run(again.fetch_offsets(OffsetFetch(group_id="g")))
    assert [(o.partition, o.offset) for o in got.offsets] == [(0, 1497), (1, 1498), (2, 1499)]
    assert again.coordinator.generation_of("g") == 2
    assert again.coordinator.members_of("g") == ["m1"]
    assert not list(tmp_path.glob("*.compacting")) and not list(tmp_path.glob("*.old"))
    again.close()


def test_interrupted_rewrite_is_finished_or_discarded(tmp_path: Path) -> None:
    live = tmp_path / PARTITION_DIR
    compacting = tmp_path / (PARTITION_DIR + ".compacting")
    # A complete snapshot whose swap was interrupted after the live dir was moved away.
    _many_commits(tmp_path, 3)
    live.rename(compacting)
    (tmp_path / (PARTITION_DIR + ".old")).mkdir()
    store = GroupStore.open(tmp_path)
    assert len(list(store.replay())) == 4
    store.close()
    assert not compacting.exists() and not (tmp_path / (PARTITION_DIR + ".old")).exists()
    # An unfinished snapshot next to the live dir is garbage.
    compacting.mkdir()
    (compacting / "00000000000000000000.log").write_bytes(b"junk")
    store = GroupStore.open(tmp_path)
    assert len(list(store.replay())) == 4
    store.close()
    assert not compacting.exists()


def test_driver_acknowledges_only_after_fsync_and_reads_wait_for_it(tmp_path: Path) -> None:
    import threading

    svc = GroupService.open(tmp_path, FAST, clock_ms=lambda: 1000, flush="always")
    gate = threading.Event()
    real_sync = svc.store.sync
    syncs: list[int] = []

    def slow_sync() -> None:
        gate.wait(10)
        syncs.append(1)
        real_sync()

    svc.store.sync = slow_sync  # type: ignore[method-assign]

    def commit(offset: int) -> OffsetCommit:
        return OffsetCommit(group_id="g", offsets=(
            CommitOffset(topic="t", partition=0, offset=offset),))

    async def scenario() -> None:
        first = asyncio.ensure_future(svc.commit(commit(5)))
        await asyncio.sleep(0.05)
        assert not first.done()  # written, not yet fsynced: not acknowledged
        read = asyncio.ensure_future(svc.fetch_offsets(OffsetFetch(group_id="g")))
        second = asyncio.ensure_future(svc.commit(commit(6)))
        third = asyncio.ensure_future(svc.commit(commit(7)))
        await asyncio.sleep(0.05)
        assert not read.done() and not second.done()  # they wait for the next batch
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, read, second, third), 10)
        assert [o.offset for o in read.result().offsets] == [5]  # durable state only
        assert len(syncs) == 2  # the 2nd and 3rd commits shared one fsync
        final = await svc.fetch_offsets(OffsetFetch(group_id="g"))
        assert [o.offset for o in final.offsets] == [7]
        await svc.aclose()

    asyncio.run(scenario())


def test_driver_fails_the_batch_when_fsync_fails(tmp_path: Path) -> None:
    svc = GroupService.open(tmp_path, FAST, clock_ms=lambda: 1000, flush="always")

    def broken() -> None:
        raise OSError(5, "Input/output error")

    svc.store.sync = broken  # type: ignore[method-assign]

    async def scenario() -> None:
        with pytest.raises(OSError):
            await asyncio.wait_for(svc.commit(OffsetCommit(group_id="g", offsets=(
                CommitOffset(topic="t", partition=0, offset=1),))), 5)
        # The service keeps serving (the next request is not stuck behind the failure).
        got = await asyncio.wait_for(svc.fetch_offsets(OffsetFetch(group_id="x")), 5)
        assert got.error == ErrorCode.NONE

    asyncio.run(scenario())
    svc.close()
