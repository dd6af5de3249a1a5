"""The search: is one partition's history linearizable under a model?

Wing & Gong's backtracking search with Lowe's just-in-time linearization, as Porcupine
does it. The history becomes a doubly linked list of call and return entries in time
order (a call before a return at equal times, so touching intervals overlap). Walking
the list from the front, a call may be linearized now if the model accepts it from the
current state; it is then lifted out of the list (call and return) and the walk starts
again from the front. Meeting a return means its operation should have been
linearized already: undo the last choice and try the next call after it. Success is
an empty list; backtracking from the empty stack means no linearization exists.

Memoization (Lowe): a configuration is the set of linearized operations (a bitset,
a Python int) and the model state; a configuration seen before is never explored
again. States are interned to small integers once, so the memo is one set of bitsets
per state and each operation's transitions are cached per state id (a step is pure,
so the cache is always valid; the model is called once per (operation, state)).
Nondeterministic models are searched over sets of states (the subset construction),
which keeps the memo sound.

Operations with an unknown outcome (``ret`` None) have no return entry: they may be
linearized any time after their call, or never. They sit in a second list and are
tried after the candidates with a known outcome. The search succeeds as soon as every
operation with a known outcome is linearized.

Pruning, each rule sound (it only drops configurations that cannot lead to a
linearization no other explored configuration reaches):

- Dominance: a configuration with the same known-outcome set and state as one seen
  before, plus extra unknown-outcome operations, is dominated (the other can do all
  it can, by never applying those). The memo keeps, per (known set, state), the
  minimal unknown-outcome sets.
- Greedy reads (``Model.is_read_only``): a read that is legal now is linearized at
  once and its alternatives are not tried (it commutes to the front of any
  completion); if its successor was already explored, this configuration fails too.
- Dead ends (``Model.dead_end``): a candidate read that is illegal now and that no
  remaining operation can make legal fails the configuration; so does one of the
  first reads still to come (look-ahead: a few, more once the search has worked
  hard), which cuts a branch as soon as the state diverges from what a later read saw.

The search is pure: the deadline check, the stop flag and the clock are passed in.
Limits give ``unknown``, never a guess: ``deadline`` (a clock value) and
``memo_cap`` (memo entries; each is roughly a bitset of n/8 bytes plus 100; the
distinct model states are capped at four times as many).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.checkers.linearizable._model import ILLEGAL, Model, Operation, _identity_key

Verdict = Literal["ok", "illegal", "unknown"]

_CHECK_EVERY = 2048  # pushes+pops between deadline / stop checks


@dataclass(slots=True)
class Stuck:
    """Where the search got furthest (for the explanation of an illegal result): of
    all configurations that could not be extended, the one whose deadline (the first
    return not yet linearized) is latest, then the deepest. `_explain` then checks
    that the history up to the blocking operation's return is the shortest failing
    prefix, which makes the blame exact.
    """

    #: operations (positions in the partition's list) in linearization order.
    prefix: list[int]
    #: interned state id after the prefix (index into SearchResult.states).
    state: int
    #: positions of the operations that were candidates next (calls before `blocking`'s
    #: return), none of which leads to a linearization.
    candidates: list[int]
    #: the operation whose return was reached without it being linearized.
    blocking: int | None


@dataclass(slots=True)
class SearchResult:
    verdict: Verdict
    #: why unknown: "timeout", "memory", "stopped".
    reason: str | None = None
    #: a full linearization (positions) when ok.
    linearization: list[int] | None = None
    stuck: Stuck | None = None
    #: interned states (model states, or frozensets of them when nondeterministic).
    states: list[Any] = field(default_factory=list)
    #: engine state -> the model state(s) it stands for.
    unwrap: Callable[[Any], list[Any]] = field(default=lambda es: [es])
    memo_entries: int = 0
    model_steps: int = 0
    backtracks: int = 0


class _Limit(Exception):
    def __init__(self, reason: str, memo: int, backtracks: int) -> None:
        self.reason = reason
        self.memo = memo
        self.backtracks = backtracks


class _Keyed:
    """A model state made hashable by the model's ``state_key``."""

    __slots__ = ("hash", "key", "state")

    def __init__(self, state: Any, key: Hashable) -> None:
        self.state = state
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and self.key == other.key


def op_functions(ops: Sequence[Operation], model: Model,
                 ) -> tuple[list[Callable[[Any], Any]], Any, Callable[[Any], list[Any]]]:
    """Per-operation step functions ``state -> next state | ILLEGAL`` over engine
    states (hashable by themselves), the initial engine state, and a function giving
    the model state(s) an engine state stands for."""
    if model.nondeterministic:
        skey = model.state_key
        mstep = model.step

        def wrap_set(ss: Any) -> Any:
            return frozenset(_Keyed(s, skey(s)) for s in ss)

        def nd(inp: Any, out: Any) -> Callable[[Any], Any]:
            def f(cur: frozenset[_Keyed]) -> Any:
                nxt = {_Keyed(t, skey(t)) for k in cur for t in mstep(k.state, inp, out)}
                return frozenset(nxt) if nxt else ILLEGAL
            return f

        fns = [nd(op.input, op.output) for op in ops]
        return fns, wrap_set([model.init()]), lambda es: [k.state for k in es]
    if model.compile_step is not None and model.state_key is _identity_key:
        comp = model.compile_step
        return ([comp(op.input, op.output) for op in ops], model.init(),
                lambda es: [es])
    mstep = model.step
    if model.state_key is _identity_key:
        def det(inp: Any, out: Any) -> Callable[[Any], Any]:
            def f(cur: Any) -> Any:
                ok, t = mstep(cur, inp, out)
                return t if ok else ILLEGAL
            return f
        return [det(op.input, op.output) for op in ops], model.init(), lambda es: [es]
    skey = model.state_key

    def detk(inp: Any, out: Any) -> Callable[[Any], Any]:
        def f(cur: _Keyed) -> Any:
            ok, t = mstep(cur.state, inp, out)
            return _Keyed(t, skey(t)) if ok else ILLEGAL
        return f
    init = model.init()
    return ([detk(op.input, op.output) for op in ops], _Keyed(init, skey(init)),
            lambda es: [es.state])


def search(ops: Sequence[Operation], model: Model, *,
           deadline: float | None = None,
           clock: Callable[[], float] | None = None,
           memo_cap: int | None = None,
           should_stop: Callable[[], bool] | None = None,
           prune: bool = True) -> SearchResult:
    """Decide one partition. ``deadline`` is compared with ``clock()``. ``prune``
    False turns the model's dead-end pruning off (slower; the deepest stuck
    configuration it records then shows everything that could go before the
    culprit, which is what an explanation wants)."""
    n = len(ops)
    fns, init_state, unwrap = op_functions(ops, model)
    states: list[Any] = [init_state]
    ids: dict[Any, int] = {init_state: 0}
    seen: list[dict[int, list[int]] | None] = [None]

    # -- the entry lists --------------------------------------------------------------
    # Operations with a known outcome have a call and a return entry in the main list,
    # in time order, between the head (entry 0) and the tail (entry m+1, which acts as
    # a return at infinity). Operations with an unknown outcome have only a call entry,
    # kept in a second list (head ihead, tail itail). rank[e] is an entry's position in
    # the merged time order (a call before a return at equal times).
    # match[e]: for a main call its return entry; for a return or the tail -1.
    events: list[tuple[int, int, int]] = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        if op.ret is not None:
            events.append((op.ret, 1, i))
    events.sort()
    main = [ev for ev in events if ops[ev[2]].ret is not None]
    info = [ev for ev in events if ops[ev[2]].ret is None]
    required = len(main) // 2
    m = len(main)
    k = len(info)
    tail = m + 1
    ihead = m + 2
    itail = m + 3 + k
    size = itail + 1
    big = len(events) + 1
    op_of = [-1] * size
    match = [-1] * size
    rank = [big] * size
    is_info = [False] * size
    call_entry = [0] * n
    rank_of = {ev: r for r, ev in enumerate(events)}
    for pos, ev in enumerate(main, 1):
        i = ev[2]
        op_of[pos] = i
        rank[pos] = rank_of[ev]
        if ev[1] == 0:
            call_entry[i] = pos
        else:
            match[call_entry[i]] = pos
    for pos, ev in enumerate(info, ihead + 1):
        op_of[pos] = ev[2]
        rank[pos] = rank_of[ev]
        is_info[pos] = True
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    nxt[tail] = tail
    nxt[itail] = itail
    prv[ihead] = -1
    dead_fn = None
    if (prune and model.dead_end is not None and not model.nondeterministic
            and model.state_key is _identity_key):
        dead_fn = model.dead_end(ops)
    ro = model.is_read_only
    # Greedy reads need a read to leave the state unchanged; on the sets of states a
    # nondeterministic model is searched over, a read narrows the set, so no.
    obs = [op.ret is not None and ro is not None and not model.nondeterministic
           and bool(ro(op.input, op.output)) for op in ops]
    bit = [1 << i for i in range(n)]
    trans: list[dict[int, int]] = [{} for _ in range(n)]
    ahead = None
    if dead_fn is not None:
        ahead = _lookahead(dead_fn, fns, states, obs)
    lists = _Lists(nxt, prv, match, op_of, rank, is_info, tail, ihead)

    result = SearchResult(verdict="unknown", states=states, unwrap=unwrap)
    if required == 0:
        result.verdict = "ok"
        result.linearization = []
        return result
    try:
        verdict, stack, stuck, memo, backtracks = _loop(
            0, required, fns, states, ids, seen, trans, lists, obs, bit, dead_fn, ahead,
            deadline if clock is not None else None, clock, memo_cap, should_stop)
        result.verdict = verdict
        if verdict == "ok":
            result.linearization = [op_of[x[0]] for x in stack]
        result.stuck = stuck
    except _Limit as lim:
        result.verdict = "unknown"
        result.reason = lim.reason
        memo, backtracks = lim.memo, lim.backtracks
    result.memo_entries = memo
    result.model_steps = sum(len(t) for t in trans)
    result.backtracks = backtracks
    return result


@dataclass(slots=True)
class _Lists:
    nxt: list[int]
    prv: list[int]
    match: list[int]
    op_of: list[int]
    rank: list[int]
    is_info: list[bool]
    tail: int
    ihead: int


#: (call entry, state before, known-outcome bits before, unknown-outcome bits before,
#: boundary entry for an unknown-outcome call)
_Frame = tuple[int, int, int, int, int]


def _add_antichain(fs: list[int], ni: int) -> bool:
    """Record unknown-outcome set ``ni`` for a (known set, state) unless a subset of it
    is recorded already (that configuration dominates: it can do everything ``ni``'s
    can, by never applying the extra unknown-outcome operations). Keeps ``fs``
    free of supersets."""
    for f in fs:
        if not (f & ~ni):
            return False
    if fs:
        fs[:] = [f for f in fs if ni & ~f]
    fs.append(ni)
    return True


#: How many of the earliest reads not yet linearized `_lookahead` examines: few
#: while the search goes well, more once it has needed many configurations.
LOOKAHEAD = 8
LOOKAHEAD_DEEP = 64
LOOKAHEAD_DEEP_AFTER = 20_000


def _lookahead(dead_fn: Callable[[int, Any, int], bool], fns: list[Callable[[Any], Any]],
               states: list[Any], obs: list[bool]) -> Callable[[int, int], bool]:
    """``ahead(sid, done)``: True if one of the first reads not yet linearized (by
    position, i.e. call order) is illegal in the state and can never become legal.
    Every such read must still take effect, so the configuration is dead; checking
    reads that are not yet candidates prunes a doomed branch as soon as it diverges."""
    obs_mask = 0
    for i, o in enumerate(obs):
        if o:
            obs_mask |= 1 << i

    calls = 0

    def ahead(sid: int, done: int) -> bool:
        nonlocal calls
        calls += 1
        m = obs_mask & ~done
        k = LOOKAHEAD if calls < LOOKAHEAD_DEEP_AFTER else LOOKAHEAD_DEEP
        state = states[sid]
        while m and k:
            low = m & -m
            i = low.bit_length() - 1
            if fns[i](state) is ILLEGAL and dead_fn(i, state, done):
                return True
            m ^= low
            k -= 1
        return False
    return ahead


def _snapshot(stack: list[_Frame], sid: int, bound_e: int, ls: _Lists) -> Stuck:
    """The candidates of the current configuration, which all failed."""
    nxt, match, op_of = ls.nxt, ls.match, ls.op_of
    cands = []
    x = nxt[0]
    while match[x] >= 0:
        cands.append(op_of[x])
        x = nxt[x]
    bound = ls.rank[bound_e]
    x = nxt[ls.ihead]
    while ls.rank[x] < bound:
        cands.append(op_of[x])
        x = nxt[x]
    return Stuck(prefix=[op_of[s[0]] for s in stack], state=sid, candidates=cands,
                 blocking=op_of[bound_e] if bound_e != ls.tail else None)


def _loop(sid: int, remaining: int, fns: list[Callable[[Any], Any]], states: list[Any],
          ids: dict[Any, int], seen: list[dict[int, list[int]] | None], trans: list[dict[int, int]],
          ls: _Lists, obs: list[bool], bit: list[int],
          dead_fn: Callable[[int, Any, int], bool] | None,
          ahead: Callable[[int, int], bool] | None, deadline: float | None,
          clock: Callable[[], float] | None, memo_cap: int | None,
          should_stop: Callable[[], bool] | None,
          ) -> tuple[Verdict, list[_Frame], Stuck | None, int, int]:
    """The hot loop; every name it touches is a local (fast) variable.

    At each configuration the candidates are the main-list calls before the first
    return, then the unknown-outcome calls that precede that return: operations
    known to have happened are tried before those that may never have.
    """
    nxt, prv, match, op_of, rank, is_info = (ls.nxt, ls.prv, ls.match, ls.op_of, ls.rank,
                                             ls.is_info)
    ihead = ls.ihead
    stack: list[_Frame] = []
    push = stack.append
    pop = stack.pop
    lreq = 0  # bits of the linearized operations with a known outcome
    linf = 0  # bits of the linearized operations with an unknown outcome
    best_depth = -1
    best_rank = -1
    stuck: Stuck | None = None
    memo = 0
    backtracks = 0
    budget = _CHECK_EVERY
    cap = memo_cap if memo_cap is not None else -1
    # distinct states can outnumber memo entries (states reached but not new): cap them
    # too, so that the memory bound holds
    state_cap = 4 * memo_cap if memo_cap is not None else -1
    dead = False
    e = nxt[0]
    while True:
        # -- main phase: calls of operations that returned, up to the first return --
        while True:
            r = match[e]
            if r < 0:
                break
            o = op_of[e]
            t = trans[o]
            ns = t.get(sid)
            if ns is None:
                cur = states[sid]
                nst = fns[o](cur)
                if nst is ILLEGAL:
                    ns = -1
                elif nst is cur:
                    ns = sid
                else:
                    ns = ids.get(nst)
                    if ns is None:
                        ns = len(states)
                        if ns == state_cap:
                            raise _Limit("memory", memo, backtracks)
                        ids[nst] = ns
                        states.append(nst)
                        seen.append(None)
                t[sid] = ns
            if ns >= 0:
                nl = lreq | bit[o]
                d = seen[ns]
                if d is None:
                    seen[ns] = {nl: [linf]}
                    fresh = True
                else:
                    fs = d.get(nl)
                    if fs is None:
                        d[nl] = [linf]
                        fresh = True
                    else:
                        fresh = _add_antichain(fs, linf)
                if fresh:
                    push((e, sid, lreq, linf, -1 if obs[o] else 0))
                    sid = ns
                    lreq = nl
                    remaining -= 1
                    if remaining == 0:
                        return "ok", stack, None, memo + 1, backtracks
                    # lift the call and its return out of the list
                    p = prv[e]
                    q = nxt[e]
                    nxt[p] = q
                    prv[q] = p
                    p = prv[r]
                    q = nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    memo += 1
                    if memo == cap:
                        raise _Limit("memory", memo, backtracks)
                    budget -= 1
                    if budget == 0:
                        budget = _CHECK_EVERY
                        _check(deadline, clock, should_stop, memo, backtracks)
                    if ahead is not None and ahead(sid, lreq | linf):
                        # a read still to come can no longer be satisfied
                        dead = True
                        e = nxt[0]
                        break
                    e = nxt[0]
                    continue
                if obs[o]:
                    # a legal read whose successor configuration failed: so does this
                    # one (the read commutes to the front of any completion)
                    dead = True
                    break
            elif dead_fn is not None and obs[o] and dead_fn(o, states[sid], lreq | linf):
                # a pending read that nothing can make legal any more
                dead = True
                break
            e = nxt[e]
        if dead:
            dead = False
            while match[e] >= 0:
                e = nxt[e]
            bound_e = e
            bound = -1
            x = ihead
        else:
            bound_e = e
            bound = rank[e]
            x = nxt[ihead]
        # -- info phase: unknown-outcome calls before that return, then backtrack --
        while True:
            lifted = False
            while rank[x] < bound:
                o = op_of[x]
                t = trans[o]
                ns = t.get(sid)
                if ns is None:
                    cur = states[sid]
                    nst = fns[o](cur)
                    if nst is ILLEGAL:
                        ns = -1
                    elif nst is cur:
                        ns = sid
                    else:
                        ns = ids.get(nst)
                        if ns is None:
                            ns = len(states)
                            if ns == state_cap:
                                raise _Limit("memory", memo, backtracks)
                            ids[nst] = ns
                            states.append(nst)
                            seen.append(None)
                    t[sid] = ns
                if ns >= 0:
                    ni = linf | bit[o]
                    d = seen[ns]
                    if d is None:
                        seen[ns] = {lreq: [ni]}
                        fresh = True
                    else:
                        fs = d.get(lreq)
                        if fs is None:
                            d[lreq] = [ni]
                            fresh = True
                        else:
                            fresh = _add_antichain(fs, ni)
                    if fresh:
                        push((x, sid, lreq, linf, bound_e))
                        sid = ns
                        linf = ni
                        p = prv[x]
                        q = nxt[x]
                        nxt[p] = q
                        prv[q] = p
                        memo += 1
                        if memo == cap:
                            raise _Limit("memory", memo, backtracks)
                        budget -= 1
                        if budget == 0:
                            budget = _CHECK_EVERY
                            _check(deadline, clock, should_stop, memo, backtracks)
                        lifted = True
                        break
                x = nxt[x]
            if lifted:
                if ahead is not None and ahead(sid, lreq | linf):
                    bound = -1
                    continue
                e = nxt[0]
                break
            # no candidate extends this prefix: backtrack
            # remember the configuration that got furthest in time, then deepest: its
            # blocking operation is the one to blame (see `Stuck`)
            br = rank[bound_e]
            if br > best_rank or (br == best_rank and len(stack) > best_depth):
                best_rank = br
                best_depth = len(stack)
                stuck = _snapshot(stack, sid, bound_e, ls)
            if not stack:
                return "illegal", stack, stuck, memo, backtracks
            pe, sid, lreq, linf, pb = pop()
            backtracks += 1
            budget -= 1
            if budget == 0:
                budget = _CHECK_EVERY
                _check(deadline, clock, should_stop, memo, backtracks)
            if is_info[pe]:
                p = prv[pe]
                nxt[p] = pe
                prv[nxt[pe]] = pe
                x = nxt[pe]
                bound_e = pb
                bound = rank[pb]
                continue
            remaining += 1
            # unlift: put the return back first, then the call
            r = match[pe]
            p = prv[r]
            nxt[p] = r
            prv[nxt[r]] = r
            p = prv[pe]
            nxt[p] = pe
            prv[nxt[pe]] = pe
            if pb < 0:
                # a read taken as soon as it was legal: no alternative to try here
                bound = -1
                continue
            e = nxt[pe]
            break


def _check(deadline: float | None, clock: Callable[[], float] | None,
           should_stop: Callable[[], bool] | None, memo: int, backtracks: int) -> None:
    if deadline is not None and clock is not None and clock() >= deadline:
        raise _Limit("timeout", memo, backtracks)
    if should_stop is not None and should_stop():
        raise _Limit("stopped", memo, backtracks)
