"""The verdict table: one row per checker and per anomaly type it found.

Each anomaly row names the Kafka guarantee the anomaly breaks (from
the checkers' own ``GUARANTEES`` tables (log, groups) when they provide them, else the short
sentences below) and whether the run's configuration allows it (the checker's
classification; the reason is derived from the run's options where a rule is known).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.checkers import CheckResult, Validity

#: Fallback sentences, used for types the checkers' own table does not name.
FALLBACK_GUARANTEES: dict[str, str] = {
    "lost-write": "An acknowledged write is durable: every record a send was acknowledged "
                  "for stays in the log and is read by a consumer that reads past it.",
    "duplicate": "A record is written once: the same value never appears at two offsets "
                 "(exactly-once with idempotent producers).",
    "inconsistent-offsets": "One log per partition: every reader sees the same record at "
                            "a given offset.",
    "poll-skip": "Consumers read the log in order without holes: a poll continues where "
                 "the previous one stopped.",
    "nonmonotonic-poll": "A consumer's position only moves forward: a poll never returns "
                         "an offset below one it already read.",
    "int-poll-skip": "Within one poll, records of a partition are consecutive in the log.",
    "int-nonmonotonic-poll": "Within one poll, records of a partition come in offset order.",
    "int-send-skip": "Within one transaction, sends to a partition get consecutive offsets.",
    "int-nonmonotonic-send": "Within one transaction, sends to a partition get increasing "
                             "offsets.",
    "nonmonotonic-send": "A producer's sends to a partition get increasing offsets in the "
                         "order they were sent.",
    "G1a": "Read committed: no consumer reads a record of an aborted transaction.",
    "precommitted-read": "Read committed: no consumer reads a transaction's record before "
                         "the transaction commits.",
    "G0": "Transactions are serializable for writes: no cycle of write dependencies.",
    "G1c": "Transactions are serializable: no cycle of write and read dependencies.",
    "unseen": "Acknowledged records become visible: every acknowledged write is "
              "eventually read.",
    "nonlinearizable": "Linearizability: every operation takes effect at one instant "
                       "between its invocation and its completion.",
}

#: anomaly type -> (option, predicate on its value, reason shown when allowed)
_ALLOW_RULES: dict[str, tuple[str, Any, str]] = {
    "lost-write": ("acks", lambda v: str(v) not in ("all", "-1"),
                   "acks={v}: only the leader had the record when it was acknowledged"),
    "unseen": ("acks", lambda v: str(v) not in ("all", "-1"),
               "acks={v}: only the leader had the record when it was acknowledged"),
    "duplicate": ("idempotence", lambda v: not v,
                  "idempotence off: a retried send may be written twice"),
    "poll-skip": ("sub_via", lambda v: v == "subscribe",
                  "subscribe: a rebalance may hand the partition on mid-stream"),
    "nonmonotonic-poll": ("sub_via", lambda v: v == "subscribe",
                          "subscribe: a rebalance may rewind a consumer to a commit"),
}


def guarantee_table() -> dict[str, str]:
    """The checkers' GUARANTEES over the fallback sentences (absent module: fallback)."""
    import importlib

    table = dict(FALLBACK_GUARANTEES)
    for module in ("harness.checkers.log", "harness.checkers.groups",
                   "harness.checkers.retention", "harness.checkers.freshness"):
        try:
            guarantees = importlib.import_module(module).GUARANTEES
        except Exception:  # a checker may be absent or broken: keep the fallback
            continue
        if isinstance(guarantees, dict):
            table.update({str(k): str(v) for k, v in guarantees.items()})
    return table


def allowed_reason(anomaly_type: str, options: dict[str, Any]) -> str:
    """Why the configuration allows ``anomaly_type``, as far as a rule says."""
    rule = _ALLOW_RULES.get(anomaly_type)
    if rule is not None:
        opt, pred, text = rule
        if opt in options:
            try:
                if pred(options[opt]):
                    return text.format(v=options[opt])
            except Exception:  # odd option values only lose the reason
                pass
    return "allowed by this run's configuration"


def verdict_word(v: Validity | None) -> str:
    """``pass`` / ``fail`` / ``unknown``: the word the page and the index use."""
    if v is True:
        return "pass"
    if v is False:
        return "fail"
    return "unknown"


@dataclass(frozen=True, slots=True)
class VerdictRow:
    checker: str
    anomaly: str | None
    verdict: str
    count: int
    classification: str | None
    guarantee: str
    allowed_reason: str | None
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {"checker": self.checker, "anomaly": self.anomaly, "verdict": self.verdict,
                "count": self.count, "classification": self.classification,
                "guarantee": self.guarantee, "allowed_reason": self.allowed_reason,
                "note": self.note}


def checkers_of(result: CheckResult) -> list[CheckResult]:
    """The per-property results: the children of a composed result, else itself."""
    if result.children:
        return [result.children[k] for k in sorted(result.children)]
    return [result]


def verdict_rows(result: CheckResult | None, options: dict[str, Any]) -> list[VerdictRow]:
    """Rows of the verdict table (see the module docstring)."""
    if result is None:
        return []
    table = guarantee_table()
    rows: list[VerdictRow] = []
    for r in checkers_of(result):
        word = verdict_word(r.valid)
        raw_notes = r.stats.get("notes")
        notes: list[Any] = raw_notes if isinstance(raw_notes, list) else []
        parts = ([r.error.splitlines()[0]] if r.error else []) + [str(n) for n in notes]
        note = "; ".join(parts) or None
        if not r.anomalies:
            rows.append(VerdictRow(r.checker, None, word, 0, None,
                                   "no anomaly found" if word == "pass" else "",
                                   None, note))
            continue
        for t in sorted(r.anomalies, key=lambda t: (r.classification.get(t) != "bad", t)):
            cls = r.classification.get(t, "bad")
            rows.append(VerdictRow(
                r.checker, t, "fail" if cls == "bad" else "allowed",
                int(r.counts.get(t, len(r.anomalies[t]))), cls,
                table.get(t, "(no guarantee recorded for this anomaly type)"),
                allowed_reason(t, options) if cls == "allowed" else None, note))
    # What broke first, then what is undecided, allowed, and passed (stable otherwise).
    return sorted(rows, key=lambda r: _SEVERITY.get(r.verdict, 1))


_SEVERITY = {"fail": 0, "unknown": 1, "allowed": 2, "pass": 3}
