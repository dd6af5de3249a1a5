"""Which anomalies the log checker knows, which guarantee each breaks, and which are
allowed under a run's configuration.

Classification follows Jepsen's kafka workload (``allowed-error-types``), extended by
the run's settings:

- always allowed: ``int-send-skip`` (a transaction's sends interleave with other
  producers' sends; Kafka never promised otherwise) and ``G0`` (write cycles: Kafka
  does not isolate writes);
- ``sub_via="subscribe"``: ``poll-skip`` and ``nonmonotonic-poll`` (the group may
  rebalance a consumer's partitions between two polls, and the new owner resumes from
  the last committed offset);
- ``acks`` ``0`` or ``1``: ``lost-write`` and ``unseen`` (a leader may acknowledge a
  write that no replica has, and lose it on failover);
- ``allow``: whatever else the user declares acceptable.

Everything else found is ``bad`` and makes the result invalid.

``deleted_below`` (``{key: offset}``, e.g. the highest log start a run observed, see
`harness.checkers.retention.observed_log_starts`) exempts records that retention may
have deleted: a record below it that nobody read is neither ``lost-write`` nor
``unseen``, and a ``poll-skip`` that skips only records below it is a consumer reset
to the log start (``auto.offset.reset``). Whether the deletion itself was allowed is
the ``retention`` checker's question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from harness.checkers._options import validate_common
from harness.errors import UsageError

#: Every anomaly type the log checker reports, in the order a report lists them.
ANOMALY_TYPES: Final[tuple[str, ...]] = (
    "inconsistent-offsets",
    "duplicate",
    "lost-write",
    "G1a",
    "precommitted-read",
    "poll-skip",
    "nonmonotonic-poll",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "int-send-skip",
    "int-nonmonotonic-send",
    "nonmonotonic-send",
    "unseen",
    "G0",
    "G1c",
)

#: One sentence per type: the Kafka guarantee the anomaly breaks (the report shows it).
GUARANTEES: Final[dict[str, str]] = {
    "inconsistent-offsets":
        "A partition is one totally ordered log: each offset holds exactly one record, "
        "the same for every producer and consumer.",
    "duplicate":
        "A record is appended once: an acknowledged send (with idempotence) never "
        "appears at two offsets of its partition.",
    "lost-write":
        "An acknowledged write (acks=all) is durable: once a consumer reads past its "
        "offset, every consumer that reads that far must be able to see it.",
    "G1a":
        "A send that failed definitely (or an aborted transaction) never becomes "
        "visible to consumers.",
    "precommitted-read":
        "Consumers at read_committed never see a transaction's records before it "
        "commits, not even the transaction's own consumer.",
    "poll-skip":
        "A consumer with a fixed assignment reads each partition contiguously: its next "
        "poll resumes exactly after the last record it was given.",
    "nonmonotonic-poll":
        "A consumer's position only moves forward: a later poll never returns a record "
        "at or before one an earlier poll already returned.",
    "int-poll-skip":
        "Within one poll (or one transaction's polls) a partition's records come "
        "contiguously, without skipping records that exist.",
    "int-nonmonotonic-poll":
        "Within one poll (or one transaction's polls) a partition's records come in "
        "offset order, each once.",
    "int-send-skip":
        "Kafka does not promise that one transaction's sends to a partition are "
        "adjacent; this records interleaving by other producers.",
    "int-nonmonotonic-send":
        "Sends from one producer to one partition within a transaction are appended in "
        "the order they were sent.",
    "nonmonotonic-send":
        "Sends from one producer to one partition are appended in the order the "
        "producer sent them (per-partition ordering).",
    "unseen":
        "Every acknowledged write is eventually readable: by the end of the run some "
        "consumer should have polled it.",
    "G0":
        "Kafka does not isolate transactions' writes, so write cycles are expected; "
        "this records them.",
    "G1c":
        "Transactions are atomic and read committed: two transactions cannot each "
        "observe the other's writes (a circular information flow).",
}

SubVia = Literal["assign", "subscribe"]
SUB_VIAS: Final[tuple[str, ...]] = ("assign", "subscribe")
#: acks settings as Kafka spells them; "-1" is "all".

ALWAYS_ALLOWED: Final[frozenset[str]] = frozenset(("int-send-skip", "G0"))
SUBSCRIBE_ALLOWED: Final[frozenset[str]] = frozenset(("poll-skip", "nonmonotonic-poll"))
WEAK_ACKS_ALLOWED: Final[frozenset[str]] = frozenset(("lost-write", "unseen"))


@dataclass(frozen=True, slots=True, kw_only=True)
class LogCheckOptions:
    """How the run was configured, as far as the log checker's verdict depends on it.

    ``max_witnesses`` caps the witnesses listed per type; ``CheckResult.counts`` always
    holds the full count.
    """

    sub_via: SubVia = "assign"
    acks: str = "all"
    allow: frozenset[str] = field(default_factory=frozenset)
    max_witnesses: int = 20
    #: key -> offset: records below it may have been deleted by retention
    deleted_below: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        below = {str(k): v for k, v in self.deleted_below.items()}
        for k, v in below.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise UsageError(f"deleted_below of key {k} must be an offset >= 0, "
                                 f"got {v!r}")
        object.__setattr__(self, "deleted_below", below)
        if self.sub_via not in SUB_VIAS:
            raise UsageError(
                f"sub_via {self.sub_via!r} is not a subscription method "
                "(expected \"assign\" or \"subscribe\")")
        acks, allow = validate_common(self.acks, self.allow, self.max_witnesses,
                                      ANOMALY_TYPES)
        object.__setattr__(self, "acks", acks)
        object.__setattr__(self, "allow", allow)

    def allowed_types(self) -> frozenset[str]:
        """The anomaly types this configuration tolerates."""
        out = set(ALWAYS_ALLOWED) | self.allow
        if self.sub_via == "subscribe":
            out |= SUBSCRIBE_ALLOWED
        if self.acks in ("0", "1"):
            out |= WEAK_ACKS_ALLOWED
        return frozenset(out)

    def classify(self, anomaly_type: str) -> str:
        """``"allowed"`` or ``"bad"``."""
        return "allowed" if anomaly_type in self.allowed_types() else "bad"
