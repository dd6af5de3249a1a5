"""Pure generators of the kafka workload (Jepsen's design, STYLE.md).

A generator is an immutable value. ``gen.op(ctx)`` returns the next invocation (or
`Pending` with the time to ask again, or ``None`` when it is exhausted) together with
the generator to use next. It never reads a clock, a socket or a global random source:
time and free processes arrive in `Context`, and randomness is a splitmix64 state that
is part of the value. So the same seed gives the same ops for the same contexts, and
generators are tested without any broker.

What a generator must not do: block, sleep, talk to a client, or record history; the
interpreter owns all of that.

The kafka workload, after Jepsen's (``jepsen.tests.kafka``):
- every send writes a fresh integer value (unique across the run) to a key; a key is
  one topic-partition;
- a process first attaches its consumer (``assign`` a random non-empty subset of keys,
  or ``subscribe`` to them, per ``sub_via``), then mixes sends and polls, and now and
  then re-attaches;
- a process that crashed (an ``info`` completion) is replaced by a new process id, which
  attaches again first;
- with ``sub_via="subscribe"`` a share (``commit_share``) of the reads is a ``commit``
  instead: the process commits, for its group, the offsets after its last poll of each
  key it is assigned (commit-after-process). The invocation's value is ``None``: only
  the client knows its positions, so the completion carries ``{key: offset}``.
  ``assign`` runs have no group and never commit (their op sequence is unchanged);
- with ``sub_via="subscribe"`` another share (``fetch_share``) asks the coordinator for
  the group's committed offsets of every key (``committed``, Kafka's OffsetFetch, as a
  consumer does when it is assigned a partition): value the list of keys, completed
  with ``{key: offset | None}``. A fetch is what reveals a commit the coordinator
  acknowledged and then lost, even when no rebalance follows;
- with ``offsets_share > 0`` (runs with retention) that share of an attached
  process's ops observes the log: ``offsets`` (Kafka's ListOffsets, earliest and
  latest) of every key, value the list of keys, completed with
  ``{key: [log_start, end_offset]}``; the retention checker judges the log starts.
  With the default 0 no random draw is added, so existing seeds keep their ops;
- with ``crash_share > 0`` that share of an attached process's ops is a ``crash``
  (Jepsen's client crash): the interpreter closes the process's client and records
  the op as ``info``; a new process id takes the slot and attaches again, so clients
  are re-created now and then even when no fault forces it. Default 0, as above;
- with ``txn=True`` (Jepsen's ``:txn?``) every op that would be a send or a poll is a
  transaction instead: ``f`` ``"txn"``, value 1 to ``max_txn_length`` micro-ops, each
  ``["send", k, v]`` (at ``send_share``, a fresh value) or ``["poll"]``; completed as
  ``[["send", k, [offset, v]], ["poll", {k: [[offset, v], ...]}], ...]`` in the same
  order. A share (``abort_share``) of them carries ``abort=True``: the client runs
  the micro-ops and then aborts instead of committing (the completion is ``fail``), so
  read_committed consumers meet aborted records to skip. ``txn=False`` adds no random
  draw, so existing seeds keep their ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

_MASK = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    """One step of splitmix64: ``(random 64-bit value, next state)``."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31), state


def uniform(state: int) -> tuple[float, int]:
    """A float in [0, 1) and the next state."""
    v, state = splitmix64(state)
    return (v >> 11) * (1.0 / (1 << 53)), state


def derive_seed(seed: int, name: str) -> int:
    """A sub-seed per subsystem (TigerBeetle's habit): stable across runs and Pythons."""
    h = seed & _MASK
    for ch in name.encode():
        h, _ = splitmix64(h ^ ch)
    return h


@dataclass(frozen=True, slots=True)
class Context:
    """What the interpreter tells a generator: the time and which processes are idle."""

    time_ns: int
    free: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Invocation:
    process: int
    f: str
    value: Any
    #: a ``txn`` the client must abort after its micro-ops instead of committing (not
    #: in the repr, which digests of earlier op sequences are taken over)
    abort: bool = field(default=False, repr=False)


@dataclass(frozen=True, slots=True)
class Pending:
    """Nothing to do now; ask again at ``until_ns`` (or when a process frees up)."""

    until_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaWorkload:
    """The options of the kafka workload (what run.json records)."""

    keys: tuple[str, ...] = ("0", "1", "2", "3")
    #: ops per second over all processes; 0 means as fast as processes free up.
    rate: float = 200.0
    send_share: float = 0.5
    reattach_share: float = 0.02
    sub_via: Literal["assign", "subscribe"] = "assign"
    #: Zipf-like skew of key choice; 0 is uniform.
    key_skew: float = 0.0
    #: with subscribe: the share of non-send ops that commit offsets instead of polling.
    commit_share: float = 0.2
    #: with subscribe: the share of non-send ops that fetch the committed offsets.
    fetch_share: float = 0.1
    #: the share of an attached process's ops that list every key's log start and end.
    offsets_share: float = 0.0
    #: the share of an attached process's ops that crash its client on purpose.
    crash_share: float = 0.0
    #: sends and polls run as transactions of 1..max_txn_length micro-ops.
    txn: bool = False
    max_txn_length: int = 4
    #: with txn: the share of transactions the client aborts on purpose.
    abort_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("the workload needs at least one key")
        if not 0.0 <= self.send_share <= 1.0:
            raise ValueError(f"send_share must be within [0, 1], got {self.send_share}")
        if not 0.0 <= self.commit_share <= 1.0:
            raise ValueError(f"commit_share must be within [0, 1], got {self.commit_share}")
        if not 0.0 <= self.fetch_share <= 1.0 - self.commit_share:
            raise ValueError(f"fetch_share must be within [0, 1 - commit_share], "
                             f"got {self.fetch_share}")
        if not 0.0 <= self.offsets_share <= 1.0:
            raise ValueError(f"offsets_share must be within [0, 1], got {self.offsets_share}")
        if not 0.0 <= self.crash_share <= 1.0:
            raise ValueError(f"crash_share must be within [0, 1], got {self.crash_share}")
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0 ops/s, got {self.rate}")
        if self.max_txn_length < 1:
            raise ValueError(f"max_txn_length must be >= 1, got {self.max_txn_length}")
        if not 0.0 <= self.abort_share <= 1.0:
            raise ValueError(f"abort_share must be within [0, 1], got {self.abort_share}")


@dataclass(frozen=True, slots=True)
class KafkaGenerator:
    """The kafka workload as a pure generator."""

    workload: KafkaWorkload
    rng: int
    next_value: int = 0
    next_time_ns: int = 0
    attached: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def start(cls, workload: KafkaWorkload, seed: int) -> KafkaGenerator:
        return cls(workload=workload, rng=derive_seed(seed, "workload"))

    def _pick_key(self, rng: int) -> tuple[str, int]:
        keys = self.workload.keys
        u, rng = uniform(rng)
        skew = self.workload.key_skew
        if skew > 0:
            u = u ** (1.0 + skew)
        return keys[min(int(u * len(keys)), len(keys) - 1)], rng

    def _pick_subset(self, rng: int) -> tuple[list[str], int]:
        keys = self.workload.keys
        chosen: list[str] = []
        for k in keys:
            u, rng = uniform(rng)
            if u < 0.5:
                chosen.append(k)
        if not chosen:
            k, rng = self._pick_key(rng)
            chosen = [k]
        return chosen, rng

    def op(self, ctx: Context) -> tuple[Invocation | Pending | None, KafkaGenerator]:
        if ctx.time_ns < self.next_time_ns:
            return Pending(self.next_time_ns), self
        if not ctx.free:
            return Pending(None), self
        rng = self.rng
        v, rng = splitmix64(rng)
        process = ctx.free[v % len(ctx.free)]
        w = self.workload
        nxt = self.next_time_ns
        if w.rate > 0:
            u, rng = uniform(rng)
            gap = int(2.0 * u * 1e9 / w.rate)
            nxt = max(self.next_time_ns, ctx.time_ns - int(1e9 / w.rate)) + gap
        attached = self.attached
        value_ctr = self.next_value
        u, rng = uniform(rng)
        if process not in attached or u < w.reattach_share:
            keys, rng = self._pick_subset(rng)
            inv = Invocation(process, w.sub_via, keys)
            attached = attached | {process}
        else:
            observe = False
            if w.offsets_share > 0:
                u, rng = uniform(rng)
                observe = u < w.offsets_share
            crash = False
            if w.crash_share > 0:
                u, rng = uniform(rng)
                crash = u < w.crash_share
            u, rng = uniform(rng)
            if crash:
                inv = Invocation(process, "crash", None)
            elif observe:
                inv = Invocation(process, "offsets", list(w.keys))
            elif u < w.send_share:
                if w.txn:
                    inv, value_ctr, rng = self._txn(process, value_ctr, rng)
                else:
                    key, rng = self._pick_key(rng)
                    inv = Invocation(process, "send", [["send", key, value_ctr]])
                    value_ctr += 1
            elif w.sub_via == "subscribe" and (w.commit_share > 0 or w.fetch_share > 0):
                u, rng = uniform(rng)
                if u < w.commit_share:
                    inv = Invocation(process, "commit", None)
                elif u < w.commit_share + w.fetch_share:
                    inv = Invocation(process, "committed", list(w.keys))
                elif w.txn:
                    inv, value_ctr, rng = self._txn(process, value_ctr, rng)
                else:
                    inv = Invocation(process, "poll", [["poll"]])
            elif w.txn:
                inv, value_ctr, rng = self._txn(process, value_ctr, rng)
            else:
                inv = Invocation(process, "poll", [["poll"]])
        return inv, replace(self, rng=rng, next_value=value_ctr, next_time_ns=nxt,
                            attached=attached)

    def _txn(self, process: int, value_ctr: int, rng: int) -> tuple[Invocation, int, int]:
        """One transaction: 1..max_txn_length sends (fresh values) and polls, and
        whether the client is to abort it."""
        w = self.workload
        v, rng = splitmix64(rng)
        mops: list[list[Any]] = []
        for _ in range(1 + v % w.max_txn_length):
            u, rng = uniform(rng)
            if u < w.send_share:
                key, rng = self._pick_key(rng)
                mops.append(["send", key, value_ctr])
                value_ctr += 1
            else:
                mops.append(["poll"])
        u, rng = uniform(rng)
        return Invocation(process, "txn", mops, abort=u < w.abort_share), value_ctr, rng

    def forget(self, process: int) -> KafkaGenerator:
        """A process crashed: its replacement must attach again."""
        return replace(self, attached=self.attached - {process})
