"""The freshness checker's anomaly type, its guarantee, and its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from harness.checkers._options import validate_common
from harness.errors import UsageError

ANOMALY_TYPES: Final[tuple[str, ...]] = ("stale-read",)

GUARANTEES: Final[dict[str, str]] = {
    "stale-read":
        "A partition's end offset read well after a write was acknowledged (acks=all) "
        "includes that write: a deposed leader stops serving reads within a bounded "
        "time instead of answering from a stale log.",
}

#: Reference broker: check-quorum steps a cut-off leader down within one election
#: timeout (measured 0.6-0.8 s with 1 s timeouts); three seconds leave room for a
#: loaded machine and for the client's own metadata refresh.
DEFAULT_MAX_STALE_MS: Final = 3000


@dataclass(frozen=True, slots=True, kw_only=True)
class FreshnessCheckOptions:
    acks: str = "all"
    max_stale_ms: int = DEFAULT_MAX_STALE_MS
    allow: frozenset[str] = field(default_factory=frozenset)
    max_witnesses: int = 20

    def __post_init__(self) -> None:
        acks, allow = validate_common(self.acks, self.allow, self.max_witnesses,
                                      ANOMALY_TYPES)
        object.__setattr__(self, "acks", acks)
        object.__setattr__(self, "allow", allow)
        m = self.max_stale_ms
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise UsageError(f"max_stale_ms must be a non-negative integer, got {m!r}")

    def classify(self, anomaly_type: str) -> str:
        if anomaly_type in self.allow or self.acks not in ("all", "-1"):
            return "allowed"
        return "bad"
