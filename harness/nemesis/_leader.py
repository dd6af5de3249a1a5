"""Who leads: the broker's own view, read from Metadata, for ``leader`` partitions.

`metadata_leader` asks the cluster (through the client-side addresses, so it works
on both backends) for the leader of one topic-partition, or for the controller when
no topic is given, and maps the broker's node id back to a node name (``n<id>``).
It returns None when no node answers or the leader is not one of the cluster's
nodes (e.g. Tansu reports node 111); a ``leader`` partition then fails with an
``error`` op rather than isolating a random node.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from harness.cluster import Cluster


def metadata_leader(cluster: Cluster, topic: str | None = None, partition: int = 0, *,
                    timeout_ms: int = 5000) -> str | None:
    """The node name that leads ``topic``/``partition`` (or the controller)."""
    from kafka import KafkaAdminClient  # imported lazily: a heavy module

    by_id = {cluster.ids[n]: n for n in cluster.nodes}
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    admin: Any = None
    try:
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers(),
                                 request_timeout_ms=timeout_ms)
        if topic is None:
            node_id = admin.describe_cluster().get("controller_id")
        else:
            node_id = None
            for t in admin.describe_topics([topic]):
                for p in t.get("partitions", []):
                    if p.get("partition_index", p.get("partition")) == partition:
                        node_id = p.get("leader_id", p.get("leader"))
    except Exception:  # no broker answered: unknown, not an error of the harness
        return None
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()
    return by_id.get(node_id) if isinstance(node_id, int) else None


def leader_finder(cluster: Cluster, topic: str | None = None,
                  partition: int = 0) -> Callable[[], str | None]:
    """A ``leader_of`` function for `Nemesis`."""
    return lambda: metadata_leader(cluster, topic, partition)
