"""The coordinator's in-memory model: group states, settings, members and groups.

Plain mutable records with no behaviour beyond what describes them (the transitions
live in `_coordinator`); `Group.record()` is how a group is persisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ._messages import Protocol
from ._records import GroupRecord, MemberRecord, OffsetRecord

__all__ = ["PLANTED_BUGS", "Group", "GroupConfig", "GroupState", "Member"]


PLANTED_BUGS = {
    "lost-group-commits": "OffsetCommit is acknowledged but never written to "
                          "__consumer_offsets, so commits go back after a restart",
    "zombie-commits": "OffsetCommit skips the member and generation checks, so a member "
                      "fenced by a rebalance can still move the group's offsets",
}


class GroupState(StrEnum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupConfig:
    """Coordinator settings, under the names of Kafka's broker properties."""

    initial_rebalance_delay_ms: int = 3000  # group.initial.rebalance.delay.ms
    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1800000  # group.max.session.timeout.ms
    max_size: int = 2**31 - 1  # group.max.size
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    new_member_join_timeout_ms: int = 300000  # Kafka's fixed new-member timeout
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000  # offsets.retention.minutes
    offsets_retention_check_interval_ms: int = 600000  # offsets.retention.check.interval.ms
    # Planted bugs (off by default), for proving that the harness catches them:
    # see PLANTED_BUGS.
    bugs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.bugs - PLANTED_BUGS.keys()
        if unknown:
            raise ValueError(f"unknown group coordinator bug(s) {sorted(unknown)}; "
                             f"known: {sorted(PLANTED_BUGS)}")


@dataclass(slots=True, kw_only=True)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: tuple[Protocol, ...]
    assignment: bytes = b""
    join_handle: int | None = None  # waiting in JoinGroup
    sync_handle: int | None = None  # waiting in SyncGroup
    is_new: bool = False
    deadline_ms: int = 0  # session expiry

    def names(self) -> list[str]:
        return [p.name for p in self.protocols]

    def metadata_for(self, protocol: str | None) -> bytes:
        for p in self.protocols:
            if p.name == protocol:
                return p.metadata
        return b""


@dataclass(slots=True)
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # member id -> expiry
    static: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    offsets: dict[tuple[str, int], OffsetRecord] = field(default_factory=dict)
    join_deadline_ms: int | None = None
    initial_join: bool = False
    initial_remaining_ms: int = 0
    new_member_added: bool = False
    sync_deadline_ms: int | None = None
    pending_sync: set[str] = field(default_factory=set)
    state_since_ms: int = -1  # when the group entered its state (offset expiry)

    def set_state(self, state: GroupState, now_ms: int) -> None:
        self.state = state
        self.state_since_ms = now_ms

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def fenced(self, member_id: str, instance_id: str | None) -> bool:
        if instance_id is None:
            return False
        current = self.static.get(instance_id)
        return current is not None and current != member_id

    def record(self) -> GroupRecord:
        return GroupRecord(
            group_id=self.group_id,
            generation=self.generation,
            protocol_type=self.protocol_type,
            protocol=self.protocol,
            leader=self.leader,
            members=tuple(
                MemberRecord(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    rebalance_timeout_ms=m.rebalance_timeout_ms,
                    session_timeout_ms=m.session_timeout_ms,
                    subscription=m.metadata_for(self.protocol),
                    assignment=m.assignment,
                )
                for m in self.members.values()
            ),
            state_timestamp_ms=self.state_since_ms,
        )
