"""The groups checker's anomaly types, the guarantee each breaks, and which a run's
configuration allows.

All are bad by default: a correct coordinator with the workload's client (which
commits only partitions it owns, only offsets it has polled) never shows them. With
``acks`` 0 or 1 an acknowledged record may be lost and the log truncated, after which a
committed offset may lie past the log's end: the consumer resets to the earliest
offset, reads below the commit and commits lower offsets, and records below old
commits no longer exist. So under weak acks those three are allowed; ``double-owner``
and ``lost-commit`` (the coordinator's own state, independent of producer acks) stay
bad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from harness.checkers._options import validate_common

ANOMALY_TYPES: Final[tuple[str, ...]] = (
    "commit-regression",
    "double-owner",
    "offset-reset-below-commit",
    "commit-skip",
    "lost-commit",
)

GUARANTEES: Final[dict[str, str]] = {
    "commit-regression":
        "A group's committed offset of a partition never goes back: a commit the "
        "coordinator acknowledged is not undone, and fenced members cannot commit.",
    "double-owner":
        "Within one generation of a group each partition is assigned to at most one "
        "member.",
    "offset-reset-below-commit":
        "A member newly assigned a partition resumes from the group's committed offset: "
        "it never re-reads below an offset the group had acknowledged committing.",
    "commit-skip":
        "With commit-after-process every acknowledged record below a committed offset "
        "was delivered to some member of the group at least once.",
    "lost-commit":
        "An offset commit the coordinator acknowledged is durable: every later fetch "
        "of the group's committed offsets returns it or a later one.",
}

WEAK_ACKS_ALLOWED: Final[frozenset[str]] = frozenset(
    ("commit-regression", "offset-reset-below-commit", "commit-skip"))


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupsCheckOptions:
    """How the run was configured, as far as the verdict depends on it."""

    acks: str = "all"
    allow: frozenset[str] = field(default_factory=frozenset)
    max_witnesses: int = 20

    def __post_init__(self) -> None:
        acks, allow = validate_common(self.acks, self.allow, self.max_witnesses,
                                      ANOMALY_TYPES)
        object.__setattr__(self, "acks", acks)
        object.__setattr__(self, "allow", allow)

    def allowed_types(self) -> frozenset[str]:
        out = set(self.allow)
        if self.acks in ("0", "1"):
            out |= WEAK_ACKS_ALLOWED
        return frozenset(out)

    def classify(self, anomaly_type: str) -> str:
        return "allowed" if anomaly_type in self.allowed_types() else "bad"
