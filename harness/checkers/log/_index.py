"""One pass over a history that gathers every fact the log anomalies are judged on.

Facts, not verdicts: the pass records, per key, what each offset holds and who wrote
and read each value, and it records *candidate* pairs of reads or sends whose offsets
are not adjacent. Whether a candidate is an anomaly depends on the final version order
(which offsets exist at all), known only at the end; the family modules decide.

Version order (Jepsen's, from offsets): a key's log maps offset -> value. It is built
from every poll (``ok``, ``info`` and ``fail`` alike: a consumer must never return
bad data, whatever happens to its transaction) and from the sends that must have
committed: ``ok`` ones, and ``info`` ones of which some value was read by an ``ok``
op. Failed sends never enter it. Gaps in offsets are normal (transaction markers), so
positions are *dense indices*: the rank of an offset among the offsets known to hold a
record. A value's index is that of the last offset it appears at.

Sequencing rules (per process, as Jepsen's checker):
- ``assign``/``subscribe`` (``ok`` or ``info``) keep the remembered last read and last
  send only of keys still in the new list; ``seek-to-beginning`` forgets the reads;
- a ``crash`` op, and any ``info`` completion, forget the process's state: Jepsen
  gives the process a fresh client (and a new process id) after an indefinite result;
- only ``ok`` polls move a process's remembered position; ``fail`` and ``info`` polls
  are checked against it (an aborted transaction must rewind the consumer);
- an empty read of a key does not move the remembered position.

Cost: every read pair costs one dict lookup and one comparison when it agrees with
what is known (the common case); anything new goes to `_observe`. Candidates are
tuples, created only where offsets are not adjacent; a step over one offset unknown
at the time (a transaction marker, in a correct run) is only noted in ``gaps``, and
`build` indexes again, recording everything, if a record ever turns up there.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Final

from harness.errors import HistoryError
from harness.history import History

_MISSING: Final[Any] = object()
KAFKA_FS: Final[frozenset[str]] = frozenset(("send", "poll", "txn"))


class KeyIndex:
    """Everything known about one key (one topic-partition)."""

    __slots__ = (
        "conflicts", "dups", "first_off", "gaps", "log", "n_fail", "n_info",
        "offs", "ok_readers", "src", "w_fail", "w_info", "w_ok")

    def __init__(self) -> None:
        #: offset -> the first value seen there
        self.log: dict[int, Any] = {}
        #: offset -> position of the op that first showed ``log[offset]``
        self.src: dict[int, int] = {}
        #: offset -> {value: position of first op showing it there}, only for offsets
        #: seen with more than one value
        self.conflicts: dict[int, dict[Any, int]] = {}
        #: value -> the first offset it was seen at
        self.first_off: dict[Any, int] = {}
        #: value -> {offset: position}, only for values seen at more than one offset
        self.dups: dict[Any, dict[int, int]] = {}
        #: value -> position of the first ok op that read it
        self.ok_readers: dict[Any, int] = {}
        #: value -> position of the completion that sent it, by completion type
        self.w_ok: dict[Any, int] = {}
        self.w_info: dict[Any, int] = {}
        self.w_fail: dict[Any, int] = {}
        #: info and fail send micro-ops (ok ones: ``len(w_ok)``, values being unique)
        self.n_info = 0
        self.n_fail = 0
        #: offsets a read stepped over (o - 1 to o + 1) while nothing was known there:
        #: transaction markers, unless a record shows up there later (see `build`)
        self.gaps: set[int] = set()
        #: sorted offsets holding a record (set by `LogIndex.finish`)
        self.offs: list[int] = []

    def writer(self, v: Any) -> int | None:
        """Position of the completion that sent ``v`` (None: nobody did)."""
        p = self.w_ok.get(v)
        if p is None:
            p = self.w_info.get(v)
            if p is None:
                p = self.w_fail.get(v)
        return p

    def dense(self, offset: int) -> int:
        """The dense index of an offset known to hold a record."""
        return bisect_left(self.offs, offset)

    def delta(self, o1: int, o2: int) -> int:
        """dense(o2) - dense(o1) for offsets known to hold records. Small forward gaps
        (transaction markers: the common case) are counted directly."""
        if o1 < o2 <= o1 + 8:
            log = self.log
            d = 1
            for o in range(o1 + 1, o2):
                if o in log:
                    d += 1
            return d
        offs = self.offs
        return bisect_left(offs, o2) - bisect_left(offs, o1)

    def value_offset(self, v: Any) -> int | None:
        """The last offset ``v`` was seen at (None: not in the version order)."""
        d = self.dups.get(v)
        if d is not None:
            return max(d)
        return self.first_off.get(v)

    def value_index(self, v: Any) -> int | None:
        o = self.value_offset(v)
        return None if o is None else bisect_left(self.offs, o)

    def between(self, lo: int, hi: int) -> list[Any]:
        """Values at the dense indices strictly between those of offsets lo < hi."""
        offs, log = self.offs, self.log
        return [log[o] for o in offs[bisect_left(offs, lo) + 1:bisect_left(offs, hi)]]


def _observe(ki: KeyIndex, o: Any, v: Any, p: int) -> None:
    """Record that the op at position ``p`` shows value ``v`` at offset ``o``."""
    if type(o) is not int:
        raise TypeError(f"an offset must be an integer, got {o!r}")
    log = ki.log
    cur = log.get(o, _MISSING)
    if cur is _MISSING:
        log[o] = v
        ki.src[o] = p
    elif cur != v:
        c = ki.conflicts.get(o)
        if c is None:
            c = ki.conflicts[o] = {cur: ki.src[o]}
        c.setdefault(v, p)
    fo = ki.first_off.get(v, _MISSING)
    if fo is _MISSING:
        ki.first_off[v] = o
    elif fo != o:
        d = ki.dups.get(v)
        if d is None:
            d = ki.dups[v] = {fo: ki.src.get(fo, p)}
        d.setdefault(o, p)


class LogIndex:
    """The facts of one history. Candidate tuples (positions are list positions):

    - ``poll_pairs``: (key, off1, v1, pos1, off2, v2, pos2, process): a process's last
      ok read of a key, then the first read of the next op to read it, where off2 is
      not off1 + 1;
    - ``int_poll_pairs``: (key, off1, v1, off2, v2, pos): consecutive reads within one
      op where off2 is not off1 + 1;
    - ``send_pairs``: (key, off1, v1, pos1, off2, v2, pos2, process): a process's last
      send to a key, then the first send of its next op to it, unless both offsets are
      known and increase;
    - ``int_send_pairs``: (key, off1, v1, off2, v2, pos, type): consecutive sends to a
      key within one op, unless it is ok and the offsets are adjacent.
    """

    def __init__(self, history: History, exact: bool = False) -> None:
        self.history = history
        #: record every non-adjacent pair as a candidate (no marker shortcut)
        self.exact = exact
        self.ops = history.ops
        self.keys: dict[str, KeyIndex] = {}
        self.by_f: dict[str, dict[str, int]] = {}
        self.poll_pairs: list[tuple[Any, ...]] = []
        self.int_poll_pairs: list[tuple[Any, ...]] = []
        self.send_pairs: list[tuple[Any, ...]] = []
        self.int_send_pairs: list[tuple[Any, ...]] = []
        #: (position, key, value): ops that read a value they themselves sent
        self.precommitted: list[tuple[int, Any, Any]] = []
        #: info completions that sent something (committed or not: see `finish`)
        self.info_sends: list[int] = []
        #: info completions proven committed: some value they sent was read by an ok op
        self.committed_info: set[int] = set()
        #: ok/info completions that both send and poll (G1c candidates), with what
        #: they read (key -> [[offset, value], ...])
        self.rw_ops: list[tuple[int, dict[Any, list[Any]]]] = []
        #: ok/info completions that send two or more values (G0 candidates)
        self.multi_send_ops: list[int] = []
        self.n_kafka_ops = 0

    # ------------------------------------------------------------------ helpers
    def op_value(self, p: int) -> Any:
        """The micro-ops of the completion at ``p`` (its invocation's if it has none)."""
        op = self.ops[p]
        val = op.value
        if val is None:
            j = self.history.partner[p] if p < len(self.history.partner) else -1
            if j >= 0:
                val = self.ops[j].value
        return val or []

    def op_reads(self, p: int) -> dict[Any, list[Any]]:
        """key -> values read by the op at ``p``, in order (Jepsen's op-reads)."""
        out: dict[Any, list[Any]] = {}
        for mop in self.op_value(p):
            if mop[0] == "poll" and len(mop) > 1:
                for k, pairs in mop[1].items():
                    out.setdefault(k, []).extend(pair[1] for pair in pairs)
        return out

    def op_writes(self, p: int) -> dict[Any, list[tuple[Any, Any]]]:
        """key -> (offset or None, value) sent by the op at ``p``, in order."""
        out: dict[Any, list[tuple[Any, Any]]] = {}
        for mop in self.op_value(p):
            if mop[0] == "send":
                x = mop[2]
                if type(x) is list:
                    out.setdefault(mop[1], []).append((x[0], x[1]))
                else:
                    out.setdefault(mop[1], []).append((None, x))
        return out

    def committed(self, p: int) -> bool:
        """Jepsen's must-have-committed?: ok, or info with some value read by an ok op."""
        t = self.ops[p].type
        return t == "ok" or (t == "info" and p in self.committed_info)

    # ------------------------------------------------------------------ the pass
    def scan(self) -> LogIndex:
        ops = self.ops
        partner = self.history.partner
        keys = self.keys
        by_f = self.by_f
        poll_pairs = self.poll_pairs
        int_poll_pairs = self.int_poll_pairs
        send_pairs = self.send_pairs
        int_send_pairs = self.int_send_pairs
        info_sends = self.info_sends
        rw_ops = self.rw_ops
        multi_send_ops = self.multi_send_ops
        last_read: dict[Any, dict[Any, tuple[int, Any, int]]] = {}
        last_send: dict[Any, dict[Any, tuple[Any, Any, int]]] = {}
        observe = _observe
        ls: dict[Any, tuple[Any, Any, int]] = {}
        exact = self.exact
        n_kafka = 0
        p = -1
        try:
            for p, op in enumerate(ops):
                t = op.type
                f = op.f
                cnt = by_f.get(f)
                if cnt is None:
                    cnt = by_f[f] = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
                cnt[t] += 1
                if t == "invoke":
                    continue
                proc = op.process
                if f in KAFKA_FS:
                    n_kafka += 1
                    val = op.value
                    if val is None:
                        j = partner[p] if p < len(partner) else -1
                        val = ops[j].value if j >= 0 else None
                        if val is None:
                            continue
                    reads_map: Any = None
                    send_list: Any = ()
                    if len(val) == 1:
                        mop = val[0]
                        if mop[0] == "poll":
                            if len(mop) > 1:
                                reads_map = mop[1]
                        else:
                            send_list = val
                    else:
                        sl = []
                        owned = False
                        for mop in val:
                            if mop[0] == "poll":
                                if len(mop) > 1:
                                    m = mop[1]
                                    if reads_map is None:
                                        reads_map = m
                                    else:
                                        if not owned:
                                            reads_map = {k2: list(v2)
                                                         for k2, v2 in reads_map.items()}
                                            owned = True
                                        for k2, v2 in m.items():
                                            e = reads_map.get(k2)
                                            if e is None:
                                                reads_map[k2] = list(v2)
                                            else:
                                                e.extend(v2)
                            else:
                                sl.append(mop)
                        send_list = sl
                    # ---- reads
                    if reads_map:
                        ok = t == "ok"
                        lr = last_read.get(proc)
                        if lr is None:
                            lr = last_read[proc] = {}
                        for k, pairs in reads_map.items():
                            if not pairs:
                                continue
                            ki = keys.get(k)
                            if ki is None:
                                ki = keys[k] = KeyIndex()
                            lget = ki.log.get
                            rd = ki.ok_readers
                            first = pairs[0]
                            nxt = first[0]
                            prev = lr.get(k)
                            if prev is not None and nxt != prev[0] + 1:
                                if nxt == prev[0] + 2 and not exact \
                                        and nxt - 1 not in ki.log:
                                    ki.gaps.add(nxt - 1)
                                else:
                                    poll_pairs.append(
                                        (k, prev[0], prev[1], prev[2], nxt, first[1], p, proc))
                            pv = None
                            if ok:
                                for o, v in pairs:
                                    if o != nxt:
                                        if type(o) is not int:
                                            raise TypeError(
                                                f"an offset must be an integer, got {o!r}")
                                        if o == nxt + 1 and not exact and nxt not in ki.log:
                                            ki.gaps.add(nxt)
                                        else:
                                            int_poll_pairs.append((k, nxt - 1, pv, o, v, p))
                                    if lget(o, _MISSING) != v:
                                        observe(ki, o, v, p)
                                    if v not in rd:
                                        rd[v] = p
                                    nxt = o + 1
                                    pv = v
                            else:
                                for o, v in pairs:
                                    if o != nxt:
                                        if type(o) is not int:
                                            raise TypeError(
                                                f"an offset must be an integer, got {o!r}")
                                        if o == nxt + 1 and not exact and nxt not in ki.log:
                                            ki.gaps.add(nxt)
                                        else:
                                            int_poll_pairs.append((k, nxt - 1, pv, o, v, p))
                                    if lget(o, _MISSING) != v:
                                        observe(ki, o, v, p)
                                    nxt = o + 1
                                    pv = v
                            if ok:
                                lr[k] = (nxt - 1, pv, p)
                    # ---- sends
                    if send_list:
                        if t == "info":
                            info_sends.append(p)
                        counts = t != "fail"
                        if counts:
                            got = last_send.get(proc)
                            if got is None:
                                got = last_send[proc] = {}
                            ls = got
                        if len(send_list) == 1:
                            mop = send_list[0]
                            k = mop[1]
                            x = mop[2]
                            if type(x) is list:
                                o, v = x
                            else:
                                o = None
                                v = x
                            ki = keys.get(k)
                            if ki is None:
                                ki = keys[k] = KeyIndex()
                            if t == "ok":
                                ki.w_ok[v] = p
                                if o is not None:
                                    if type(o) is not int:
                                        raise TypeError(
                                            f"an offset must be an integer, got {o!r}")
                                    klog = ki.log
                                    cur = klog.get(o, _MISSING)
                                    if cur is _MISSING:
                                        fo = ki.first_off
                                        if v not in fo:
                                            klog[o] = v
                                            ki.src[o] = p
                                            fo[v] = o
                                        else:
                                            observe(ki, o, v, p)
                                    elif cur != v:
                                        observe(ki, o, v, p)
                            elif t == "info":
                                ki.w_info[v] = p
                                ki.n_info += 1
                            else:
                                ki.w_fail[v] = p
                                ki.n_fail += 1
                            if counts:
                                prev2 = ls.get(k)
                                if prev2 is not None:
                                    po = prev2[0]
                                    if o is None or po is None or o <= po:
                                        send_pairs.append(
                                            (k, po, prev2[1], prev2[2], o, v, p, proc))
                                ls[k] = (o, v, p)
                        else:
                            if t != "fail":
                                multi_send_ops.append(p)
                            here: dict[Any, tuple[Any, Any]] = {}
                            for mop in send_list:
                                k = mop[1]
                                x = mop[2]
                                if type(x) is list:
                                    o, v = x
                                else:
                                    o = None
                                    v = x
                                ki = keys.get(k)
                                if ki is None:
                                    ki = keys[k] = KeyIndex()
                                if t == "ok":
                                    ki.w_ok[v] = p
                                    if o is not None and ki.log.get(o, _MISSING) != v:
                                        observe(ki, o, v, p)
                                elif t == "info":
                                    ki.w_info[v] = p
                                    ki.n_info += 1
                                else:
                                    ki.w_fail[v] = p
                                    ki.n_fail += 1
                                before = here.get(k)
                                if before is None:
                                    if counts:
                                        prev2 = ls.get(k)
                                        if prev2 is not None:
                                            po = prev2[0]
                                            if o is None or po is None or o <= po:
                                                send_pairs.append(
                                                    (k, po, prev2[1], prev2[2], o, v, p, proc))
                                else:
                                    bo = before[0]
                                    if t != "ok" or o is None or bo is None or o != bo + 1:
                                        int_send_pairs.append((k, bo, before[1], o, v, p, t))
                                here[k] = (o, v)
                            if counts:
                                for k, (o, v) in here.items():
                                    ls[k] = (o, v, p)
                        if reads_map:
                            if t != "fail":
                                rw_ops.append((p, reads_map))
                            for mop in send_list:
                                pairs = reads_map.get(mop[1])
                                if pairs:
                                    x = mop[2]
                                    v = x[1] if type(x) is list else x
                                    for pair in pairs:
                                        if pair[1] == v:
                                            self.precommitted.append((p, mop[1], v))
                                            break
                    if t == "info":
                        last_read.pop(proc, None)
                        last_send.pop(proc, None)
                elif f == "assign" or f == "subscribe":
                    if t == "fail":
                        continue
                    if t == "info":
                        last_read.pop(proc, None)
                        last_send.pop(proc, None)
                        continue
                    kept = set(op.value or ())
                    lr = last_read.get(proc)
                    if lr:
                        if op.extra.get("seek-to-beginning?") or \
                                op.extra.get("seek-to-beginning"):
                            lr.clear()
                        else:
                            for k in [k for k in lr if k not in kept]:
                                del lr[k]
                    ls2 = last_send.get(proc)
                    if ls2:
                        for k in [k for k in ls2 if k not in kept]:
                            del ls2[k]
                elif f == "crash" or (t == "info" and isinstance(proc, int)):
                    last_read.pop(proc, None)
                    last_send.pop(proc, None)
        except (TypeError, ValueError, IndexError, AttributeError, KeyError) as e:
            op = ops[p]
            raise HistoryError(
                f"op {op.index} (process {op.process!r}, {op.type} {op.f}) is malformed: {e}",
                expected="micro-ops [\"send\", key, value | [offset, value]] and "
                         "[\"poll\", {key: [[offset, value], ...]}]") from None
        self.n_kafka_ops = n_kafka
        return self

    def finish(self) -> LogIndex:
        """Add the sends of info ops proven committed; sort each key's offsets."""
        keys = self.keys
        for p in self.info_sends:
            writes = self.op_writes(p)
            if any(v in keys[k].ok_readers for k, ws in writes.items() for _, v in ws):
                self.committed_info.add(p)
                for k, ws in writes.items():
                    ki = keys[k]
                    for o, v in ws:
                        if o is not None and ki.log.get(o, _MISSING) != v:
                            try:
                                _observe(ki, o, v, p)
                            except TypeError as e:
                                op = self.ops[p]
                                raise HistoryError(
                                    f"op {op.index} (process {op.process!r}) is malformed: {e}"
                                ) from None
        for ki in keys.values():
            ki.offs = sorted(ki.log)
        return self


def build(history: History) -> LogIndex:
    """Index ``history`` (raises HistoryError naming the first malformed op).

    The first pass does not record reads that step over a single offset unknown at
    the time (nearly always a transaction marker); if a record later turns up at such
    an offset, the skip may be real, and the history is indexed again recording every
    candidate. Correct histories with transactions take one pass.
    """
    ix = LogIndex(history).scan().finish()
    if any(ki.gaps and not ki.gaps.isdisjoint(ki.log) for ki in ix.keys.values()):
        ix = LogIndex(history, exact=True).scan().finish()
    return ix
