"""Network partitions as data: grudges, computed by pure functions.

A *grudge* maps a node to the set of nodes whose traffic it drops (Jepsen's term).
A symmetric partition into components is the grudge where every node drops everyone
outside its component; a one-way partition is a grudge that is not symmetric. The
empty grudge is a healed network. Every function here is pure: node lists in,
randomness from the ``random.Random`` passed in, a grudge out; none touches the
network. One partitioner (the backend's `apply_grudge`) applies them.

Topologies (``nodes`` has at least 2 members unless said otherwise):

- `one`: one random node cut off from the rest.
- `majority`: a random split into a majority and a minority (Jepsen ``bisect`` of a
  shuffle: the first half is the smaller).
- `majorities_ring`: (>= 3 nodes) every node sees a majority (itself included) and no
  two nodes see the same one: nodes on a shuffled ring see their nearest neighbours.
  When the majority minus one is odd, each node also sees one extra node clockwise,
  which makes that link one-way.
- `bridge`: (>= 3 nodes) two halves that cannot hear each other, and one node in the
  middle that hears and is heard by both.
- `isolate`: a given node cut off (``leader``: the caller names the current leader).
- `one_way`: a random minority stops hearing the majority, which still hears it.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence

from harness.errors import UsageError

Grudge = dict[str, frozenset[str]]

TOPOLOGIES = ("one", "majority", "majorities-ring", "bridge", "leader", "one-way")


def _check(nodes: Sequence[str], at_least: int, what: str) -> list[str]:
    if len(set(nodes)) != len(nodes):
        raise UsageError(f"duplicate nodes in {list(nodes)}")
    if len(nodes) < at_least:
        raise UsageError(f"a {what} partition needs at least {at_least} nodes, "
                         f"got {len(nodes)}")
    return sorted(nodes)


def complete_grudge(components: Sequence[Collection[str]]) -> Grudge:
    """Every node drops every node outside its own component."""
    everyone = frozenset(n for c in components for n in c)
    seen: set[str] = set()
    for c in components:
        overlap = seen & set(c)
        if overlap:
            raise UsageError(f"node(s) {sorted(overlap)} in more than one component")
        seen |= set(c)
    return {n: everyone - frozenset(c) for c in components for n in c}


def one(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _check(nodes, 2, "one")
    x = rng.choice(ns)
    return complete_grudge([[x], [n for n in ns if n != x]])


def majority(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _check(nodes, 2, "majority")
    rng.shuffle(ns)
    k = len(ns) // 2
    return complete_grudge([ns[:k], ns[k:]])


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _check(nodes, 3, "majorities-ring")
    rng.shuffle(ns)
    n = len(ns)
    others = n // 2  # the majority (n // 2 + 1) minus the node itself
    d, extra = divmod(others, 2)
    g: Grudge = {}
    for i, x in enumerate(ns):
        sees = {ns[(i + k) % n] for k in range(-d, d + 1)}
        if extra:
            sees.add(ns[(i + d + 1) % n])
        g[x] = frozenset(ns) - sees
    return g


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ns = _check(nodes, 3, "bridge")
    rng.shuffle(ns)
    mid = len(ns) // 2
    left, b, right = ns[:mid], ns[mid], ns[mid + 1:]
    g = complete_grudge([left, right])
    g[b] = frozenset()
    return g


def isolate(nodes: Sequence[str], node: str) -> Grudge:
    ns = _check(nodes, 2, "leader (isolate)")
    if node not in ns:
        raise UsageError(f"cannot isolate {node!r}: not one of {ns}")
    return complete_grudge([[node], [n for n in ns if n != node]])


def one_way(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """A random minority drops the majority's traffic; the majority still hears it."""
    ns = _check(nodes, 2, "one-way")
    rng.shuffle(ns)
    k = len(ns) // 2
    deaf, heard = ns[:k], ns[k:]
    return {n: frozenset(heard) for n in deaf}


def grudge_for(topology: str, nodes: Sequence[str], rng: random.Random,
               leader: str | None = None) -> Grudge:
    """Dispatch by topology name; ``leader`` is needed (only) for ``leader``."""
    if topology == "one":
        return one(nodes, rng)
    if topology == "majority":
        return majority(nodes, rng)
    if topology == "majorities-ring":
        return majorities_ring(nodes, rng)
    if topology == "bridge":
        return bridge(nodes, rng)
    if topology == "one-way":
        return one_way(nodes, rng)
    if topology == "leader":
        if leader is None:
            raise UsageError("a leader partition needs the current leader (none known)")
        return isolate(nodes, leader)
    raise UsageError(f"unknown partition topology {topology!r} "
                     f"(valid: {', '.join(TOPOLOGIES)})")


def check_grudge(grudge: Mapping[str, Collection[str]], nodes: Collection[str]) -> Grudge:
    """Validate an explicit grudge against the cluster's nodes; normalise it."""
    known = set(nodes)
    out: Grudge = {}
    for dst, srcs in grudge.items():
        bad = ({dst} | set(srcs)) - known
        if bad:
            raise UsageError(f"partition names unknown nodes {sorted(bad)}; the cluster has "
                             f"{', '.join(sorted(known))}")
        s = frozenset(srcs) - {dst}
        if s:
            out[dst] = s
    return out


def is_symmetric(grudge: Mapping[str, Collection[str]]) -> bool:
    return all(dst in grudge.get(src, ()) for dst, srcs in grudge.items() for src in srcs)


def components_seen(grudge: Mapping[str, Collection[str]], nodes: Collection[str]
                    ) -> dict[str, frozenset[str]]:
    """What each node hears: every node minus its grudge."""
    return {n: frozenset(nodes) - frozenset(grudge.get(n, ())) for n in nodes}


def to_data(grudge: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    """The JSON form recorded in the history: sorted lists, empty entries dropped."""
    return {dst: sorted(srcs) for dst, srcs in sorted(grudge.items()) if srcs}
