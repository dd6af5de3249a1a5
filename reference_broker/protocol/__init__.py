"""The Kafka wire protocol of the reference broker.

- `codec`: framing and kafka-python message classes (the only place bytes become
  objects; why kafka-python and not kio is measured in its docstring).
- `errors`: Kafka error codes.
- `handlers`: the registry (`handler`, `BrokerContext`, lifetime hooks) and one module
  per API family: `core` (ApiVersions, Metadata, InitProducerId, DescribeCluster),
  `produce`, `fetch` (Fetch, ListOffsets, OffsetForLeaderEpoch), `admin` (topics and
  configs) and `groups` (the group coordinator's APIs).
The ApiVersions table is derived from the registry, so what is advertised is served.
"""
