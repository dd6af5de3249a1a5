"""Dependency cycles between transactions: ``G0`` and ``G1c``.

Edges between completions (Jepsen's kafka workload, point 4 of its analysis):
- ww: T1 sent v1 to k, T2 sent v2 to k, and v1 comes before v2 in k's version order
  (consecutive writers; a chain of writers implies the same order);
- wr: T1 sent v to k and T2 read v.

``G0`` is a cycle of ww edges only: always allowed (Kafka does not isolate writes; a
transaction's sends interleave with others'). ``G1c`` is a cycle of wr edges only: two
transactions each saw the other's writes, impossible if transactions commit atomically
and consumers read committed. Cycles mixing ww and wr edges are not reported: Jepsen
deems them normal in Kafka's model (without write isolation, t0 <ww t1 <wr t0 occurs).

Only ops that can sit on such a cycle are graphed, which keeps this cheap on large
histories: a ww cycle needs ops that send two or more values (an op sending one value
sits on one key's chain; only a multi-send op can close a cycle, directly when another
writer's value lands between two of its own), and a wr cycle needs ops that both send
and poll. ``fail`` ops take no part. One witness per strongly connected component,
with a shortest cycle through it.
"""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any

from harness.checkers.log._found import Found
from harness.checkers.log._index import LogIndex
from harness.checkers.log._sends import _place

# edge reason: (kind, key, value of the source op, value of the target op)
Edge = tuple[str, Any, Any, Any]


def _sccs(graph: dict[int, dict[int, Edge]]) -> list[list[int]]:
    """Strongly connected components with more than one node (iterative Tarjan)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        work: list[tuple[int, Any]] = [(root, iter(graph.get(root, ())))]
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on and index[nxt] < low[node]:
                    low[node] = index[nxt]
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _shortest_cycle(graph: dict[int, dict[int, Edge]], comp: list[int]) -> list[int]:
    """A shortest cycle through ``comp[0]`` inside the component (BFS)."""
    members = set(comp)
    start = comp[0]
    parent: dict[int, int] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, ()):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return [start, start]  # unreachable for a true component


def _link(graph: dict[int, dict[int, Edge]], a: int, b: int, why: Edge) -> None:
    graph.setdefault(a, {}).setdefault(b, why)
    graph.setdefault(b, {})


def _witness(ix: LogIndex, kind: str, cycle: list[int],
             graph: dict[int, dict[int, Edge]]) -> dict[str, Any]:
    ops = ix.ops
    steps = []
    parts = []
    for a, b in pairwise(cycle):
        rel, k, va, vb = graph[a][b]
        ia, ib = ops[a].index, ops[b].index
        if rel == "ww":
            steps.append({"type": "ww", "key": k, "value": va, "value'": vb,
                          "from": ia, "to": ib})
            parts.append(f"op {ia} sent {va!r} to key {k} before op {ib} sent {vb!r}")
        else:
            steps.append({"type": "wr", "key": k, "value": va, "from": ia, "to": ib})
            parts.append(f"op {ia} sent {va!r} to key {k}, which op {ib} read")
    first = steps[0]
    offsets = [ix.keys[s["key"]].value_offset(s["value"]) for s in steps]
    return {
        "key": first["key"],
        "process": ops[cycle[0]].process,
        "ops": [ops[p].index for p in cycle],
        "offsets": offsets,
        "values": [s["value"] for s in steps],
        "steps": steps,
        "message": f"{kind} cycle: " + "; ".join(parts),
    }


def g0(ix: LogIndex, limit: int) -> Found:
    found = Found(limit)
    ops = [p for p in ix.multi_send_ops if ix.committed(p)]
    if not ops:
        return found
    graph: dict[int, dict[int, Edge]] = {}
    direct: list[list[int]] = []
    per_key: dict[Any, list[tuple[int, int, Any]]] = {}
    for p in ops:
        for k, ws in ix.op_writes(p).items():
            ki = ix.keys[k]
            for o, v in ws:
                i = _place(ix, ki, o, v, p)
                if i is not None:
                    per_key.setdefault(k, []).append((i, p, v))
    for k, entries in per_key.items():
        ki = ix.keys[k]
        entries.sort(key=lambda e: e[0])
        for (i1, p1, v1), (i2, p2, v2) in pairwise(entries):
            if p1 != p2:
                _link(graph, p1, p2, ("ww", k, v1, v2))
            elif i2 > i1 + 1:
                # another writer's record between two of this op's: p1 -> q -> p1
                for o in ki.offs[i1 + 1:i2]:
                    mid = ki.log[o]
                    q = ki.writer(mid)
                    if q is not None and q != p1:
                        _link(graph, p1, q, ("ww", k, v1, mid))
                        _link(graph, q, p1, ("ww", k, mid, v2))
                        direct.append([p1, q, p1])
                        break
    done: set[int] = set()
    for cyc in direct:
        if cyc[0] in done:
            continue
        done.add(cyc[0])
        if found.take():
            found.add(_witness(ix, "G0", cyc, graph))
    for comp in _sccs(graph):
        if done.intersection(comp):
            continue
        if found.take():
            found.add(_witness(ix, "G0", _shortest_cycle(graph, comp), graph))
    return found


def g1c(ix: LogIndex, limit: int) -> Found:
    """Cycles of wr edges among ops that both send and poll.

    Shortcut: an edge w -> r is *forward* when w completes before r in the history.
    Forward edges alone cannot close a cycle, so a cycle needs a *backward* edge (a
    reader that completed before the writer it read from: legal, the writer's
    acknowledgement came late, but rare). Without one there is no G1c; with some, a
    cycle lies within the span of history positions from the earliest backward
    reader to the latest backward writer, and only that span is graphed.
    """
    found = Found(limit)
    rw_ops = ix.rw_ops
    if len(rw_ops) < 2:
        return found
    rw = {p for p, _ in rw_ops}
    keys = ix.keys
    lo, hi = len(ix.ops), -1
    for r, reads in rw_ops:
        for k, pairs in reads.items():
            ki = keys[k]
            w_ok = ki.w_ok
            for pair in pairs:
                w = w_ok.get(pair[1])
                if w is None:
                    w = ki.writer(pair[1])
                if w is not None and w > r and w in rw:
                    if r < lo:
                        lo = r
                    if w > hi:
                        hi = w
    if hi < 0:
        return found
    graph: dict[int, dict[int, Edge]] = {}
    for r, reads in rw_ops:
        if r < lo or r > hi:
            continue
        for k, pairs in reads.items():
            ki = keys[k]
            for pair in pairs:
                v = pair[1]
                w = ki.writer(v)
                if w is not None and w != r and lo <= w <= hi and w in rw:
                    _link(graph, w, r, ("wr", k, v, v))
    for comp in _sccs(graph):
        if found.take():
            found.add(_witness(ix, "G1c", _shortest_cycle(graph, comp), graph))
    return found
