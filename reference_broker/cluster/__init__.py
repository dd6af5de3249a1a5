"""The replicated broker: one Raft group per partition plus a controller group.

- `rpc`: broker-to-broker frames (length-prefixed msgpack) on the Kafka listener.
- `storage`: `RaftPartitionLog`, the partition log as a Raft `LogStorage`.
- `node`: `Cluster`, the asyncio driver of the Raft groups, the controller (topic
  creation, replica assignment) and the Kafka semantics of replicated produce (acks,
  high watermark, ISR, min.insync.replicas).
- `groups`: `ReplicatedGroups`, group coordinators whose state lives in the Raft
  groups of ``__consumer_offsets`` (``offsets.topic.num.partitions`` and
  ``offsets.topic.replication.factor``, default 3 each); a group's coordinator is its
  partition's leader, so groups and committed offsets survive coordinator failover
  and full-cluster restarts.

Replication: a topic's replication factor is 1..nodes (CreateTopics, or
``default.replication.factor`` = min(3, nodes) when unset); each partition's Raft
group has only its replicas as voters. The ISR is the leader plus the followers
caught up within ``replica.lag.time.max.ms`` (default 30000). With acks=all, an ISR
smaller than ``min.insync.replicas`` (topic or broker config, default 1) is refused
with NOT_ENOUGH_REPLICAS before anything is appended; on top of that gate a commit
always needs a majority of the replicas (Raft), so a leader cut off from its
majority steps down (check-quorum) and acks=all writes wait or time out.

Started by ``reference-broker --peers ...``; the protocol handlers consult
``ctx.extras["cluster"]`` and keep their single-node behaviour when it is absent.
A 3-node cluster on one machine::

    P=1=127.0.0.1:9091,2=127.0.0.1:9092,3=127.0.0.1:9093
    for i in 1 2 3; do
      python -m reference_broker --node-id $i --listen 127.0.0.1:909$i \
          --data-dir /tmp/rb$i --peers $P &
    done

Not yet: deleting topics or adding partitions (refused with INVALID_REQUEST),
replicated transaction-coordinator state (transactional ids go to the controller's
leader), compaction of ``__consumer_offsets`` (a new coordinator replays its whole
log), moving replicas (reassignment) or
preferring the first replica as leader. Retention runs on every replica and compacts
its Raft log (`storage`); a follower behind the leader's log start gets a snapshot.
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
