"""Every version of the group APIs on the wire, against a real broker process.

Real clients negotiate one version each (see KAFKA-FACTS.md); these tests walk the
whole advertised range with raw requests so that old and flexible versions are both
exercised: FindCoordinator v0-6 (v4+ batched), JoinGroup v0-9 (MEMBER_ID_REQUIRED from
v4), SyncGroup, Heartbeat, LeaveGroup v0-5 (v3+ batched), OffsetCommit v0-9,
OffsetFetch v0-9 (null topics = all from v2, multi-group from v8), DescribeGroups v0-6,
ListGroups v0-5.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.protocol.admin import DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetCommitRequest,
    OffsetFetchRequest,
    SyncGroupRequest,
)
from kafka.protocol.metadata import FindCoordinatorRequest

from .._wire import Wire
from ..conftest import BrokerProcess

CONFIG = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}
TOPIC = "wt"

JP = JoinGroupRequest.JoinGroupRequestProtocol
SA = SyncGroupRequest.SyncGroupRequestAssignment
CT = OffsetCommitRequest.OffsetCommitRequestTopic
CP = CT.OffsetCommitRequestPartition
FT = OffsetFetchRequest.OffsetFetchRequestTopic
FG = OffsetFetchRequest.OffsetFetchRequestGroup
FGT = FG.OffsetFetchRequestTopics
LM = LeaveGroupRequest.MemberIdentity


@pytest.fixture(scope="module")
def broker_mod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    d = tmp_path_factory.mktemp("wire")
    logs = d / "logs"
    logs.mkdir()
    b = BrokerProcess(d / "data", CONFIG, logs)
    try:
        b.start()
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        try:
            admin.create_topics([NewTopic(TOPIC, 2, 1)])
        finally:
            admin.close()
        yield b
    finally:
        b.kill()


@pytest.fixture
def wire(broker_mod: BrokerProcess) -> Iterator[Wire]:
    with Wire(broker_mod.address) as w:
        yield w


@pytest.mark.parametrize("v", range(7))
def test_find_coordinator(wire: Wire, broker_mod: BrokerProcess, v: int) -> None:
    if v >= 4:
        r = wire.call(FindCoordinatorRequest(version=v, key_type=0,
                                             coordinator_keys=["a", "b"]))
        assert [(c.key, c.error_code, c.node_id, c.port) for c in r.coordinators] == [
            ("a", 0, 1, broker_mod.port), ("b", 0, 1, broker_mod.port)]
        assert r.coordinators[0].host == "127.0.0.1"
    else:
        kw: dict[str, Any] = {"key_type": 0} if v >= 1 else {}
        r = wire.call(FindCoordinatorRequest(version=v, key="g", **kw))
        assert (r.error_code, r.node_id, r.host, r.port) == (0, 1, "127.0.0.1", broker_mod.port)


def join(wire: Wire, v: int, group: str, member_id: str = "") -> Any:
    kw: dict[str, Any] = {}
    if v >= 1:
        kw["rebalance_timeout_ms"] = 5000
    if v >= 5:
        kw["group_instance_id"] = None
    if v >= 8:
        kw["reason"] = None
    return wire.call(JoinGroupRequest(
        version=v, group_id=group, session_timeout_ms=5000, member_id=member_id,
        protocol_type="consumer", protocols=[JP(name="range", metadata=b"sub")], **kw))


@pytest.mark.parametrize("v", range(10))
def test_group_flow_in_every_join_version(wire: Wire, v: int) -> None:
    group = f"flow-v{v}"
    sv, hv, lv, dv, gv = min(v, 5), min(v, 4), min(v, 5), min(v, 6), min(v, 5)
    cv, fv = max(min(v, 9), 1), max(min(v, 9), 1)
    r = join(wire, v, group)
    if v >= 4:
        assert r.error_code == 79 and r.member_id  # MEMBER_ID_REQUIRED
        r = join(wire, v, group, r.member_id)
    assert r.error_code == 0, r
    me = r.member_id
    assert (r.generation_id, r.leader, r.protocol_name) == (1, me, "range")
    assert [(m.member_id, m.metadata) for m in r.members] == [(me, b"sub")]
    s = wire.call(SyncGroupRequest(version=sv, group_id=group, generation_id=1, member_id=me,
                                   assignments=[SA(member_id=me, assignment=b"A")]))
    assert (s.error_code, s.assignment) == (0, b"A")
    h = wire.call(HeartbeatRequest(version=hv, group_id=group, generation_id=1, member_id=me))
    assert h.error_code == 0
    h = wire.call(HeartbeatRequest(version=hv, group_id=group, generation_id=9, member_id=me))
    assert h.error_code == 22  # ILLEGAL_GENERATION
    c = wire.call(OffsetCommitRequest(
        version=cv, group_id=group, generation_id_or_member_epoch=1, member_id=me,
        topics=[CT(name=TOPIC, partitions=[CP(partition_index=0, committed_offset=7,
                                               committed_metadata="md")])]))
    assert [(p.partition_index, p.error_code) for t in c.topics for p in t.partitions] == [
        (0, 0)]
    if fv >= 8:
        f = wire.call(OffsetFetchRequest(version=fv, groups=[FG(
            group_id=group, topics=[FGT(name=TOPIC, partition_indexes=[0, 1])])]))
        (g,) = f.groups
        got = [(p.partition_index, p.committed_offset, p.metadata)
               for t in g.topics for p in t.partitions]
    else:
        f = wire.call(OffsetFetchRequest(version=fv, group_id=group, topics=[
            FT(name=TOPIC, partition_indexes=[0, 1])]))
        got = [(p.partition_index, p.committed_offset, p.metadata)
               for t in f.topics for p in t.partitions]
    assert got == [(0, 7, "md"), (1, -1, "")]
    (d,) = wire.call(DescribeGroupsRequest(version=dv, groups=[group])).groups
    assert (d.error_code, d.group_state, d.protocol_type, d.protocol_data) == (
        0, "Stable", "consumer", "range")
    assert [(m.member_id, m.member_assignment) for m in d.members] == [(me, b"A")]
    lg = wire.call(ListGroupsRequest(version=gv))
    assert group in {x.group_id for x in lg.groups}
    if lv >= 3:
        lr = wire.call(LeaveGroupRequest(version=lv, group_id=group, members=[
            LM(member_id=me), LM(member_id="nobody")]))
        assert lr.error_code == 0
        assert [(m.member_id, m.error_code) for m in lr.members] == [(me, 0), ("nobody", 25)]
    else:
        lr = wire.call(LeaveGroupRequest(version=lv, group_id=group, member_id=me))
        assert lr.error_code == 0
    (d,) = wire.call(DescribeGroupsRequest(version=dv, groups=[group])).groups
    assert d.group_state == "Empty" and d.members == []


def test_old_offset_commit_versions_and_fetch_all(wire: Wire) -> None:
    for v, (group, offset) in enumerate([("simple0", 3), ("simple1", 4)]):
        kw: dict[str, Any] = {} if v == 0 else {"generation_id_or_member_epoch": -1,
                                                "member_id": ""}
        c = wire.call(OffsetCommitRequest(version=v, group_id=group, topics=[CT(
            name=TOPIC, partitions=[CP(partition_index=1, committed_offset=offset,
                                       committed_metadata=None)])], **kw))
        assert c.topics[0].partitions[0].error_code == 0
    f = wire.call(OffsetFetchRequest(version=0, group_id="simple0",
                                     topics=[FT(name=TOPIC, partition_indexes=[1])]))
    assert f.topics[0].partitions[0].committed_offset == 3
    f = wire.call(OffsetFetchRequest(version=2, group_id="simple1", topics=None))
    assert [(t.name, p.partition_index, p.committed_offset)
            for t in f.topics for p in t.partitions] == [(TOPIC, 1, 4)]
    f = wire.call(OffsetFetchRequest(version=8, groups=[
        FG(group_id="simple0", topics=None), FG(group_id="simple1", topics=None),
        FG(group_id="never", topics=None)], require_stable=False))
    assert [(g.group_id, [p.committed_offset for t in g.topics for p in t.partitions])
            for g in f.groups] == [("simple0", [3]), ("simple1", [4]), ("never", [])]


def test_commit_to_unknown_topic_and_with_unknown_generation(wire: Wire) -> None:
    c = wire.call(OffsetCommitRequest(
        version=8, group_id="u", generation_id_or_member_epoch=-1, member_id="",
        group_instance_id=None, topics=[
            CT(name="no-such-topic", partitions=[CP(partition_index=0, committed_offset=1,
                                                    committed_metadata="")]),
            CT(name=TOPIC, partitions=[CP(partition_index=0, committed_offset=1,
                                          committed_metadata="")])]))
    assert [(t.name, t.partitions[0].error_code) for t in c.topics] == [
        ("no-such-topic", 3), (TOPIC, 0)]
    c = wire.call(OffsetCommitRequest(
        version=2, group_id="never-joined", generation_id_or_member_epoch=4, member_id="m",
        retention_time_ms=-1, topics=[CT(name=TOPIC, partitions=[
            CP(partition_index=0, committed_offset=1, committed_metadata="")])]))
    assert c.topics[0].partitions[0].error_code == 22  # ILLEGAL_GENERATION


def test_list_groups_filters_and_describe_unknown(wire: Wire) -> None:
    join(wire, 3, "listed")  # v3: joined directly, CompletingRebalance
    lg = wire.call(ListGroupsRequest(version=5, states_filter=["CompletingRebalance"],
                                     types_filter=[]))
    assert {(g.group_id, g.group_state, g.group_type) for g in lg.groups} >= {
        ("listed", "CompletingRebalance", "classic")}
    assert all(g.group_state == "CompletingRebalance" for g in lg.groups)
    lg = wire.call(ListGroupsRequest(version=5, states_filter=[], types_filter=["consumer"]))
    assert lg.groups == []  # "consumer" is a group type of the new protocol, not classic
    (d,) = wire.call(DescribeGroupsRequest(version=5, groups=["nobody-here"],
                                           include_authorized_operations=False)).groups
    assert (d.error_code, d.group_state, d.members) == (0, "Dead", [])
    (d,) = wire.call(DescribeGroupsRequest(version=6, groups=["nobody-here"],
                                           include_authorized_operations=False)).groups
    assert (d.error_code, d.error_message) == (69, "Group nobody-here not found.")


def test_join_errors(wire: Wire) -> None:
    r = join(wire, 5, "")
    assert r.error_code == 24  # INVALID_GROUP_ID
    r = join(wire, 5, "ghost-group", "ghost-member")
    assert r.error_code == 25  # UNKNOWN_MEMBER_ID
    r = wire.call(JoinGroupRequest(version=5, group_id="st", session_timeout_ms=10,
                                   rebalance_timeout_ms=10, member_id="",
                                   group_instance_id=None, protocol_type="consumer",
                                   protocols=[JP(name="range", metadata=b"")]))
    assert r.error_code == 26  # INVALID_SESSION_TIMEOUT


def test_static_member_joins_on_the_wire(wire: Wire) -> None:
    r = wire.call(JoinGroupRequest(version=7, group_id="static", session_timeout_ms=5000,
                                   rebalance_timeout_ms=5000, member_id="",
                                   group_instance_id="inst-1", protocol_type="consumer",
                                   protocols=[JP(name="range", metadata=b"s")]))
    assert r.error_code == 0 and r.generation_id == 1
    assert r.members[0].group_instance_id == "inst-1"




def test_delete_groups(wire: Wire) -> None:
    from kafka.protocol.admin import DeleteGroupsRequest
    c = wire.call(OffsetCommitRequest(version=2, group_id="to-delete",
                                      generation_id_or_member_epoch=-1, member_id="",
                                      retention_time_ms=-1, topics=[CT(name=TOPIC, partitions=[
                                          CP(partition_index=0, committed_offset=1,
                                             committed_metadata="")])]))
    assert c.topics[0].partitions[0].error_code == 0
    join(wire, 3, "busy-group")
    for v in range(3):
        r = wire.call(DeleteGroupsRequest(version=v, groups_names=[
            "to-delete", "busy-group", "never-was"]))
        expected = [("to-delete", 0 if v == 0 else 69), ("busy-group", 68), ("never-was", 69)]
        assert [(x.group_id, x.error_code) for x in r.results] == expected
    f = wire.call(OffsetFetchRequest(version=2, group_id="to-delete", topics=None))
    assert f.topics == []


def test_commits_survive_clean_shutdown_and_crash(broker_factory: Any) -> None:
    """SIGTERM (clean: the coordinator closes its log) and SIGKILL (fsync always)."""
    broker = broker_factory({**CONFIG, "log.flush.policy": "always"})
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(TOPIC, 2, 1)])
    finally:
        admin.close()

    def commit(offset: int) -> None:
        with Wire(broker.address) as w:
            c = w.call(OffsetCommitRequest(
                version=8, group_id="durable", generation_id_or_member_epoch=-1,
                member_id="", group_instance_id=None, topics=[CT(name=TOPIC, partitions=[
                    CP(partition_index=1, committed_offset=offset,
                       committed_metadata="m")])]))
            assert c.topics[0].partitions[0].error_code == 0

    def fetched() -> list[int]:
        with Wire(broker.address) as w:
            f = w.call(OffsetFetchRequest(version=8, groups=[FG(group_id="durable",
                                                                topics=None)]))
            return [p.committed_offset for t in f.groups[0].topics for p in t.partitions]

    commit(10)
    assert broker.stop() == 0
    broker.start()
    assert fetched() == [10]
    commit(11)
    broker.kill()
    broker.start()
    assert fetched() == [11]


def test_unreadable_group_state_stops_the_broker_with_a_message(
        broker_factory: Any, tmp_path: Path) -> None:
    from reference_broker import records
    from reference_broker.groups.store import GroupStore

    data = tmp_path / "bad-data"
    store = GroupStore.open(data)
    # A CRC-valid batch whose record was written by a "newer" format version.
    batch = records.build_batch([records.Record(key=b"group/g", value=b"\x09junk",
                                                timestamp=0)])
    store._log.append(batch, 0)
    store.close()
    with pytest.raises(RuntimeError, match="exited with 2") as err:
        broker_factory(CONFIG, data_dir=data)
    text = str(err.value)
    assert "group record format version 9" in text and "move that directory away" in text
    assert "Traceback" not in text
