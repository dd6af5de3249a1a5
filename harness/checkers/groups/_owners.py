"""``double-owner``: two members own one key in the same generation.

Definition: two distinct members (by member id; by process when a history has none)
report key ``k`` in their assignment (``extra["membership"]["keys"]`` of a ``poll``,
``commit`` or ``txn`` completion) with the same generation. Only completions that carry
a generation count (kafka-python reports it; confluent-kafka does not expose it, so its
histories are not judged for this type).

Why it is bad: in Kafka's rebalance protocol the coordinator bumps the generation once
per completed join, the leader's assignor divides the partitions among that
generation's members, and SyncGroup hands each member its share of that one
assignment. A partition in two members' assignments of one generation means the
coordinator mixed assignments or generations up. The workload reads the generation
together with the assignment inside the rebalance callback, so a member that has sent
its next JoinGroup but not yet received its assignment still reports the old pair.
"""

from __future__ import annotations

from harness.checkers.groups._index import GroupIndex
from harness.checkers.log._found import Found


def double_owners(ix: GroupIndex, limit: int) -> Found:
    found = Found(limit)
    ops = ix.ops
    for (gen, k), owners in sorted(ix.owners.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if len(owners) < 2:
            continue
        if not found.take():
            continue
        (m1, (p1, pos1)), (m2, (p2, pos2)) = sorted(owners.items(), key=lambda kv: kv[1][1])[:2]
        a, b = ops[pos1].index, ops[pos2].index
        found.add({
            "key": k, "generation": gen, "process": p1, "processes": [p1, p2],
            "members": [m1, m2], "ops": [a, b], "offsets": [], "owners": len(owners),
            "message": f"in generation {gen} key {k} was assigned to {len(owners)} members: "
                       f"process {p1!r} (member {m1}, op {a}) and process {p2!r} "
                       f"(member {m2}, op {b})",
        })
    return found
