"""Planted bugs: realistic misimplementations, each off by default, that exist so the
harness can prove it catches them (``reference-broker --bug NAME``, ``--list-bugs``;
``logtrial run --bug NAME``). None may change behaviour when off.

This module is the one list of names; each part of the broker reads the names that
concern it from ``BrokerConfig.raw["logtrial.bugs"]`` (a comma list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from reference_broker.groups import PLANTED_BUGS as _GROUP_BUGS
from reference_broker.log.retention import PLANTED_BUGS as _LOG_BUGS
from reference_broker.raft import PLANTED_BUGS as _RAFT_BUGS
from reference_broker.txn import PLANTED_BUGS as _TXN_BUGS

CONFIG_KEY: Final = "logtrial.bugs"

#: Bugs of the replicated broker (`reference_broker.cluster`); the Raft core's own
#: bugs are switched on in every partition's and the controller's Raft group.
_CLUSTER_BUGS = {
    "ack-before-commit": "in a cluster, acks=all is answered after the leader's local "
                         "append instead of after the Raft commit, so a leader failover "
                         "can lose acknowledged records",
    "forget-producer-state": "in a cluster, a new partition leader starts with empty "
                             "idempotent-producer state instead of the state replicated "
                             "with the log, so a retry of a batch committed before the "
                             "failover is appended twice",
    "stale-leader-read": "in a cluster, fetches and list-offsets trust a cached "
                         "leadership (a lease never checked against the clock), so a "
                         "leader cut off from its peers keeps serving its stale log "
                         "after a new leader took over",
    **{name: f"in a cluster, Raft: {what}" for name, what in _RAFT_BUGS.items()},
}

#: name -> one-line description, for every bug a running broker can switch on.
BUGS: Final[Mapping[str, str]] = dict(sorted({**_GROUP_BUGS, **_LOG_BUGS, **_TXN_BUGS,
                                               **_CLUSTER_BUGS}.items()))


def parse_bugs(names: Iterable[str]) -> frozenset[str]:
    """Validated bug names; raises ValueError naming the unknown ones and the valid."""
    out = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(out - BUGS.keys())
    if unknown:
        raise ValueError(f"unknown bug(s) {', '.join(unknown)}; known: "
                         f"{', '.join(BUGS) or 'none'} (see --list-bugs)")
    return out
