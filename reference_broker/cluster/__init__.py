"""The replicated broker: one Raft group per partition plus a controller group.

- `rpc`: broker-to-broker frames (length-prefixed msgpack) on the Kafka listener.
- `storage`: `RaftPartitionLog`, the partition log as a Raft `LogStorage`.
- `node`: `Cluster`, the asyncio driver of the Raft groups, the controller (topic
  creation) and the Kafka semantics of replicated produce (acks, high watermark).

Started by ``reference-broker --peers ...``; the protocol handlers consult
``ctx.extras["cluster"]`` and keep their single-node behaviour when it is absent.
A 3-node cluster on one machine::

    P=1=127.0.0.1:9091,2=127.0.0.1:9092,3=127.0.0.1:9093
    for i in 1 2 3; do
      python -m reference_broker --node-id $i --listen 127.0.0.1:909$i \
          --data-dir /tmp/rb$i --peers $P &
    done

Not yet: deleting topics or adding partitions (refused with INVALID_REQUEST),
replicated group-coordinator state (one coordinator per cluster, the controller's
leader; its groups are lost when it fails), retention of replicated logs, snapshots,
min.insync.replicas (a leader without a quorum steps down instead).
"""

from collections.abc import Callable

from .node import CONTROLLER, Cluster, NonReplica, RaftGroup, TopicCommand, assign_replicas
from .rpc import MAGIC, FrameReader
from .storage import RaftPartitionLog


def peer_reader(cluster: Cluster) -> Callable[[], Callable[[bytes], None]]:
    """The server's factory of byte sinks for accepted peer connections."""

    def make() -> Callable[[bytes], None]:
        return FrameReader(cluster.on_frame).feed

    return make


def of(ctx: object) -> Cluster | None:
    """The cluster a handler's context belongs to, or None on a single node."""
    extras = getattr(ctx, "extras", {})
    c = extras.get("cluster")
    return c if isinstance(c, Cluster) else None


__all__ = ["CONTROLLER", "MAGIC", "Cluster", "FrameReader", "NonReplica", "RaftGroup",
           "RaftPartitionLog", "TopicCommand", "assign_replicas", "of", "peer_reader"]
