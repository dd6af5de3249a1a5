"""Who leads: the broker's own view, read from Metadata, for ``leader`` faults.

`metadata_leader` asks the cluster (through the client-side addresses, so it works
on both backends) for the leader of one topic-partition, or for the controller when
no topic is given; `partition_leaders` for the leader of every partition of some
topics; `busiest_leader` (pure) picks the node leading the most of them, which is
whom a run's ``leader`` kill, pause or partition hits: its writes are the ones in
flight. Broker node ids map back to node names (``n<id>``); a leader that is not
one of the cluster's nodes (e.g. Tansu reports node 111), or no answer at all,
gives None, and the ``leader`` fault fails with an ``error`` op rather than hitting
a random node.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.cluster import Cluster


def _describe(cluster: Cluster, topics: Sequence[str] | None,
              timeout_ms: int) -> tuple[Any, list[dict[str, Any]]] | None:
    """(controller id, topic descriptions) from one Metadata round, or None."""
    from kafka import KafkaAdminClient  # imported lazily: a heavy module

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    admin: Any = None
    try:
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers(),
                                 request_timeout_ms=timeout_ms)
        if topics is None:
            return admin.describe_cluster().get("controller_id"), []
        return None, list(admin.describe_topics(list(topics)))
    except Exception:  # no broker answered: unknown, not an error of the harness
        return None
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def partition_leaders(cluster: Cluster, topics: Sequence[str], *,
                      timeout_ms: int = 5000) -> dict[tuple[str, int], str]:
    """(topic, partition) -> the node name leading it, for the partitions that have a
    leader among the cluster's nodes (empty when no node answers)."""
    by_id = {cluster.ids[n]: n for n in cluster.nodes}
    got = _describe(cluster, topics, timeout_ms)
    out: dict[tuple[str, int], str] = {}
    for t in got[1] if got is not None else ():
        for p in t.get("partitions", []):
            node_id = p.get("leader_id", p.get("leader"))
            index = p.get("partition_index", p.get("partition"))
            if isinstance(node_id, int) and node_id in by_id and isinstance(index, int):
                out[(t.get("topic", t.get("name", "")), index)] = by_id[node_id]
    return out


def metadata_leader(cluster: Cluster, topic: str | None = None, partition: int = 0, *,
                    timeout_ms: int = 5000) -> str | None:
    """The node name that leads ``topic``/``partition`` (or the controller)."""
    if topic is not None:
        return partition_leaders(cluster, [topic], timeout_ms=timeout_ms).get(
            (topic, partition))
    got = _describe(cluster, None, timeout_ms)
    by_id = {cluster.ids[n]: n for n in cluster.nodes}
    node_id = got[0] if got is not None else None
    return by_id.get(node_id) if isinstance(node_id, int) else None


def busiest_leader(leaders: Mapping[Any, str] | Iterable[str]) -> str | None:
    """The node leading the most partitions (ties: the first name in sort order)."""
    names = list(leaders.values()) if isinstance(leaders, Mapping) else list(leaders)
    if not names:
        return None
    return min(sorted(set(names)), key=lambda n: -names.count(n))


def leader_finder(cluster: Cluster, topic: str | None = None, partition: int = 0, *,
                  topics: Sequence[str] | None = None) -> Callable[[], str | None]:
    """A ``leader_of`` function for `Nemesis`: with ``topics``, the node leading the
    most of their partitions; else the leader of ``topic``/``partition``."""
    if topics:
        names = list(topics)
        return lambda: busiest_leader(partition_leaders(cluster, names))
    return lambda: metadata_leader(cluster, topic, partition)
