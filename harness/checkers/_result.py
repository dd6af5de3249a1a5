"""The checker contract: a pure function ``History -> CheckResult``.

A result's ``valid`` is ``True``, ``False`` or ``"unknown"``. Anomalies are keyed by
type; each witness is a JSON-ready dict that names the ops that prove it (``ops``:
op indices) and whatever else a reader needs (``key``, ``process``, ``offsets``,
``values``, ``message``). Each anomaly type found is classified ``bad`` or ``allowed``;
only bad ones make a result invalid. Verdicts merge by severity:
invalid > unknown > valid, and a checker that crashes yields unknown, never valid.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Validity = bool | Literal["unknown"]
Witness = dict[str, Any]


@dataclass(slots=True)
class CheckResult:
    """What a checker found. Plain data: the report renders it, checkers never do."""

    checker: str
    valid: Validity
    anomalies: dict[str, list[Witness]] = field(default_factory=dict)
    #: anomaly type -> "bad" | "allowed", for every type in ``anomalies``.
    classification: dict[str, str] = field(default_factory=dict)
    #: anomaly type -> total count (``anomalies`` may list only the first witnesses).
    counts: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    #: set when the checker could not decide (timeout, crash): why.
    error: str | None = None
    #: results of the checkers this one composes, by name.
    children: dict[str, CheckResult] = field(default_factory=dict)

    def record(self, anomaly_type: str, witnesses: list[Witness], count: int, *,
               allowed: bool) -> None:
        """Record ``count`` cases of ``anomaly_type`` (nothing when 0) as bad or allowed."""
        if count:
            self.anomalies[anomaly_type] = witnesses
            self.counts[anomaly_type] = count
            self.classification[anomaly_type] = "allowed" if allowed else "bad"

    @property
    def bad_types(self) -> list[str]:
        return sorted(t for t, c in self.classification.items() if c == "bad")

    @property
    def allowed_types(self) -> list[str]:
        return sorted(t for t, c in self.classification.items() if c == "allowed")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checker": self.checker,
            "valid": self.valid,
            "anomaly_types": sorted(self.anomalies),
            "bad": self.bad_types,
            "allowed": self.allowed_types,
            "counts": dict(sorted(self.counts.items())),
            "anomalies": {k: self.anomalies[k] for k in sorted(self.anomalies)},
            "stats": self.stats,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.children:
            out["children"] = {k: v.to_json() for k, v in self.children.items()}
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckResult:
        anomalies = dict(d.get("anomalies", {}))
        classification = {t: "bad" for t in d.get("bad", [])}
        classification.update({t: "allowed" for t in d.get("allowed", [])})
        return cls(
            checker=str(d.get("checker", "?")),
            valid=d["valid"],
            anomalies=anomalies,
            classification=classification,
            counts=dict(d.get("counts", {k: len(v) for k, v in anomalies.items()})),
            stats=dict(d.get("stats", {})),
            error=d.get("error"),
            children={k: cls.from_json(v) for k, v in d.get("children", {}).items()},
        )


def worst(validities: Iterable[Validity]) -> Validity:
    """Merge verdicts by severity: any False wins, then any "unknown", else True."""
    out: Validity = True
    for v in validities:
        if v is False:
            return False
        if v != True:  # noqa: E712 - "unknown" (or anything odd) is not valid
            out = "unknown"
    return out


def compose(name: str, results: Iterable[CheckResult]) -> CheckResult:
    """One result over several checkers; anomaly types are prefixed by nothing, as
    checkers own disjoint type names, and the children keep the detail."""
    rs = list(results)
    merged = CheckResult(checker=name, valid=worst(r.valid for r in rs))
    for r in rs:
        merged.children[r.checker] = r
        for t, ws in r.anomalies.items():
            merged.anomalies.setdefault(t, []).extend(ws)
            merged.counts[t] = merged.counts.get(t, 0) + r.counts.get(t, len(ws))
            if r.classification.get(t) == "bad" or t not in merged.classification:
                merged.classification[t] = r.classification.get(t, "bad")
    errors = [f"{r.checker}: {r.error}" for r in rs if r.error]
    merged.error = "; ".join(errors) or None
    return merged


def guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run ``check``; a crash becomes an ``unknown`` result carrying the traceback."""
    try:
        return check()
    except Exception as e:  # a crashing checker must not pass a run
        tb = traceback.format_exc(limit=5)
        return CheckResult(checker=name, valid="unknown", error=f"checker crashed: {e!r}\n{tb}")
