"""One pass over a history that gathers the facts the group anomalies are judged on.

Facts, not verdicts. Real-time order is history order: op A *precedes* op B when A's
completion comes before B's invocation. ``acked`` is, at every point of the pass, the
highest offset per key of the acknowledged commits completed so far (with the position
of that completion); it is replaced, never mutated, when it grows, so an invocation
keeps the snapshot current at its position for free.

What counts as what (``commit`` and ``txn`` alike):

- an acknowledged commit is an ``ok`` ``commit`` (its value) or an ``ok`` ``txn`` with
  ``extra["offsets"]`` (the positions it added to the transaction: they became the
  group's committed offsets when EndTxn answered). An ``info`` commit or txn may or may
  not have committed: it proves nothing and is only counted. A ``fail`` txn certainly
  did not commit (its abort succeeded);
- a read of the group is a record an ``ok`` poll returned, or a poll micro-op of an
  ``ok`` or ``info`` txn, to a member (a process that subscribed). A ``fail`` txn's
  reads do not count: the client sought its consumer back to where they began, so
  the member reads them again (or its successor does, from the committed offset). An
  ``info`` txn's reads count as delivered (the records were returned to a member, and
  the txn may have committed its positions past them) but not as positions: the
  client is replaced after it;
- an acknowledged record is the value of an ``ok`` send or a send micro-op of an
  ``ok`` txn. A value of an aborted txn is never delivered to a read_committed
  consumer, and one of an ``info`` txn need not be.

Facts gathered:

- commits: every acknowledged commit with its offsets and the ``acked`` snapshot at
  its invocation;
- epochs: per process, each assignment it reported (``extra["membership"]["epoch"]``,
  or the generation when a history has no epoch) on a ``poll``, ``commit`` or ``txn``
  completion: the invocation position of the first op whose completion reports it
  (the join happened after that invocation), the ``acked`` snapshot there, and the
  first record of each key its ``ok`` polls and ``ok`` txns returned while it reported
  that epoch;
- owners: per (generation, key), each member (or process) that reported owning the key
  in that generation, with the first op that says so;
- fetches: every ``ok`` ``committed`` op (an OffsetFetch: ``{key: offset | None}``)
  with the ``acked`` snapshot at its invocation;
- reads: per key, the offsets read by the group (above); sends: per key, offset ->
  value of acknowledged records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import HistoryError
from harness.history import History, key_str

#: key -> (offset, position of the ok commit completion that acknowledged it)
Acked = dict[str, tuple[int, int]]


@dataclass(slots=True)
class Commit:
    inv: int
    done: int
    process: int | str
    offsets: dict[str, int]
    acked_at_inv: Acked
    #: the offsets were committed by a transaction (an ``ok`` txn), not a ``commit``
    txn: bool = False


@dataclass(slots=True)
class Fetch:
    inv: int
    done: int
    process: int | str
    #: key -> committed offset returned (None: the group had none)
    offsets: dict[str, int | None]
    acked_at_inv: Acked


@dataclass(slots=True)
class Epoch:
    process: int | str
    epoch: Any
    generation: int | None
    member: str | None
    keys: list[str]
    #: position of the invocation of the first op whose completion reported the epoch
    join: int
    #: position of that completion
    seen: int
    acked_at_join: Acked
    #: key -> (offset, value, position of the ok poll) of the first record read
    first: dict[str, tuple[int, Any, int]] = field(default_factory=dict)


@dataclass(slots=True)
class GroupIndex:
    ops: list[Any]
    commits: list[Commit] = field(default_factory=list)
    fetches: list[Fetch] = field(default_factory=list)
    epochs: list[Epoch] = field(default_factory=list)
    #: (generation, key) -> {owner: position of the first completion reporting it}
    owners: dict[tuple[int, str], dict[str, tuple[int | str, int]]] = field(
        default_factory=dict)
    reads: dict[str, set[int]] = field(default_factory=dict)
    sends: dict[str, dict[int, tuple[Any, int]]] = field(default_factory=dict)
    acked: Acked = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    #: txn completions of members: ``ok`` / ``info`` (with offsets), ``ok-empty`` /
    #: ``info-empty`` (without), ``fail`` (aborted: its reads and offsets are ignored)
    txn_counts: dict[str, int] = field(default_factory=dict)
    fetch_counts: dict[str, int] = field(default_factory=dict)
    members: set[int | str] = field(default_factory=set)
    observations: int = 0
    generations: set[int] = field(default_factory=set)


def how(op: Any) -> str:
    """For witness messages: how a commit or a record was acknowledged."""
    return " in a transaction" if op.f == "txn" else ""


def _offsets(value: Any, pos: int, what: str = "commit",
             nullable: bool = False, field: str = "value") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HistoryError(f"op at position {pos}: a {what}'s {field} must be a map "
                           f"{{key: offset}}, got {value!r}")
    out: dict[str, Any] = {}
    for k, off in value.items():
        if off is None and nullable:
            pass
        elif isinstance(off, bool) or not isinstance(off, int):
            raise HistoryError(f"op at position {pos}: {what} offset of key {k!r} must be "
                               f"an integer, got {off!r}")
        try:
            out[key_str(k)] = off
        except ValueError as e:
            raise HistoryError(f"op at position {pos}: {e}") from None
    return out


def _membership(m: Any, pos: int) -> tuple[Any, int | None, str | None, list[str]] | None:
    if m is None:
        return None
    if not isinstance(m, dict):
        raise HistoryError(f"op at position {pos}: membership must be a map with "
                           f"generation, member, keys and epoch, got {m!r}")
    gen = m.get("generation")
    if gen is not None and (isinstance(gen, bool) or not isinstance(gen, int)):
        raise HistoryError(f"op at position {pos}: membership generation must be an "
                           f"integer or null, got {gen!r}")
    keys = m.get("keys") or []
    if not isinstance(keys, list):
        raise HistoryError(f"op at position {pos}: membership keys must be a list, "
                           f"got {keys!r}")
    member = m.get("member")
    epoch = m.get("epoch", gen)
    return epoch, gen, (str(member) if member else None), [key_str(k) for k in keys]


def build(history: History) -> GroupIndex:
    ops, partner = history.ops, history.partner
    ix = GroupIndex(ops=ops)
    acked: Acked = {}
    #: position of each open invocation -> the acked snapshot there
    snap: dict[int, Acked] = {}
    current: dict[int | str, Epoch] = {}
    for pos, op in enumerate(ops):
        f, typ = op.f, op.type
        if typ == "invoke":
            if f == "subscribe":
                ix.members.add(op.process)
            if f in ("commit", "poll", "committed", "txn"):
                snap[pos] = acked
            continue
        inv = partner[pos] if pos < len(partner) else -1
        at_inv = snap.pop(inv, acked) if inv >= 0 else acked
        if f == "send":
            if typ == "ok":
                _acknowledged(ix, op.value, pos)
            continue
        if f == "committed":
            counts_f = ix.fetch_counts
            counts_f[typ] = counts_f.get(typ, 0) + 1
            if typ == "ok":
                ix.fetches.append(Fetch(inv=inv, done=pos, process=op.process,
                                        offsets=_offsets(op.value, pos, "committed", True),
                                        acked_at_inv=at_inv))
            continue
        if f not in ("commit", "poll", "txn"):
            continue
        ep = _observe(ix, current, op, pos, inv, at_inv)
        offs: dict[str, int] | None = None
        if f == "commit":
            counts = ix.counts
            counts[typ] = counts.get(typ, 0) + 1
            if typ == "ok":
                offs = _offsets(op.value, pos)
                if not offs:
                    counts["empty"] = counts.get("empty", 0) + 1
        elif f == "poll":
            if typ == "ok":
                _read(ix, op, pos, ep)
        else:  # a txn
            counts = ix.txn_counts if op.process in ix.members else {}
            if typ == "fail":  # aborted: nothing it read or committed counts
                counts["fail"] = counts.get("fail", 0) + 1
                continue
            given = op.extra.get("offsets") if op.extra else None
            offs = _offsets(given, pos, "txn", field="offsets")
            kind = typ if offs else f"{typ}-empty"
            counts[kind] = counts.get(kind, 0) + 1
            if typ == "ok":
                _acknowledged(ix, op.value, pos)
            _read(ix, op, pos, ep if typ == "ok" else None)
        if typ != "ok" or not offs:
            continue
        ix.commits.append(Commit(inv=inv, done=pos, process=op.process, offsets=offs,
                                 acked_at_inv=at_inv, txn=f == "txn"))
        grown = {k: o for k, o in offs.items() if o > acked.get(k, (-1, -1))[0]}
        if grown:
            acked = {**acked, **{k: (o, pos) for k, o in grown.items()}}
    ix.acked = acked
    return ix


def _acknowledged(ix: GroupIndex, value: Any, pos: int) -> None:
    """The send micro-ops of an ``ok`` send or txn: acknowledged records (keys are
    already in their string form: `History` normalises them)."""
    if not isinstance(value, list):
        return
    for mop in value:
        if isinstance(mop, list) and len(mop) == 3 and mop[0] == "send" \
                and isinstance(mop[2], list) and len(mop[2]) == 2:
            off, v = mop[2]
            if isinstance(off, int):
                ix.sends.setdefault(mop[1], {})[off] = (v, pos)


def _observe(ix: GroupIndex, current: dict[int | str, Epoch], op: Any, pos: int, inv: int,
             at_inv: Acked) -> Epoch | None:
    """The membership a completion reports: its epoch (a new one starts here) and the
    keys it owns in its generation."""
    m = _membership(op.extra.get("membership"), pos) if op.extra else None
    if m is None:
        return None
    ix.observations += 1
    epoch, gen, member, keys = m
    ep = current.get(op.process)
    if ep is None or ep.epoch != epoch:
        ep = Epoch(process=op.process, epoch=epoch, generation=gen, member=member,
                   keys=keys, join=inv if inv >= 0 else pos, seen=pos, acked_at_join=at_inv)
        current[op.process] = ep
        ix.epochs.append(ep)
    if gen is not None:
        ix.generations.add(gen)
        owner = member or f"process {op.process}"
        for k in keys:
            ix.owners.setdefault((gen, k), {}).setdefault(owner, (op.process, pos))
    return ep


def _read(ix: GroupIndex, op: Any, pos: int, ep: Epoch | None) -> None:
    """The poll micro-ops of a poll or txn: reads of the group if a member made them,
    and the first record of each key of ``ep`` (positions: ``ok`` completions only)."""
    if not isinstance(op.value, list):
        return
    member_reads = op.process in ix.members
    for mop in op.value:
        if not isinstance(mop, list) or len(mop) != 2 or mop[0] != "poll" \
                or not isinstance(mop[1], dict):
            continue
        for k, pairs in mop[1].items():
            if not pairs:
                continue
            if ep is not None and k not in ep.first:
                off, v = pairs[0]
                ep.first[k] = (off, v, pos)
            if member_reads:
                rs = ix.reads.setdefault(k, set())
                for off, _ in pairs:
                    rs.add(off)
