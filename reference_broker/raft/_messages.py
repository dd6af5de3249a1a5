"""The Raft RPCs and log entries, as frozen, slotted, keyword-only dataclasses.

Every message names its sender (`src`), its receiver (`dst`) and the sender's term.
Node ids are ints (Kafka broker ids). Indexes start at 1; index 0 with term 0 is
the empty prefix every log shares.

- `PreVote` asks "would you vote for me in `term`?" without anyone changing term,
  so a node cut off from the cluster cannot inflate terms and depose a healthy
  leader when it comes back (Ongaro's thesis, 9.6).
- `RequestVote.transfer` marks an election started by `TimeoutNow`: voters then
  ignore their leader lease, because the leader itself asked for the election.
- `AppendEntries` is also the heartbeat (no entries). Its response says how far
  the follower's log matches the leader's (`match_index`, on success) or where
  the leader should try next (`hint_index`, on rejection), and echoes `prev_index`
  so that stale answers to pipelined requests can be recognised.
- `InstallSnapshot` replaces AppendEntries for a follower that needs entries the
  leader has compacted away (retention): the leader's log now starts after
  (`index`, `snapshot_term`); `data` is the driver's description of that point
  (for a Kafka log, the log start offset). It is answered by an
  `AppendEntriesResponse` whose ``prev_index`` echoes `index`.
"""

from __future__ import annotations

from dataclasses import dataclass


class MalformedMessage(ValueError):
    """A message that breaks Raft's shape rules; names the sender. Raised when the
    message is built, so a node whose own state is corrupt fails at the source."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One log entry. ``data == b""`` is the no-op a new leader appends."""

    index: int
    term: int
    data: bytes

    def __post_init__(self) -> None:
        if self.index < 1 or self.term < 1:
            raise ValueError(f"Entry needs index >= 1 and term >= 1, got "
                             f"index={self.index} term={self.term}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PreVote:
    term: int  # the term the sender would stand in (its own term + 1)
    src: int
    dst: int
    last_log_index: int
    last_log_term: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PreVoteResponse:
    term: int  # the PreVote's term if granted, else the voter's own term
    src: int
    dst: int
    granted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVote:
    term: int
    src: int
    dst: int
    last_log_index: int
    last_log_term: int
    transfer: bool = False  # started by TimeoutNow: voters ignore their leader lease


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVoteResponse:
    term: int
    src: int
    dst: int
    granted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendEntries:
    term: int
    src: int
    dst: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    leader_commit: int

    def __post_init__(self) -> None:
        expect = self.prev_index + 1
        last_term = self.prev_term
        for e in self.entries:
            if e.index != expect or not last_term <= e.term <= self.term:
                raise MalformedMessage(
                    f"malformed AppendEntries from node {self.src} (term {self.term}): "
                    f"entry {e.index} of term {e.term} after index {expect - 1} of term "
                    f"{last_term}; entries must follow prev_index densely with terms "
                    f"between prev_term and the leader's term")
            expect += 1
            last_term = e.term


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendEntriesResponse:
    term: int
    src: int
    dst: int
    success: bool
    prev_index: int  # echoed from the request
    match_index: int  # on success: the follower's log equals the leader's up to here
    hint_index: int  # on rejection: retry with prev_index <= hint_index
    last_index: int  # the follower's last log index


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallSnapshot:
    """The leader's compacted prefix, for a follower whose next entry is inside it
    (Raft paper, section 7; the snapshot is just the point, no state is shipped)."""

    term: int
    src: int
    dst: int
    index: int  # the last compacted index
    snapshot_term: int  # the term of the entry at `index`
    data: bytes
    leader_commit: int

    def __post_init__(self) -> None:
        if self.index < 1 or not 1 <= self.snapshot_term <= self.term \
                or self.leader_commit < self.index:
            raise MalformedMessage(
                f"malformed InstallSnapshot from node {self.src} (term {self.term}): "
                f"snapshot at index {self.index} of term {self.snapshot_term} with commit "
                f"index {self.leader_commit}; a snapshot holds committed entries (index >= "
                f"1, 1 <= term <= the leader's, index <= leader_commit)")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutNow:
    """Sent by a leader handing over leadership: start an election right away."""

    term: int
    src: int
    dst: int


Message = (PreVote | PreVoteResponse | RequestVote | RequestVoteResponse | AppendEntries
           | AppendEntriesResponse | TimeoutNow | InstallSnapshot)

#: Messages that answer a request; a stale one (lower term) is simply dropped.
RESPONSES = (PreVoteResponse, RequestVoteResponse, AppendEntriesResponse)
