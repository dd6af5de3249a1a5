"""Classic consumer groups: a sans-I/O coordinator and its durable offsets log.

- `GroupCoordinator` (`_coordinator`): the state machine; requests and `now_ms` in,
  `Output(replies, records)` out. Its module docstring is the spec.
- `_state`: the in-memory model (GroupState, GroupConfig, members and groups).
- `_messages`: the version-independent requests and results it speaks.
- `_records`: what it persists in `__consumer_offsets`, and the encoding.
- `store`: the `__consumer_offsets` log (record batches in a PartitionLog), replay and
  crash-safe compaction.
- `driver`: the asyncio driver the broker uses (`GroupService`: batches requests, fsyncs
  off the event loop, acknowledges only durable state) over any `GroupLog`: the local
  store on one node; in a cluster a Raft-replicated `__consumer_offsets` partition
  (`reference_broker.cluster.groups`), which may depose it (`Deposed`).
- `PLANTED_BUGS`: deliberate misbehaviours (off by default) for the harness's quality tests.

The wire side (every version of FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups) is
`reference_broker.protocol.handlers.groups`.
"""

from ._coordinator import GroupCoordinator, Output
from ._errors import ErrorCode
from ._messages import (
    NO_GENERATION,
    NO_LEADER_EPOCH,
    NO_OFFSET,
    UNKNOWN_MEMBER_ID,
    Assignment,
    CommitOffset,
    DeletedGroup,
    DeleteGroups,
    DeleteGroupsResult,
    FetchedOffset,
    GroupDescription,
    GroupListing,
    Heartbeat,
    HeartbeatResult,
    JoinedMember,
    JoinGroup,
    JoinResult,
    LeaveGroup,
    LeaveResult,
    LeavingMember,
    LeftMember,
    ListGroupsResult,
    MemberDescription,
    OffsetCommit,
    OffsetCommitResult,
    OffsetFetch,
    OffsetFetchResult,
    PartitionError,
    Protocol,
    Reply,
    Result,
    SyncGroup,
    SyncResult,
    TopicPartition,
)
from ._records import (
    GroupLogRecord,
    GroupRecord,
    GroupTombstone,
    MemberRecord,
    OffsetRecord,
    OffsetTombstone,
    RecordFormatError,
)
from ._state import PLANTED_BUGS, GroupConfig, GroupState

__all__ = [
    "NO_GENERATION",
    "NO_LEADER_EPOCH",
    "NO_OFFSET",
    "PLANTED_BUGS",
    "UNKNOWN_MEMBER_ID",
    "Assignment",
    "CommitOffset",
    "DeleteGroups",
    "DeleteGroupsResult",
    "DeletedGroup",
    "ErrorCode",
    "FetchedOffset",
    "GroupConfig",
    "GroupCoordinator",
    "GroupDescription",
    "GroupListing",
    "GroupLogRecord",
    "GroupRecord",
    "GroupState",
    "GroupTombstone",
    "Heartbeat",
    "HeartbeatResult",
    "JoinGroup",
    "JoinResult",
    "JoinedMember",
    "LeaveGroup",
    "LeaveResult",
    "LeavingMember",
    "LeftMember",
    "ListGroupsResult",
    "MemberDescription",
    "MemberRecord",
    "OffsetCommit",
    "OffsetCommitResult",
    "OffsetFetch",
    "OffsetFetchResult",
    "OffsetRecord",
    "OffsetTombstone",
    "Output",
    "PartitionError",
    "Protocol",
    "RecordFormatError",
    "Reply",
    "Result",
    "SyncGroup",
    "SyncResult",
    "TopicPartition",
]
