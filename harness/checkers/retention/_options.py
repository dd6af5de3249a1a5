"""The retention checker's anomaly types, the guarantee each breaks, and its options.

Both types are bad by default. ``clock_faults`` (the run moved the brokers' clocks)
allows ``early-deletion``: retention ages records by the broker's wall clock, so a
clock pushed forward lawfully deletes records that the harness's monotonic clock
calls young.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from harness.checkers._options import validate_common
from harness.errors import UsageError

ANOMALY_TYPES: Final[tuple[str, ...]] = ("early-deletion", "log-start-regression")

GUARANTEES: Final[dict[str, str]] = {
    "early-deletion":
        "Retention by time deletes a record only once it is older than the topic's "
        "retention.ms.",
    "log-start-regression":
        "A partition's log start offset never moves back: records deleted by "
        "retention do not come back, and a new leader does not report an older start.",
}

CLOCK_ALLOWED: Final[frozenset[str]] = frozenset(("early-deletion",))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionCheckOptions:
    """How the topics were configured, as far as the verdict depends on it.

    ``retention_ms`` is the retention.ms of every key's topic, ``retention_ms_by_key``
    overrides it per key; ``None`` (or a key without either) means unknown: that key's
    deletions are not judged. -1 is Kafka's "no time limit": then any deletion is
    early. ``tolerance_ms`` absorbs the difference between the harness's monotonic
    clock and the record timestamps and broker clock (wall clock, milliseconds).
    """

    retention_ms: int | None = None
    retention_ms_by_key: Mapping[str, int] = field(default_factory=dict)
    tolerance_ms: int = 100
    clock_faults: bool = False
    allow: frozenset[str] = field(default_factory=frozenset)
    max_witnesses: int = 20

    def __post_init__(self) -> None:
        _, allow = validate_common("all", self.allow, self.max_witnesses, ANOMALY_TYPES)
        object.__setattr__(self, "allow", allow)
        by_key = {str(k): v for k, v in self.retention_ms_by_key.items()}
        for name, v in [("retention_ms", self.retention_ms), *by_key.items()]:
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < -1:
                raise UsageError(f"retention.ms of {name} must be an integer >= -1 "
                                 f"(-1: no limit), got {v!r}")
        object.__setattr__(self, "retention_ms_by_key", by_key)
        t = self.tolerance_ms
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise UsageError(f"tolerance_ms must be a non-negative integer, got {t!r}")

    def retention_of(self, key: str) -> int | None:
        """retention.ms of ``key``'s topic (None: unknown, not judged)."""
        return self.retention_ms_by_key.get(key, self.retention_ms)

    def allowed_types(self) -> frozenset[str]:
        out = set(self.allow)
        if self.clock_faults:
            out |= CLOCK_ALLOWED
        return frozenset(out)

    def classify(self, anomaly_type: str) -> str:
        return "allowed" if anomaly_type in self.allowed_types() else "bad"
