"""Sans-I/O Raft: the replication core of the reference broker.

- `RaftNode` (`_node`): one member of a group; messages, ticks and ``now_ms`` in,
  a `Ready` of effects out. Its module docstring is the spec and the driver
  contract. `RaftConfig` holds timeouts, batching, pipelining and planted bugs;
  `Status` is a read-only snapshot (role, term, leader, commit, follower match and
  when each follower was last caught up).
- `_messages`: the RPCs (`PreVote`, `RequestVote`, `AppendEntries`, their
  responses, `TimeoutNow`, `InstallSnapshot`) and `Entry`.
- `_log`: `LogStorage` (what a backing store offers), `HardState`, `Snapshot`
  (the compacted prefix: retention), the `MemoryLog` model and `persist`, which
  applies a Ready's writes.

Drivers: the broker's asyncio server and ``harness.sim`` (deterministic).
"""

from ._log import HardState, LogStorage, MemoryLog, Snapshot, persist
from ._messages import (
    RESPONSES,
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    MalformedMessage,
    Message,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from ._node import (
    PLANTED_BUGS,
    NotLeader,
    RaftConfig,
    RaftInvariantError,
    RaftNode,
    RandInt,
    Ready,
    Role,
    Status,
)

__all__ = [
    "PLANTED_BUGS",
    "RESPONSES",
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "HardState",
    "InstallSnapshot",
    "LogStorage",
    "MalformedMessage",
    "MemoryLog",
    "Message",
    "NotLeader",
    "PreVote",
    "PreVoteResponse",
    "RaftConfig",
    "RaftInvariantError",
    "RaftNode",
    "RandInt",
    "Ready",
    "RequestVote",
    "RequestVoteResponse",
    "Role",
    "Snapshot",
    "Status",
    "TimeoutNow",
    "persist",
]
