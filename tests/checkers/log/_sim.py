"""A simulated, correct Kafka-like broker with concurrent clients, for testing the log
checker; a planted bug injects exactly one anomaly (a test tool, not a model of Kafka's
internals).

Each key is a partition: a list of stored (offset, value) records. Effects happen at
completion time, so every history is linearizable by completion order. Producers send
one or a few values (``ok``: appended; ``info``: appended or not; ``fail``: not).
Transactions read first (committed records only), then append their sends atomically
and write a commit (or abort) marker, which takes an offset no poll returns. Consumers
``assign`` keys (new keys start at the beginning, kept keys keep their position) or
``subscribe`` to them as one group: every subscribe or crash rebalances the keys over
the members, and a new owner resumes at the last committed position. ``crash`` loses a
client's state. The run ends with a fresh client reading every key from the start.

`BUGS` maps each planted bug (named after the anomaly it must cause) to the anomaly
types that may legitimately come with it (e.g. a lost write is also unseen).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.history import History, op_from_dict

BUGS: dict[str, frozenset[str]] = {
    "lost-write": frozenset({"unseen", "int-poll-skip", "poll-skip"}),
    "unseen": frozenset(),
    "duplicate": frozenset(),
    "inconsistent-offsets": frozenset({"duplicate"}),
    "G1a": frozenset(),
    "precommitted-read": frozenset(),
    "poll-skip": frozenset(),
    "nonmonotonic-poll": frozenset(),
    "int-poll-skip": frozenset(),
    "int-nonmonotonic-poll": frozenset(),
    "int-send-skip": frozenset({"G0"}),
    "int-nonmonotonic-send": frozenset(),
    "nonmonotonic-send": frozenset(),
    "G0": frozenset(),
    "G1c": frozenset(),
}


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    n_keys: int = 3
    n_procs: int = 4
    n_steps: int = 100
    sub_via: str = "assign"
    p_info: float = 0.08
    p_fail: float = 0.08
    p_crash: float = 0.03
    p_txn: float = 0.15
    bug: str | None = None


class Sim:
    def __init__(self, rnd: random.Random, cfg: SimConfig) -> None:
        self.rnd = rnd
        self.cfg = cfg
        self.keys = [str(i) for i in range(cfg.n_keys)]
        self.log: dict[str, list[tuple[int, int]]] = {k: [] for k in self.keys}
        self.next_off = dict.fromkeys(self.keys, 0)
        self.next_value = 0
        self.records: list[dict[str, Any]] = []
        self.pending: dict[int, dict[str, Any]] = {}
        #: consumer positions: process -> key -> index into the key's record list
        self.pos: dict[int, dict[str, int]] = {}
        #: subscribe mode: member -> subscribed keys; committed positions per key
        self.members: dict[int, list[str]] = {}
        self.committed: dict[str, int] = {}
        self.t = 0

    # ------------------------------------------------------------ plumbing
    def emit(self, process: int, typ: str, f: str, value: Any) -> None:
        self.t += 1
        self.records.append({"process": process, "type": typ, "f": f, "value": value,
                             "time": self.t * 1000})

    def value(self) -> int:
        self.next_value += 1
        return self.next_value

    def append(self, k: str, v: int) -> int:
        o = self.next_off[k]
        self.next_off[k] = o + 1
        self.log[k].append((o, v))
        return o

    def read(self, p: int, k: str, n: int | None) -> list[list[int]]:
        pos = self.pos.setdefault(p, {})
        i = pos.get(k, 0)
        recs = self.log[k][i:] if n is None else self.log[k][i:i + n]
        return [[o, v] for o, v in recs]

    def rebalance(self) -> None:
        owners: dict[str, int] = {}
        for k in self.keys:
            cands = sorted(m for m, ks in self.members.items() if k in ks)
            if cands:
                owners[k] = cands[self.rnd.randrange(len(cands))]
        for m in self.members:
            old = self.pos.get(m, {})
            self.pos[m] = {k: (old[k] if k in old else self.committed.get(k, 0))
                           for k, o in owners.items() if o == m}

    def consumer_keys(self, p: int) -> list[str]:
        return list(self.pos.get(p, {}))

    # ------------------------------------------------------------ regular ops
    def invoke(self, p: int) -> None:
        rnd = self.rnd
        x = rnd.random()
        op: dict[str, Any]
        if x < self.cfg.p_crash:
            op = {"f": "crash", "value": None}
        elif x < 0.12:
            ks = sorted(rnd.sample(self.keys, rnd.randint(1, len(self.keys))))
            op = {"f": self.cfg.sub_via, "value": ks}
        elif x < 0.12 + self.cfg.p_txn:
            mops: list[Any] = []
            for _ in range(rnd.randint(1, 3)):
                if rnd.random() < 0.5:
                    mops.append(["send", rnd.choice(self.keys), self.value()])
                else:
                    mops.append(["poll"])
            op = {"f": "txn", "value": mops}
        elif x < 0.55:
            n = 1 if rnd.random() < 0.8 else 2
            op = {"f": "send",
                  "value": [["send", rnd.choice(self.keys), self.value()] for _ in range(n)]}
        else:
            op = {"f": "poll", "value": [["poll"]] * (1 if rnd.random() < 0.85 else 2)}
        self.pending[p] = op
        self.emit(p, "invoke", op["f"], op["value"])

    def complete(self, p: int) -> None:
        op = self.pending.pop(p)
        f, val = op["f"], op["value"]
        rnd = self.rnd
        if f == "crash":
            self.pos.pop(p, None)
            if self.members.pop(p, None) is not None:
                self.rebalance()
            self.emit(p, "info", "crash", None)
        elif f == "assign":
            old = self.pos.get(p, {})
            self.pos[p] = {k: old.get(k, 0) for k in val}
            self.members.pop(p, None)
            self.emit(p, "ok", f, val)
        elif f == "subscribe":
            self.members[p] = list(val)
            self.rebalance()
            self.emit(p, "ok", f, val)
        elif f == "send":
            x = rnd.random()
            if x < self.cfg.p_fail:
                self.emit(p, "fail", f, val)
            elif x < self.cfg.p_fail + self.cfg.p_info:
                if rnd.random() < 0.5:
                    for _, k, v in val:
                        self.append(k, v)
                self.emit(p, "info", f, val)
            else:
                self.emit(p, "ok", f, [["send", k, [self.append(k, v), v]] for _, k, v in val])
        else:  # poll or txn
            x = rnd.random()
            outcome = "ok"
            if x < self.cfg.p_info / 2:
                outcome = "info"
            elif f == "txn" and x < self.cfg.p_info / 2 + self.cfg.p_fail:
                outcome = "fail"
            if outcome == "info":
                # the result is lost; the consumer may have moved on
                if rnd.random() < 0.5:
                    for k in self.consumer_keys(p):
                        self.pos[p][k] = len(self.log[k])
                sends = [m for m in val if m[0] == "send"]
                if sends and rnd.random() < 0.5:
                    self.commit_sends(sends)
                self.emit(p, "info", f, val)
                return
            moved = dict(self.pos.get(p, {}))
            out: list[Any] = []
            sends = []
            for mop in val:
                if mop[0] == "send":
                    sends.append(mop)
                    continue
                got: dict[str, list[list[int]]] = {}
                for k in self.consumer_keys(p):
                    i = moved.get(k, 0)
                    recs = self.log[k][i:i + rnd.randint(0, 4)]
                    if recs:
                        got[k] = [[o, v] for o, v in recs]
                        moved[k] = i + len(recs)
                out.append(["poll", got])
            if outcome == "fail":
                # aborted: nothing appended for real, the consumer rewinds
                for _, k, _v in sends:
                    self.next_off[k] += 1
                for k in {m[1] for m in sends}:
                    self.next_off[k] += 1  # abort marker
                result = [m if m[0] == "send" else out.pop(0) for m in val]
                self.emit(p, "fail", f, result)
                return
            offsets = self.commit_sends(sends) if sends else []
            if p in self.pos:
                self.pos[p].update(moved)
                if p in self.members:
                    for k in moved:
                        self.committed[k] = moved[k]
            it = iter(offsets)
            result = [["send", m[1], [next(it), m[2]]] if m[0] == "send" else out.pop(0)
                      for m in val]
            self.emit(p, "ok", f, result)

    def commit_sends(self, sends: list[Any]) -> list[int]:
        offsets = [self.append(k, v) for _, k, v in sends]
        for k in {m[1] for m in sends}:
            self.next_off[k] += 1  # commit marker
        return offsets

    # ------------------------------------------------------------ planted bugs
    def ok(self, p: int, f: str, value: Any, invoke: Any = None) -> None:
        self.emit(p, "invoke", f, invoke if invoke is not None else value)
        self.emit(p, "ok", f, value)

    def fill(self, k: str, n: int) -> None:
        while len(self.log[k]) < n:
            v = self.value()
            self.ok(1999, "send", [["send", k, [self.append(k, v), v]]], [["send", k, v]])

    def plant(self, bug: str) -> None:
        rnd = self.rnd
        k = rnd.choice(self.keys)
        k2 = next((x for x in self.keys if x != k), k)
        P, Q = 1000 + len(self.records), 1001 + len(self.records)
        v, w = self.value(), self.value()
        if bug in ("lost-write", "unseen"):
            o = self.next_off[k]
            self.next_off[k] += 1
            self.ok(P, "send", [["send", k, [o, v]]], [["send", k, v]])
            if bug == "lost-write":
                self.ok(Q, "send", [["send", k, [self.append(k, w), w]]], [["send", k, w]])
        elif bug == "duplicate":
            o = self.append(k, v)
            self.append(k, v)
            self.ok(P, "send", [["send", k, [o, v]]], [["send", k, v]])
        elif bug == "inconsistent-offsets":
            self.fill(k, 1)
            prev = self.log[k][-1][0]
            self.append(k, v)
            self.ok(P, "send", [["send", k, [prev, v]]], [["send", k, v]])
        elif bug == "G1a":
            self.append(k, v)
            self.emit(P, "invoke", "send", [["send", k, v]])
            self.emit(P, "fail", "send", [["send", k, v]])
        elif bug == "precommitted-read":
            self.ok(P, "assign", [k])
            self.pos[P] = {k: 0}
            o = self.append(k, v)
            got = self.read(P, k, None)
            self.pos[P][k] = len(self.log[k])
            self.ok(P, "txn", [["send", k, [o, v]], ["poll", {k: got}]],
                    [["send", k, v], ["poll"]])
        elif bug in ("poll-skip", "nonmonotonic-poll", "int-poll-skip",
                     "int-nonmonotonic-poll"):
            self.fill(k, 4)
            self.ok(P, "assign", [k])
            recs = [[o, x] for o, x in self.log[k][:4]]
            if bug == "poll-skip":
                polls = [[recs[0]], [recs[2]]]
            elif bug == "nonmonotonic-poll":
                polls = [recs[:2], recs[1:3]]
            elif bug == "int-poll-skip":
                polls = [[recs[0], recs[2]]]
            else:
                polls = [[recs[0], recs[1], recs[1], recs[2]]]
            for got in polls:
                self.ok(P, "poll", [["poll", {k: got}]], [["poll"]])
        elif bug == "int-send-skip":
            self.emit(P, "invoke", "txn", [["send", k, v], ["send", k, w]])
            u = self.value()
            self.emit(Q, "invoke", "send", [["send", k, u]])
            oa = self.append(k, v)
            ou = self.append(k, u)
            self.emit(Q, "ok", "send", [["send", k, [ou, u]]])
            ob = self.append(k, w)
            self.emit(P, "ok", "txn", [["send", k, [oa, v]], ["send", k, [ob, w]]])
        elif bug == "int-nonmonotonic-send":
            ow = self.append(k, w)
            ov = self.append(k, v)
            self.ok(P, "send", [["send", k, [ov, v]], ["send", k, [ow, w]]],
                    [["send", k, v], ["send", k, w]])
        elif bug == "nonmonotonic-send":
            o = self.next_off[k]
            self.ok(P, "send", [["send", k, [o + 1, v]]], [["send", k, v]])
            self.ok(P, "send", [["send", k, [o, w]]], [["send", k, w]])
            self.append(k, w)
            self.append(k, v)
        elif bug == "G0":
            a2, b2 = self.value(), self.value()
            self.emit(P, "invoke", "send", [["send", k, v], ["send", k2, a2]])
            self.emit(Q, "invoke", "send", [["send", k2, b2], ["send", k, w]])
            o1 = self.append(k, v)
            o2 = self.append(k2, b2)
            o3 = self.append(k, w)
            o4 = self.append(k2, a2)
            self.emit(P, "ok", "send", [["send", k, [o1, v]], ["send", k2, [o4, a2]]])
            self.emit(Q, "ok", "send", [["send", k2, [o2, b2]], ["send", k, [o3, w]]])
        elif bug == "G1c":
            self.ok(P, "assign", [k2])
            self.ok(Q, "assign", [k])
            self.emit(P, "invoke", "txn", [["send", k, v], ["poll"]])
            self.emit(Q, "invoke", "txn", [["send", k2, w], ["poll"]])
            ov = self.append(k, v)
            ow = self.append(k2, w)
            self.emit(P, "ok", "txn", [["send", k, [ov, v]],
                                       ["poll", {k2: [[o, x] for o, x in self.log[k2]]}]])
            self.emit(Q, "ok", "txn", [["send", k2, [ow, w]],
                                       ["poll", {k: [[o, x] for o, x in self.log[k]]}]])
        else:
            raise ValueError(f"unknown bug {bug!r}")

    # ------------------------------------------------------------ the run
    def run(self) -> History:
        cfg = self.cfg
        procs = list(range(cfg.n_procs))
        plant_at = -1
        if cfg.bug is not None and cfg.bug != "unseen":
            plant_at = self.rnd.randint(0, cfg.n_steps)
        for step in range(cfg.n_steps + 1):
            if step == plant_at:
                self.plant(cfg.bug)  # type: ignore[arg-type]
            if step == cfg.n_steps or not procs:
                break
            p = self.rnd.choice(procs)
            if p in self.pending:
                self.complete(p)
            else:
                self.invoke(p)
        for p in list(self.pending):
            self.complete(p)
        if cfg.bug == "unseen":
            self.plant("unseen")
        final = 9999
        self.ok(final, "assign", list(self.keys))
        self.ok(final, "poll",
                [["poll", {k: [[o, v] for o, v in self.log[k]] for k in self.keys
                           if self.log[k]}]], [["poll"]])
        ops = [op_from_dict({"index": i, **r}, i) for i, r in enumerate(self.records)]
        return History.of(ops)


def simulate(rnd: random.Random, cfg: SimConfig) -> History:
    return Sim(rnd, cfg).run()
