"""`RaftNode`: one member of a Raft group, as a sans-I/O state machine.

Inputs: `step(message, now_ms)`, `tick(now_ms)`, `propose(data)`,
`transfer_leadership(to, now_ms)`, `compact(index, data)`; `status()` only reads.
Each input may leave effects behind; `ready()` hands them over (and `step`/`tick`
return it) as one `Ready`: the messages to send, the log writes (`snapshot`,
`truncate_from`, `entries`) and `hard_state` to persist, whether to fsync (`sync`)
before any message leaves or any committed entry is applied, and the entries
that became committed. The node never reads a clock, a socket or a
random source: time comes in as ``now_ms`` and election timeouts are drawn from the
injected ``randint(lo, hi)``.

Driver contract (the asyncio server and ``harness.sim`` both obey it):

1. After `ready()`, persist its writes (`persist` in ``_log``) before calling the
   node again; the node reads its log back from storage.
2. Release Readies in order: a Ready's ``messages`` may be sent and its
   ``committed`` entries applied only once the writes of this and every earlier
   Ready with ``sync`` are fsynced (a leader counts its own written entries
   towards a quorum at once, so its commit notices must wait for its fsync).
   Several Readies may share one fsync (group commit).
3. Deliver messages in any order, any number of times, or not at all: the node
   copes with loss, duplication and reordering.

The protocol (Ongaro's thesis; etcd-raft's progress tracking):

- Election: a follower that hears nothing for a randomised election timeout first
  runs a pre-vote (nobody changes term); only with a majority of pre-votes does it
  become a candidate of ``term + 1``. A voter refuses (pre-)votes while it has
  heard from a leader within ``election_timeout_ms_min`` (the leader lease) unless
  the election was asked for by the leader (`TimeoutNow`), so a node rejoining
  after a partition cannot depose a healthy leader.
- A new leader appends a no-op of its term; entries of older terms become
  committed only through an entry of the current term (thesis 3.6.2).
- Replication: per follower, probe (one AppendEntries in flight until answered)
  until the logs match, then replicate: up to ``max_inflight`` pipelined
  AppendEntries of up to ``max_batch_entries`` / ``max_batch_bytes`` each. A
  rejection falls back to probing from the follower's hint; no progress for
  ``2 * heartbeat_interval_ms`` with messages in flight is taken as loss and also
  falls back to probing. While a probe is unanswered the follower gets only empty
  heartbeats (etcd-raft's paused probe), whose answer sends the next probe, so a
  dead or paused follower does not pile up copies of the same entries. Proposals
  made between two `ready()` calls travel together (batching). A follower learns a
  new commit index from the next AppendEntries, at the latest the next heartbeat:
  no extra round trip per commit (it would double the messages of every write,
  for a follower that needs the commit index only for retention and failover).
- A follower that receives entries conflicting with its own drops its log from the
  first conflict on (never at or below its commit index: that raises
  `RaftInvariantError`) and appends the leader's.
- Check-quorum: every ``election_timeout_ms_min`` a leader that has not heard from
  a majority (itself included) in that span steps down.
- Leadership transfer (clean shutdown): the leader stops taking proposals, brings
  the target up to date, sends it `TimeoutNow`; the target starts an election at
  once. The transfer is abandoned after ``election_timeout_ms_max``. To shut down
  cleanly, call ``transfer_leadership(None, now)`` and keep driving the node until
  a Ready reports the role change (or the transfer times out), then stop.
- Restart: term and vote come from the storage's hard state, the log from the
  storage; the commit index restarts at the snapshot point (0 without one) and is
  relearnt from the leader.
- Compaction (retention): `compact(index, data)` lets the driver forget the
  entries up to ``index``, which must be committed and already handed out in a
  Ready's ``committed``; the Ready then carries the `Snapshot` to write. A leader
  whose follower needs an entry at or below its snapshot point sends
  `InstallSnapshot` instead of AppendEntries (again at every heartbeat until
  answered). A follower that holds the snapshot's (index, term) treats it as an
  empty AppendEntries; otherwise it drops its whole log, which restarts after the
  point (Ready ``snapshot`` with ``reset``: its state machine jumps there; its
  commit index becomes the point). Entries up to a snapshot point are committed,
  so a follower's own compaction never conflicts with a leader's AppendEntries:
  the part at or below its point is taken as matching.

Errors: a caller's mistake (a message for another node, a transfer to a
non-voter, bad config) raises `ValueError`; a malformed message raises
`MalformedMessage` when it is built; anything that would break Raft's safety
(overwriting a committed entry, a second leader in a term) raises
`RaftInvariantError` naming both nodes.

Planted bugs (`RaftConfig.bugs`, off by default) are realistic misimplementations
that the simulator's property tests must catch: see `PLANTED_BUGS`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._log import HardState, LogStorage, LogView, Snapshot
from ._messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    Message,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)

__all__ = [
    "PLANTED_BUGS",
    "NotLeader",
    "RaftConfig",
    "RaftInvariantError",
    "RaftNode",
    "Ready",
    "Role",
    "Status",
]

PLANTED_BUGS = {
    "no-truncate-on-election": "a follower whose log conflicts with a new leader's "
                               "overwrites the conflicting entries in place but keeps "
                               "the divergent suffix behind them, so entries of a deposed "
                               "leader survive (log matching breaks)",
    "unclean-election": "voters grant (pre-)votes without comparing logs, so a node "
                        "missing committed entries can become leader and overwrite them "
                        "(Kafka's unclean leader election)",
    "unsynced-hard-state": "term and vote changes are written but not fsynced before the "
                           "messages that depend on them leave, so a node that crashes "
                           "forgets its vote and can vote twice in one term",
}

#: Draws an election timeout in [lo, hi] ms; injected so the core has no randomness.
RandInt = Callable[[int, int], int]


class RaftInvariantError(AssertionError):
    """The node was asked to do something Raft forbids (a local bug or a broken peer)."""


class Role(StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True, kw_only=True)
class RaftConfig:
    """One node's settings. ``voters`` lists every member, this node included."""

    node_id: int
    voters: tuple[int, ...]
    election_timeout_ms_min: int = 150
    election_timeout_ms_max: int = 300
    heartbeat_interval_ms: int = 50
    max_batch_entries: int = 64
    max_batch_bytes: int = 1 << 20
    max_inflight: int = 8  # pipelined AppendEntries per follower
    pre_vote: bool = True
    check_quorum: bool = True
    #: False: Readies leave ``committed`` empty (a driver that applies nothing need not
    #: have every committed entry read back from its storage)
    committed_entries: bool = True
    bugs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.node_id not in self.voters or len(set(self.voters)) != len(self.voters):
            raise ValueError(f"voters must list distinct ids including node_id "
                             f"{self.node_id}, got {self.voters}")
        if not 0 < self.heartbeat_interval_ms < self.election_timeout_ms_min \
                <= self.election_timeout_ms_max:
            raise ValueError("need 0 < heartbeat_interval_ms < election_timeout_ms_min <= "
                             f"election_timeout_ms_max, got {self.heartbeat_interval_ms}, "
                             f"{self.election_timeout_ms_min}, "
                             f"{self.election_timeout_ms_max}")
        if self.max_batch_entries < 1 or self.max_inflight < 1 or self.max_batch_bytes < 1:
            raise ValueError("max_batch_entries, max_batch_bytes and max_inflight must be >= 1")
        unknown = self.bugs - PLANTED_BUGS.keys()
        if unknown:
            raise ValueError(f"unknown raft bug(s) {sorted(unknown)}; known: "
                             f"{sorted(PLANTED_BUGS)}")

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1


@dataclass(frozen=True, slots=True)
class NotLeader:
    """A proposal or transfer refused: ask `leader_id` (None if unknown) instead."""

    leader_id: int | None
    reason: str = "not the leader"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """The effects of the inputs since the last `ready()` (see the driver contract)."""

    messages: tuple[Message, ...] = ()
    snapshot: Snapshot | None = None  # first compact the log to this point (or reset)
    reset: bool = False  # the snapshot replaces the whole log (and the state machine)
    truncate_from: int | None = None  # then drop entries with index >= this
    entries: tuple[Entry, ...] = ()  # then append these
    hard_state: HardState | None = None  # then store this
    sync: bool = False  # fsync the writes before sending messages / applying
    committed: tuple[Entry, ...] = ()  # newly committed, in index order
    commit_index: int = 0
    term: int = 0
    role: Role = Role.FOLLOWER
    role_changed: bool = False
    leader_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """A snapshot of a node for metadata and debugging (no effects).

    ``match`` (leaders only) is how far each follower's log is known to match;
    ``caught_up`` lists the followers that match the leader's whole log right now;
    ``caught_up_ms`` (leaders only) is, per follower, the last time its log was known
    to hold the leader's whole log of that moment (Kafka's lastCaughtUpTime: a
    follower is in sync while this is within ``replica.lag.time.max.ms``)."""

    id: int
    role: Role
    term: int
    leader_id: int | None
    commit_index: int
    last_index: int
    match: dict[int, int]
    caught_up: tuple[int, ...]
    transferring_to: int | None
    caught_up_ms: dict[int, int] = field(default_factory=dict)
    snapshot_index: int = 0  # the log holds the entries after this one


@dataclass(slots=True)
class _Progress:
    """What the leader knows of one follower's log."""

    next: int
    match: int = 0
    replicating: bool = False  # False: probing, one AppendEntries at a time
    probe_sent: bool = False
    inflight: deque[int] = field(default_factory=deque)  # last index of each send
    active: bool = False  # heard from since the last check-quorum
    progress_ms: int = 0  # when match last advanced or the window last opened
    caught_up_ms: int = 0  # when its log last held the leader's whole log (see Status)
    end_seen: int = 0  # the leader's last index at its previous successful answer
    end_seen_ms: int = 0  # and when that answer came


class RaftNode:
    """One Raft member; see the module docstring for the contract."""

    def __init__(self, config: RaftConfig, storage: LogStorage, randint: RandInt,
                 now_ms: int) -> None:
        self.config = config
        self.id = config.node_id
        self._peers = tuple(v for v in config.voters if v != self.id)
        self._randint = randint
        self._truncate_bug = "no-truncate-on-election" in config.bugs
        self._unclean_bug = "unclean-election" in config.bugs
        self._unsynced_hs_bug = "unsynced-hard-state" in config.bugs
        hs = storage.hard_state()
        self.term = hs.term
        self.voted_for = hs.voted_for
        self.log = LogView(storage)
        self.role = Role.FOLLOWER
        self.leader_id: int | None = None
        self.commit_index = self.log.snapshot.index  # a snapshot holds committed entries
        self._applied = self.commit_index  # committed entries handed out so far
        self._progress: dict[int, _Progress] = {}
        self._votes: dict[int, bool] = {}
        self._heard_leader_ms: int | None = None
        self._election_deadline_ms = 0
        self._heartbeat_due_ms = 0
        self._quorum_check_ms = 0
        self._transfer_to: int | None = None
        self._transfer_deadline_ms = 0
        # effects since the last ready()
        self._out: list[Message] = []
        self._hs_dirty = False
        self._role_changed = False
        self._replicate_due = False
        self._now_ms = now_ms  # the latest time an input brought
        self._reset_election_timer(now_ms)

    # -- public inputs -------------------------------------------------------------

    def step(self, msg: Message, now_ms: int) -> Ready:
        """Handle one message addressed to this node."""
        if msg.dst != self.id:
            raise ValueError(f"message for node {msg.dst} stepped into node {self.id}")
        self._now_ms = now_ms
        if msg.src in self._peers:
            self._step(msg, now_ms)
        return self.ready()

    def tick(self, now_ms: int) -> Ready:
        """Let time pass: elections, heartbeats, check-quorum, transfer timeouts."""
        self._now_ms = now_ms
        if self.role is Role.LEADER:
            if self._transfer_to is not None and now_ms >= self._transfer_deadline_ms:
                self._transfer_to = None
            if self.config.check_quorum and now_ms >= self._quorum_check_ms:
                active = 1 + sum(1 for p in self._progress.values() if p.active)
                for p in self._progress.values():
                    p.active = False
                self._quorum_check_ms = now_ms + self.config.election_timeout_ms_min
                if active < self.config.quorum:
                    self._become_follower(self.term, None, now_ms)
                    return self.ready()
            if now_ms >= self._heartbeat_due_ms:
                self._heartbeat_due_ms = self._next_heartbeat_ms(now_ms)
                for peer in self._peers:
                    self._heartbeat(peer, now_ms)
        elif now_ms >= self._election_deadline_ms:
            self._campaign(now_ms, pre=self.config.pre_vote, transfer=False)
        return self.ready()

    def next_tick_ms(self) -> int:
        """The earliest time at which `tick` has something to do (an election,
        heartbeat, check-quorum or transfer timeout is due): a driver may skip ticks
        before it, so an idle group costs nothing. Every input may move it."""
        if self.role is not Role.LEADER:
            return self._election_deadline_ms
        due = self._heartbeat_due_ms
        if self.config.check_quorum:
            due = min(due, self._quorum_check_ms)
        if self._transfer_to is not None:
            due = min(due, self._transfer_deadline_ms)
        return due

    def propose(self, data: bytes, now_ms: int | None = None) -> int | NotLeader:
        """Append ``data`` as a new entry if this node leads; returns its index.

        The entry is committed when a later Ready lists it in ``committed``; it may
        also be lost (the leader is deposed first). Proposals batch: every entry
        proposed before the next `ready()` travels in the same AppendEntries.
        ``now_ms``, if given, is the time (else the latest an input brought)."""
        if now_ms is not None:
            self._now_ms = now_ms
        if self.role is not Role.LEADER:
            return NotLeader(self.leader_id)
        if self._transfer_to is not None:
            return NotLeader(self.id, "transferring leadership")
        index = self.log.last_index + 1
        self.log.append((Entry(index=index, term=self.term, data=data),))
        self._replicate_due = True
        if not self._peers:
            self._maybe_commit()
        return index

    def transfer_leadership(self, to: int | None, now_ms: int) -> NotLeader | None:
        """Hand leadership to ``to`` (None: the most up-to-date peer), e.g. before a
        clean shutdown. Proposals are refused until it succeeds or times out."""
        self._now_ms = now_ms
        if self.role is not Role.LEADER:
            return NotLeader(self.leader_id)
        if not self._peers or to == self.id:
            return None
        if to is None:
            to = max(self._peers, key=lambda p: (self._progress[p].match, -p))
        elif to not in self._peers:
            raise ValueError(f"cannot transfer leadership to {to}: not a voter "
                             f"{self.config.voters}")
        self._transfer_to = to
        self._transfer_deadline_ms = now_ms + self.config.election_timeout_ms_max
        if self._progress[to].match == self.log.last_index:
            self._send(TimeoutNow(term=self.term, src=self.id, dst=to))
        else:
            self._send_append(to, now_ms)
        return None

    def status(self) -> Status:
        match = {p: pr.match for p, pr in self._progress.items()}
        last = self.log.last_index
        return Status(id=self.id, role=self.role, term=self.term, leader_id=self.leader_id,
                      commit_index=self.commit_index, last_index=last, match=match,
                      caught_up=tuple(sorted(p for p, m in match.items() if m == last)),
                      transferring_to=self._transfer_to,
                      caught_up_ms={p: pr.caught_up_ms for p, pr in self._progress.items()},
                      snapshot_index=self.log.snapshot.index)

    def compact(self, index: int, data: bytes = b"") -> None:
        """Forget the log up to ``index`` (retention); ``data`` describes the point to
        the driver and to followers that need it (`InstallSnapshot`). Only entries
        already handed out as committed may go; a point at or below the current one
        changes nothing."""
        if index <= self.log.snapshot.index:
            return
        if index > self._applied:
            raise ValueError(f"node {self.id}: cannot compact up to {index}: only entries "
                             f"up to {self._applied} are committed and handed out")
        term = self.log.term_at(index)
        assert term is not None
        self.log.compact(Snapshot(index=index, term=term, data=data))

    def ready(self) -> Ready:
        """Hand over (and forget) the effects of the inputs so far."""
        if self._replicate_due:
            self._replicate_due = False
            if self.role is Role.LEADER:
                for peer in self._peers:
                    self._send_append(peer, self._now_ms)
        committed: tuple[Entry, ...] = ()
        if self.commit_index > self._applied:  # read before take(): may be unwritten
            if self.config.committed_entries:
                committed = tuple(self.log.entries(self._applied + 1,
                                                   self.commit_index + 1))
            self._applied = self.commit_index
        snapshot, reset = self.log.take_snapshot()
        truncate_from, entries = self.log.take()
        hard_state = HardState(term=self.term, voted_for=self.voted_for) \
            if self._hs_dirty else None
        ready = Ready(
            messages=tuple(self._out),
            snapshot=snapshot,
            reset=reset,
            truncate_from=truncate_from,
            entries=entries,
            hard_state=hard_state,
            sync=(hard_state is not None and not self._unsynced_hs_bug)  # planted bug
            or truncate_from is not None or bool(entries) or snapshot is not None,
            committed=committed,
            commit_index=self.commit_index,
            term=self.term,
            role=self.role,
            role_changed=self._role_changed,
            leader_id=self.leader_id,
        )
        self._out = []
        self._hs_dirty = False
        self._role_changed = False
        return ready

    # -- message dispatch ----------------------------------------------------------

    def _step(self, msg: Message, now_ms: int) -> None:
        if msg.term > self.term:
            if isinstance(msg, PreVote) or (isinstance(msg, PreVoteResponse) and msg.granted):
                pass  # a pre-vote changes nobody's term
            elif isinstance(msg, RequestVote) and not msg.transfer \
                    and self._in_lease(now_ms):
                return  # a leader we heard from lately is alive: ignore the election
            else:
                leader = msg.src if isinstance(msg, (AppendEntries, InstallSnapshot,
                                                     TimeoutNow)) else None
                self._become_follower(msg.term, leader, now_ms)
        elif msg.term < self.term:
            if isinstance(msg, AppendEntries):  # tell a deposed leader it is deposed
                self._send(self._append_response(msg.src, False, msg.prev_index, 0,
                                                 self.log.last_index))
            elif isinstance(msg, InstallSnapshot):
                self._send(self._append_response(msg.src, False, msg.index, 0,
                                                 self.log.last_index))
            elif isinstance(msg, PreVote):
                self._send(PreVoteResponse(term=self.term, src=self.id, dst=msg.src,
                                           granted=False))
            elif isinstance(msg, RequestVote):
                self._send(RequestVoteResponse(term=self.term, src=self.id, dst=msg.src,
                                               granted=False))
            return  # stale responses are dropped
        handler = _TRANSITIONS.get((self.role, type(msg)))
        if handler is not None:
            handler(self, msg, now_ms)

    def _on_pre_vote(self, msg: PreVote, now_ms: int) -> None:
        granted = (msg.term > self.term and not self._in_lease(now_ms)
                   and self._up_to_date(msg.last_log_index, msg.last_log_term))
        self._send(PreVoteResponse(term=msg.term if granted else self.term, src=self.id,
                                   dst=msg.src, granted=granted))

    def _on_request_vote(self, msg: RequestVote, now_ms: int) -> None:
        can_vote = self.voted_for == msg.src or (self.voted_for is None
                                                 and self.leader_id is None)
        granted = can_vote and self._up_to_date(msg.last_log_index, msg.last_log_term)
        if granted:
            self.voted_for = msg.src
            self._hs_dirty = True
            self._reset_election_timer(now_ms)
        self._send(RequestVoteResponse(term=self.term, src=self.id, dst=msg.src,
                                       granted=granted))

    def _on_pre_vote_response(self, msg: PreVoteResponse, now_ms: int) -> None:
        if msg.granted and msg.term != self.term + 1:
            return  # a stale answer to an earlier pre-vote
        if self._count_vote(msg.src, msg.granted):
            self._campaign(now_ms, pre=False, transfer=False)

    def _on_vote_response(self, msg: RequestVoteResponse, now_ms: int) -> None:
        if self._count_vote(msg.src, msg.granted):
            self._become_leader(now_ms)

    def _follow(self, leader: int, now_ms: int) -> None:
        """A message from the leader of this term: follow it."""
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, leader, now_ms)
        self.leader_id = leader
        self._heard_leader_ms = now_ms
        self._reset_election_timer(now_ms)

    def _on_append(self, msg: AppendEntries, now_ms: int) -> None:
        self._follow(msg.src, now_ms)
        log = self.log
        last = log.last_index
        if msg.prev_index > last:
            self._send(self._append_response(msg.src, False, msg.prev_index, last, last))
            return
        snap = log.snapshot
        entries = msg.entries
        if msg.prev_index < snap.index:
            # Up to the snapshot point this log is committed, so it equals the leader's:
            # check and append only what lies beyond.
            entries = entries[snap.index - msg.prev_index:]
            if not entries:
                match = max(msg.prev_index + len(msg.entries), snap.index)
                self._learn_commit(min(msg.leader_commit, match))
                self._send(self._append_response(msg.src, True, msg.prev_index, match,
                                                 last))
                return
        term = log.term_at(msg.prev_index)
        if msg.prev_index >= snap.index and term != msg.prev_term:
            if msg.prev_index <= self.commit_index:
                raise RaftInvariantError(
                    f"node {self.id}: leader {msg.src} of term {msg.term} disagrees at "
                    f"committed index {msg.prev_index} (term {term} here, "
                    f"{msg.prev_term} there)")
            hint = msg.prev_index - 1  # skip back over the whole conflicting term
            while hint > self.commit_index and log.term_at(hint) == term:
                hint -= 1
            self._send(self._append_response(msg.src, False, msg.prev_index, hint, last))
            return
        skip = 0
        for e in entries:
            if e.index > last:
                break
            if log.term_at(e.index) != e.term:
                if e.index <= self.commit_index:
                    raise RaftInvariantError(
                        f"node {self.id}: leader {msg.src} of term {msg.term} would "
                        f"overwrite committed entry {e.index}")
                if self._truncate_bug:
                    # Planted bug: overwrite in place, keep the stale suffix behind.
                    rest = entries[skip:]
                    tail = log.entries(rest[-1].index + 1, last + 1)
                    log.truncate(e.index)
                    log.append(rest)
                    log.append(tail)
                    skip = len(entries)
                else:
                    log.truncate(e.index)
                break
            skip += 1
        if skip < len(entries):
            log.append(entries[skip:])
        match = msg.prev_index + len(msg.entries)
        self._learn_commit(min(msg.leader_commit, match))
        self._send(self._append_response(msg.src, True, msg.prev_index, match,
                                         log.last_index))

    def _learn_commit(self, index: int) -> None:
        if index > self.commit_index:
            self.commit_index = index

    def _on_snapshot(self, msg: InstallSnapshot, now_ms: int) -> None:
        self._follow(msg.src, now_ms)
        log = self.log
        if msg.index > self.commit_index and log.term_at(msg.index) != msg.snapshot_term:
            # This log lacks the leader's compacted prefix (or diverges inside it):
            # drop it all and restart after the point, as Kafka's follower does.
            log.reset(Snapshot(index=msg.index, term=msg.snapshot_term, data=msg.data))
            self.commit_index = self._applied = msg.index
        # Else it holds the point already (committed entries equal the leader's), so
        # this is an empty AppendEntries whose prev is the snapshot point.
        self._learn_commit(msg.index)
        self._send(self._append_response(msg.src, True, msg.index, msg.index,
                                         log.last_index))

    def _on_append_response(self, msg: AppendEntriesResponse, now_ms: int) -> None:
        pr = self._progress[msg.src]
        pr.active = True
        if msg.success:
            self._note_caught_up(pr, msg.match_index, now_ms)
            if msg.match_index > pr.match:
                pr.match = msg.match_index
                pr.progress_ms = now_ms
                if not pr.replicating:
                    pr.replicating = True
                    pr.inflight.clear()
                while pr.inflight and pr.inflight[0] <= pr.match:
                    pr.inflight.popleft()
                pr.next = max(pr.next, pr.match + 1)
                self._maybe_commit()
            pr.probe_sent = False
            if msg.src == self._transfer_to and pr.match == self.log.last_index:
                self._send(TimeoutNow(term=self.term, src=self.id, dst=msg.src))
                return
            self._send_append(msg.src, now_ms)
            return
        # Stale: the answer to an earlier request, since overtaken. (Replicating, a
        # rejection at prev_index == match is not stale: it says the entries after
        # match were dropped, e.g. because they overtook their predecessors.)
        if msg.prev_index < pr.match if pr.replicating else msg.prev_index != pr.next - 1:
            return
        pr.replicating = False  # probe back from the follower's hint
        pr.inflight.clear()
        pr.probe_sent = False
        pr.next = max(pr.match + 1, min(msg.hint_index + 1, msg.prev_index))
        self._send_append(msg.src, now_ms)

    def _note_caught_up(self, pr: _Progress, match: int, now_ms: int) -> None:
        """Kafka's rule: a follower holding the leader's log end of now is caught up
        now; one holding the log end of its previous answer was caught up then."""
        end = self.log.last_index
        if match >= end:
            pr.caught_up_ms = now_ms
        elif match >= pr.end_seen:
            pr.caught_up_ms = max(pr.caught_up_ms, pr.end_seen_ms)
        pr.end_seen, pr.end_seen_ms = end, now_ms

    def _on_rival_leader(self, msg: AppendEntries | InstallSnapshot, now_ms: int) -> None:
        raise RaftInvariantError(f"node {self.id} leads term {self.term} but node {msg.src} "
                                 f"sent AppendEntries as leader of the same term")

    def _on_timeout_now(self, msg: TimeoutNow, now_ms: int) -> None:
        self._campaign(now_ms, pre=False, transfer=True)

    # -- role changes --------------------------------------------------------------

    def _become_follower(self, term: int, leader: int | None, now_ms: int) -> None:
        if term != self.term:
            self.term = term
            self.voted_for = None
            self._hs_dirty = True
        if self.role is not Role.FOLLOWER:
            self.role = Role.FOLLOWER
            self._role_changed = True
        self.leader_id = leader
        if leader is not None:
            self._heard_leader_ms = now_ms
        self._progress.clear()
        self._transfer_to = None
        self._reset_election_timer(now_ms)

    def _campaign(self, now_ms: int, *, pre: bool, transfer: bool) -> None:
        self._reset_election_timer(now_ms)
        self.leader_id = None
        self._votes = {self.id: True}
        if pre:
            self.role = Role.PRE_CANDIDATE
            term = self.term + 1
        else:
            self.role = Role.CANDIDATE
            self.term += 1
            self.voted_for = self.id
            self._hs_dirty = True
            term = self.term
        self._role_changed = True
        if not self._peers:
            if pre:
                self._campaign(now_ms, pre=False, transfer=False)
            else:
                self._become_leader(now_ms)
            return
        last, last_term = self.log.last_index, self.log.last_term
        for peer in self._peers:
            if pre:
                self._send(PreVote(term=term, src=self.id, dst=peer, last_log_index=last,
                                   last_log_term=last_term))
            else:
                self._send(RequestVote(term=term, src=self.id, dst=peer,
                                       last_log_index=last, last_log_term=last_term,
                                       transfer=transfer))

    def _count_vote(self, src: int, granted: bool) -> bool:
        """Record a (pre-)vote; True once a majority granted. A majority of refusals
        sends the node back to following."""
        self._votes[src] = granted
        yes = sum(1 for g in self._votes.values() if g)
        if yes >= self.config.quorum:
            return True
        if len(self._votes) - yes >= self.config.quorum:
            self.role = Role.FOLLOWER
            self._role_changed = True
        return False

    def _become_leader(self, now_ms: int) -> None:
        self.role = Role.LEADER
        self._role_changed = True
        self.leader_id = self.id
        self._transfer_to = None
        nxt = self.log.last_index + 1
        self._progress = {p: _Progress(next=nxt, progress_ms=now_ms, caught_up_ms=now_ms)
                          for p in self._peers}
        self.log.append((Entry(index=nxt, term=self.term, data=b""),))
        self._heartbeat_due_ms = self._next_heartbeat_ms(now_ms)
        self._quorum_check_ms = now_ms + self.config.election_timeout_ms_min
        if self._peers:
            for peer in self._peers:
                self._send_append(peer, now_ms)
        else:
            self._maybe_commit()

    # -- leader: replication -------------------------------------------------------

    def _send_append(self, peer: int, now_ms: int) -> None:
        """Send what ``peer`` lacks, as far as its progress state allows."""
        pr = self._progress[peer]
        log = self.log
        if pr.next <= log.snapshot.index:  # it needs compacted entries: the snapshot
            if pr.replicating:
                pr.replicating = False
                pr.inflight.clear()
                pr.probe_sent = False
            if not pr.probe_sent:
                pr.probe_sent = True
                snap = log.snapshot
                self._send(InstallSnapshot(term=self.term, src=self.id, dst=peer,
                                           index=snap.index, snapshot_term=snap.term,
                                           data=snap.data, leader_commit=self.commit_index))
            return
        if not pr.replicating:
            if pr.probe_sent:
                return
            pr.probe_sent = True
            self._send(self._append(peer, pr.next))
            return
        cfg = self.config
        if not pr.inflight:
            pr.progress_ms = now_ms
        while len(pr.inflight) < cfg.max_inflight and pr.next <= log.last_index:
            msg = self._append(peer, pr.next)
            pr.next = msg.entries[-1].index + 1
            pr.inflight.append(pr.next - 1)
            self._send(msg)

    def _append(self, peer: int, nxt: int) -> AppendEntries:
        cfg = self.config
        entries = self.log.entries(nxt, nxt + cfg.max_batch_entries)
        if len(entries) > 1:
            size = 0
            for i, e in enumerate(entries):
                size += len(e.data)
                if size > cfg.max_batch_bytes and i > 0:
                    del entries[i:]
                    break
        prev_term = self.log.term_at(nxt - 1)
        assert prev_term is not None
        return AppendEntries(term=self.term, src=self.id, dst=peer, prev_index=nxt - 1,
                             prev_term=prev_term, entries=tuple(entries),
                             leader_commit=self.commit_index)

    def _heartbeat(self, peer: int, now_ms: int) -> None:
        pr = self._progress[peer]
        if pr.replicating and pr.inflight and \
                now_ms - pr.progress_ms >= 2 * self.config.heartbeat_interval_ms:
            pr.replicating = False  # presumed lost (or the follower is down): probe
            pr.inflight.clear()  # from what is known to match, once it answers
            pr.next = pr.match + 1
            pr.probe_sent = True
        if not pr.replicating:
            if pr.probe_sent:
                # The last probe or its answer may be lost, or the follower is down or
                # paused: a heartbeat asks first (its answer re-opens probing), so a
                # silent follower is not sent the same entries again and again.
                self._send_empty_append(peer, pr, now_ms)
            else:
                self._send_append(peer, now_ms)
            return
        sent = len(self._out)
        self._send_append(peer, now_ms)
        if len(self._out) == sent:  # nothing new to send: an empty AppendEntries
            self._send_empty_append(peer, pr, now_ms)

    def _maybe_commit(self) -> None:
        matches = sorted([self.log.last_index, *(p.match for p in self._progress.values())],
                         reverse=True)
        index = matches[self.config.quorum - 1]
        if index > self.commit_index and self.log.term_at(index) == self.term:
            self.commit_index = index  # followers hear it with the next AppendEntries

    def _send_empty_append(self, peer: int, pr: _Progress, now_ms: int) -> None:
        """A heartbeat at the follower's match, or (if the match is compacted away)
        the snapshot."""
        prev_term = self.log.term_at(pr.match)
        if prev_term is None:
            pr.replicating = False
            pr.inflight.clear()
            pr.probe_sent = False
            pr.next = pr.match + 1
            self._send_append(peer, now_ms)
            return
        self._send(AppendEntries(term=self.term, src=self.id, dst=peer, prev_index=pr.match,
                                 prev_term=prev_term, entries=(),
                                 leader_commit=self.commit_index))

    # -- helpers -------------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        self._out.append(msg)

    def _append_response(self, dst: int, success: bool, prev_index: int, index: int,
                         last: int) -> AppendEntriesResponse:
        return AppendEntriesResponse(term=self.term, src=self.id, dst=dst, success=success,
                                     prev_index=prev_index,
                                     match_index=index if success else 0,
                                     hint_index=0 if success else index, last_index=last)

    def _up_to_date(self, last_index: int, last_term: int) -> bool:
        if self._unclean_bug:
            return True  # planted bug: any candidate will do
        return (last_term, last_index) >= (self.log.last_term, self.log.last_index)

    def _in_lease(self, now_ms: int) -> bool:
        """Whether a leader is known to be alive, so elections should be refused."""
        if not self.config.check_quorum or self.leader_id is None:
            return False
        if self.role is Role.LEADER:
            return True
        heard = self._heard_leader_ms
        return heard is not None and now_ms - heard < self.config.election_timeout_ms_min

    def _next_heartbeat_ms(self, now_ms: int) -> int:
        """The next multiple of the heartbeat interval: every group a driver runs
        heartbeats at the same ticks, so their messages to a peer travel together."""
        interval = self.config.heartbeat_interval_ms
        return now_ms - now_ms % interval + interval

    def _reset_election_timer(self, now_ms: int) -> None:
        cfg = self.config
        self._election_deadline_ms = now_ms + self._randint(cfg.election_timeout_ms_min,
                                                            cfg.election_timeout_ms_max)


_Handler = Callable[[RaftNode, Any, int], None]  # Any: each takes its own message type

#: What each role does with each message of its own term (other terms are settled
#: in `_step` first); anything not in the table is stale (e.g. a vote arriving after
#: the election was decided) and is dropped.
_TRANSITIONS: dict[tuple[Role, type], _Handler] = {
    (Role.FOLLOWER, PreVote): RaftNode._on_pre_vote,
    (Role.PRE_CANDIDATE, PreVote): RaftNode._on_pre_vote,
    (Role.CANDIDATE, PreVote): RaftNode._on_pre_vote,
    (Role.LEADER, PreVote): RaftNode._on_pre_vote,
    (Role.FOLLOWER, RequestVote): RaftNode._on_request_vote,
    (Role.PRE_CANDIDATE, RequestVote): RaftNode._on_request_vote,
    (Role.CANDIDATE, RequestVote): RaftNode._on_request_vote,
    (Role.LEADER, RequestVote): RaftNode._on_request_vote,
    (Role.PRE_CANDIDATE, PreVoteResponse): RaftNode._on_pre_vote_response,
    (Role.CANDIDATE, RequestVoteResponse): RaftNode._on_vote_response,
    (Role.FOLLOWER, AppendEntries): RaftNode._on_append,
    (Role.PRE_CANDIDATE, AppendEntries): RaftNode._on_append,
    (Role.CANDIDATE, AppendEntries): RaftNode._on_append,
    (Role.LEADER, AppendEntries): RaftNode._on_rival_leader,  # two leaders in one term
    (Role.FOLLOWER, InstallSnapshot): RaftNode._on_snapshot,
    (Role.PRE_CANDIDATE, InstallSnapshot): RaftNode._on_snapshot,
    (Role.CANDIDATE, InstallSnapshot): RaftNode._on_snapshot,
    (Role.LEADER, InstallSnapshot): RaftNode._on_rival_leader,
    (Role.LEADER, AppendEntriesResponse): RaftNode._on_append_response,
    (Role.FOLLOWER, TimeoutNow): RaftNode._on_timeout_now,
}
