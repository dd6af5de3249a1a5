"""Every advertised version of the non-group APIs answers a well-formed request.

One request per (API, version), built from a superset of fields (fields a version lacks
are not encoded), sent raw, and its response decoded at the same version; the
per-entity error codes must be the expected ones.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka.protocol.admin import (
    AlterConfigsRequest,
    CreatePartitionsRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    DescribeClusterRequest,
    DescribeConfigsRequest,
    DescribeProducersRequest,
    IncrementalAlterConfigsRequest,
)
from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest
from kafka.protocol.data_container import DataContainer
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest

from ._wire import Wire, create_topic, make_batch
from .conftest import BrokerProcess

TOPIC = "vt"


def _topic_id(w: Wire) -> uuid.UUID:
    md = w.call(MetadataRequest(version=12, topics=[
        MetadataRequest.MetadataRequestTopic(name=TOPIC)]))
    return md.topics[0].topic_id


def _requests(v: int, tid: uuid.UUID, n: int) -> dict[str, Any]:
    """API name -> a thunk building its request at version `v`."""
    TD = ProduceRequest.TopicProduceData
    FT = FetchRequest.FetchTopic
    LT = ListOffsetsRequest.ListOffsetsTopic
    OT = OffsetForLeaderEpochRequest.OffsetForLeaderTopic
    CT = CreateTopicsRequest.CreatableTopic
    DR = DescribeConfigsRequest.DescribeConfigsResource
    AR = AlterConfigsRequest.AlterConfigsResource
    IR = IncrementalAlterConfigsRequest.AlterConfigsResource
    return {
        "Produce": lambda: ProduceRequest(version=v, transactional_id=None, acks=-1,
                                          timeout_ms=1000,
                                  topic_data=[TD(name=TOPIC, topic_id=tid, partition_data=[
                                      TD.PartitionProduceData(index=0,
                                                              records=make_batch(1))])]),
        "Fetch": lambda: FetchRequest(version=v, replica_id=-1, max_wait_ms=0, min_bytes=0,
                              max_bytes=1 << 20, isolation_level=1, session_id=0,
                              session_epoch=-1, topics=[FT(topic=TOPIC, topic_id=tid, partitions=[
                                  FT.FetchPartition(partition=0, fetch_offset=0,
                                                    partition_max_bytes=1 << 20,
                                                    current_leader_epoch=0,
                                                    log_start_offset=-1)])],
                              forgotten_topics_data=[], rack_id=""),
        "ListOffsets": lambda: ListOffsetsRequest(version=v, replica_id=-1, isolation_level=0,
                                                  topics=[
            LT(name=TOPIC, partitions=[LT.ListOffsetsPartition(
                partition_index=0, timestamp=-1, current_leader_epoch=-1,
                max_num_offsets=1)])]),
        "Metadata": lambda: MetadataRequest(version=v, topics=[
            MetadataRequest.MetadataRequestTopic(name=TOPIC)],
            allow_auto_topic_creation=False),
        "ApiVersions": lambda: ApiVersionsRequest(version=v, client_software_name="t",
                                          client_software_version="1"),
        "CreateTopics": lambda: CreateTopicsRequest(version=v, topics=[CT(
            name=f"c{n}", num_partitions=1, replication_factor=1, assignments=[],
            configs=[])], timeout_ms=1000, validate_only=False),
        "DeleteTopics": lambda: DeleteTopicsRequest(
            version=v, topic_names=[f"c{n}"],
            topics=[DeleteTopicsRequest.DeleteTopicState(name=f"c{n}")], timeout_ms=1000),
        "InitProducerId": lambda: InitProducerIdRequest(version=v, transactional_id=None,
                                                transaction_timeout_ms=1000, producer_id=-1,
                                                producer_epoch=-1),
        "OffsetForLeaderEpoch": lambda: OffsetForLeaderEpochRequest(version=v, replica_id=-1,
                                                                    topics=[
            OT(topic=TOPIC, partitions=[OT.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=0, leader_epoch=0)])]),
        "DescribeConfigs": lambda: DescribeConfigsRequest(version=v, resources=[
            DR(resource_type=2, resource_name=TOPIC, configuration_keys=None)],
            include_synonyms=False, include_documentation=False),
        "AlterConfigs": lambda: AlterConfigsRequest(version=v, resources=[AR(
            resource_type=2, resource_name=TOPIC, configs=[
                AR.AlterableConfig(name="retention.ms", value="86400000")])],
            validate_only=False),
        "IncrementalAlterConfigs": lambda: IncrementalAlterConfigsRequest(version=v, resources=[IR(
            resource_type=2, resource_name=TOPIC, configs=[IR.AlterableConfig(
                name="retention.bytes", config_operation=0, value="1000000")])],
            validate_only=False),
        "CreatePartitions": lambda: CreatePartitionsRequest(version=v, topics=[
            CreatePartitionsRequest.CreatePartitionsTopic(name=TOPIC, count=2 + n,
                                                          assignments=None)],
            timeout_ms=1000, validate_only=False),
        "DescribeProducers": lambda: DescribeProducersRequest(version=v, topics=[
            DescribeProducersRequest.TopicRequest(name=TOPIC, partition_indexes=[0])]),
        "DescribeCluster": lambda: DescribeClusterRequest(version=v,
                                                  include_cluster_authorized_operations=False),
    }


def _errors(resp: Any) -> list[int]:
    """Every error_code in a response, depth first."""
    out = []
    stack = [resp]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
            continue
        if not isinstance(x, DataContainer):
            continue
        for name in type(x).fields:
            val = getattr(x, name, None)
            if name == "error_code" and val is not None:
                out.append(val)
            elif isinstance(val, list | DataContainer):
                stack.append(val)
    return out


RANGES = {"Produce": (3, 13), "Fetch": (4, 18), "ListOffsets": (0, 11), "Metadata": (0, 13),
          "ApiVersions": (0, 4), "CreateTopics": (0, 7), "DeleteTopics": (0, 6),
          "InitProducerId": (0, 6), "OffsetForLeaderEpoch": (0, 4), "DescribeConfigs": (0, 4),
          "AlterConfigs": (0, 2), "IncrementalAlterConfigs": (0, 1), "DescribeCluster": (0, 2),
          "CreatePartitions": (0, 3), "DescribeProducers": (0, 0)}
CASES = [(api, v) for api, (lo, hi) in RANGES.items() for v in range(lo, hi + 1)]


@pytest.fixture(scope="module")
def vbroker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .conftest import BrokerProcess as BP

    d = tmp_path_factory.mktemp("versions")
    logs = d / "logs"
    logs.mkdir()
    b = BP(d / "data", {"log.flush.policy": "never"}, logs)
    try:
        b.start()
        with Wire(b.address) as w:
            create_topic(w, TOPIC)
        yield b
    finally:
        b.kill()


@pytest.mark.parametrize(("api", "version"), CASES, ids=[f"{a}-v{v}" for a, v in CASES])
def test_every_advertised_version_answers(vbroker: BrokerProcess, api: str,
                                          version: int) -> None:
    with Wire(vbroker.address) as w:
        tid = _topic_id(w)
        n = CASES.index((api, version))
        if api == "DeleteTopics":
            create_topic(w, f"c{n}")
        req = _requests(version, tid, n)[api]()
        resp = w.call(req)
        assert version == resp.API_VERSION
        codes = _errors(resp)
        assert codes and set(codes) == {0}, resp
