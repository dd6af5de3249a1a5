"""Option checks every checker shares: producer acks, extra allowed types, witness cap.

Each checker's options dataclass calls `validate_common` from ``__post_init__`` so
that every checker refuses the same bad values with the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from harness.errors import UsageError

ACKS: Final[tuple[str, ...]] = ("0", "1", "all", "-1")


def validate_common(acks: object, allow: Iterable[str], max_witnesses: object,
                    anomaly_types: Sequence[str]) -> tuple[str, frozenset[str]]:
    """The normalised ``acks`` and ``allow``; raises `UsageError` on a bad value."""
    norm = str(acks).strip().lower()
    if norm not in ACKS:
        raise UsageError(f"acks {acks!r} is not a Kafka acks setting "
                         "(expected 0, 1, all or -1)")
    allowed = frozenset(allow)
    unknown = sorted(allowed - set(anomaly_types))
    if unknown:
        raise UsageError(
            f"cannot allow unknown anomaly type(s) {', '.join(unknown)} "
            f"(expected some of: {', '.join(anomaly_types)})")
    if isinstance(max_witnesses, bool) or not isinstance(max_witnesses, int) \
            or max_witnesses < 0:
        raise UsageError(f"max_witnesses must be a non-negative integer, "
                         f"got {max_witnesses!r}")
    return norm, allowed
