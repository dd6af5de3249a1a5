"""The classic consumer group coordinator, as a sans-I/O state machine.

Requests and the time (`now_ms`) go in; an `Output` of replies and records comes out.
No sockets, clock, randomness or asyncio here: the asyncio driver
(`reference_broker.groups.driver`) and a simulator drive the same code.

Contract with a driver
- Every mutating call (`join`, `sync`, `heartbeat`, `leave`, `commit`, `tick`) takes an
  opaque `handle` chosen by the driver (except `tick`) and returns an `Output`. The
  reply for a handle is in that Output or in the Output of a later call (JoinGroup and
  SyncGroup wait for the rebalance); every handle gets exactly one reply.
- The driver must persist `Output.records` (in order, durably under its fsync policy)
  before it delivers `Output.replies`: an OffsetCommit or a stored assignment is
  acknowledged only once written. A failed write is fatal to the coordinator: replay
  on restart restores the last durable state.
- `tick(now_ms)` must be called periodically (every ~100 ms); session, rebalance,
  sync and initial-delay deadlines fire there. `next_deadline_ms()` says when.
- Loading: `begin_loading()`, `replay(record)` for each stored record in log order,
  `finish_loading(now_ms)`. Meanwhile requests get COORDINATOR_LOAD_IN_PROGRESS.
- `now_ms` is stored in commit and state timestamps (offset expiry), so a driver that
  restarts should use a wall clock, as Kafka does.

Semantics (Kafka's classic GroupCoordinator)
- States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable, back to
  PreparingRebalance on a join with new metadata, a leave, a session timeout or a
  missing SyncGroup; Dead only for deleted groups.
- JoinGroup v4+ from an unknown member: MEMBER_ID_REQUIRED with the new id (the member
  is pending for one session timeout and must rejoin with it). Static members
  (group.instance.id) skip that step; a static member rejoining without its member id
  gets a new one and fences the old one (FENCED_INSTANCE_ID); in a Stable group whose
  chosen protocol it still supports it takes the old member's place and assignment
  without a rebalance (KIP-345), otherwise the group rebalances.
- The first rebalance of an empty group waits group.initial.rebalance.delay.ms, and again
  (up to the rebalance timeout) while new members keep arriving. Later rebalances end
  when every member has rejoined or after the largest rebalance timeout; dynamic members
  that did not rejoin are removed then.
- Generations start at 1 and grow by one at each completed join phase (also when the
  group becomes empty). The leader (the first member, or a rejoined one) gets every
  member's subscription for the chosen protocol: the protocol all members support with
  the most first-choice votes among them.
- SyncGroup from the leader stores the assignment (a GroupRecord) and answers every
  waiting member; members missing from it get an empty assignment. Members that do not
  send SyncGroup within the rebalance timeout are removed (Kafka 3.x).
- Heartbeat: REBALANCE_IN_PROGRESS while preparing, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID.
  A member expires after session.timeout.ms without heartbeat unless it waits in a
  JoinGroup or SyncGroup (a brand-new member waiting to join expires after 5 minutes).
- OffsetCommit: generation -1 from anyone is accepted when the group is Empty (or
  unknown: the group is created); otherwise member and generation must match, and
  during CompletingRebalance the answer is REBALANCE_IN_PROGRESS.
- Offsets expire (KIP-211) and empty groups without offsets are deleted, checked every
  offsets.retention.check.interval.ms; DeleteGroups deletes empty groups only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ._errors import ErrorCode
from ._messages import (
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
)
from ._records import (
    GroupLogRecord,
    GroupRecord,
    GroupTombstone,
    OffsetRecord,
    OffsetTombstone,
)
from ._state import Group, GroupConfig, GroupState, Member

__all__ = ["GroupCoordinator", "Output"]


@dataclass(frozen=True, slots=True)
class Output:
    """Effects of one call: persist `records` first, then deliver `replies`."""

    replies: tuple[Reply, ...] = ()
    records: tuple[GroupLogRecord, ...] = ()

    def result_for(self, handle: int) -> Result | None:
        for reply in self.replies:
            if reply.handle == handle:
                return reply.result
        return None


class GroupCoordinator:
    """All classic groups of one coordinator. See the module docstring for the contract."""

    def __init__(self, config: GroupConfig | None = None, *, incarnation: str = "0") -> None:
        """`incarnation` makes member ids unique across restarts (the driver passes a
        random token; a simulator a seeded one): ids are `client-id-incarnation-n`."""
        self.config = config or GroupConfig()
        self._incarnation = incarnation
        self._next_id = 0
        self._groups: dict[str, Group] = {}
        self._loading = False
        self._active = True
        self._replies: list[Reply] = []
        self._records: list[GroupLogRecord] = []
        self._next_expiry_check_ms: int | None = None

    # ----- loading -------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loading

    def begin_loading(self) -> None:
        self._loading = True
        self._groups.clear()

    def replay(self, record: GroupLogRecord) -> None:
        """Apply one stored record (log order; the last one per key wins)."""
        if isinstance(record, OffsetRecord):
            group = self._group_or_new(record.group_id, record.commit_timestamp_ms)
            group.offsets[(record.topic, record.partition)] = record
        elif isinstance(record, OffsetTombstone):
            known = self._groups.get(record.group_id)
            if known is not None:
                known.offsets.pop((record.topic, record.partition), None)
        elif isinstance(record, GroupRecord):
            group = self._group_or_new(record.group_id, record.state_timestamp_ms)
            group.generation = record.generation
            group.protocol_type = record.protocol_type
            group.protocol = record.protocol
            group.leader = record.leader
            group.members = {}
            group.static = {}
            for mr in record.members:
                protocols = (
                    (Protocol(name=record.protocol, metadata=mr.subscription),)
                    if record.protocol is not None else ())
                group.members[mr.member_id] = Member(
                    member_id=mr.member_id,
                    group_instance_id=mr.group_instance_id,
                    client_id=mr.client_id,
                    client_host=mr.client_host,
                    rebalance_timeout_ms=mr.rebalance_timeout_ms,
                    session_timeout_ms=mr.session_timeout_ms,
                    protocol_type=record.protocol_type or "",
                    protocols=protocols,
                    assignment=mr.assignment,
                )
                if mr.group_instance_id is not None:
                    group.static[mr.group_instance_id] = mr.member_id
            group.state = GroupState.STABLE if group.members else GroupState.EMPTY
            group.state_since_ms = record.state_timestamp_ms
            if group.leader not in group.members:
                group.leader = next(iter(group.members), None)
        elif isinstance(record, GroupTombstone):
            gone = self._groups.pop(record.group_id, None)
            if gone is not None and gone.offsets:
                self._groups[record.group_id] = Group(record.group_id, offsets=gone.offsets)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"not a group log record: {record!r}")

    def finish_loading(self, now_ms: int) -> None:
        """End loading; restored members get a fresh session (as Kafka does on load)."""
        for group in self._groups.values():
            for m in group.members.values():
                m.deadline_ms = now_ms + m.session_timeout_ms
        self._loading = False

    def shutdown(self) -> Output:
        """Stop serving: pending joins and syncs get COORDINATOR_NOT_AVAILABLE."""
        self._active = False
        for group in self._groups.values():
            for m in group.members.values():
                if m.join_handle is not None:
                    self._reply(m.join_handle, JoinResult(
                        error=ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=m.member_id))
                    m.join_handle = None
                if m.sync_handle is not None:
                    self._reply(m.sync_handle, SyncResult(
                        error=ErrorCode.COORDINATOR_NOT_AVAILABLE))
                    m.sync_handle = None
        return self._output()

    # ----- JoinGroup ------------------------------------------------------------------

    def join(self, handle: int, req: JoinGroup, now_ms: int) -> Output:
        error = self._status(req.group_id, allow_empty_id=False)
        cfg = self.config
        if error is None and not (
                cfg.min_session_timeout_ms <= req.session_timeout_ms
                <= cfg.max_session_timeout_ms):
            error = ErrorCode.INVALID_SESSION_TIMEOUT
        group = self._groups.get(req.group_id)
        if error is None and group is None and req.member_id:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        if error is not None:
            self._reply(handle, JoinResult(error=error, member_id=req.member_id))
            return self._output()
        if group is None:
            group = self._group_or_new(req.group_id, now_ms)
        if (not req.member_id and group.state != GroupState.EMPTY
                and len(group.members) + len(group.pending) >= cfg.max_size):
            self._reply(handle, JoinResult(
                error=ErrorCode.GROUP_MAX_SIZE_REACHED, member_id=req.member_id))
            return self._output()
        self._do_join(group, handle, req, now_ms)
        if group.state == GroupState.PREPARING_REBALANCE:
            self._check_join(group, now_ms)
        return self._output()

    def _do_join(self, group: Group, handle: int, req: JoinGroup, now_ms: int) -> None:
        if group.state == GroupState.DEAD:
            self._reply(handle, JoinResult(
                error=ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=req.member_id))
            return
        if not self._supports(group, req.protocol_type, [p.name for p in req.protocols]):
            self._reply(handle, JoinResult(
                error=ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id))
            return
        if not req.member_id:
            new_id = self._new_member_id(req.client_id)
            instance = req.group_instance_id
            old_id = group.static.get(instance) if instance is not None else None
            if old_id is not None and old_id in group.members:
                self._replace_static(group, group.members[old_id], handle, req, new_id, now_ms)
            elif instance is None and req.require_known_member_id:
                group.pending[new_id] = now_ms + req.session_timeout_ms
                self._reply(handle, JoinResult(
                    error=ErrorCode.MEMBER_ID_REQUIRED, member_id=new_id))
            else:
                self._add_member(group, handle, req, new_id, now_ms)
            return
        member_id = req.member_id
        if member_id in group.pending:
            self._add_member(group, handle, req, member_id, now_ms)
            return
        if group.fenced(member_id, req.group_instance_id):
            self._reply(handle, JoinResult(
                error=ErrorCode.FENCED_INSTANCE_ID, member_id=member_id))
            return
        member = group.members.get(member_id)
        if member is None:
            self._reply(handle, JoinResult(
                error=ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))
            return
        same = member.protocols == req.protocols
        if group.state == GroupState.PREPARING_REBALANCE:
            self._update_member(group, member, handle, req, now_ms)
        elif group.state == GroupState.COMPLETING_REBALANCE and same:
            # It probably missed the JoinGroup response: answer with the current one.
            self._reply(handle, self._join_result(group, member))
        elif group.state == GroupState.STABLE and same and group.leader != member_id:
            # A follower with unchanged metadata just learns the current generation.
            self._reply(handle, self._join_result(group, member, with_members=False))
        else:
            self._update_member(group, member, handle, req, now_ms)

    def _supports(self, group: Group, protocol_type: str, names: list[str]) -> bool:
        if not group.members:
            return bool(protocol_type) and bool(names)
        if group.protocol_type != protocol_type:
            return False
        members = group.members.values()
        return any(all(name in m.names() for m in members) for name in names)

    def _new_member_id(self, client_id: str) -> str:
        self._next_id += 1
        return f"{client_id}-{self._incarnation}-{self._next_id:08x}"

    def _member_from(self, req: JoinGroup, member_id: str, handle: int) -> Member:
        return Member(
            member_id=member_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            rebalance_timeout_ms=req.rebalance_timeout_ms,
            session_timeout_ms=req.session_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
            join_handle=handle,
        )

    def _add_member(
            self, group: Group, handle: int, req: JoinGroup, member_id: str,
            now_ms: int) -> None:
        member = self._member_from(req, member_id, handle)
        member.is_new = True
        # New members cannot heartbeat before they learn their generation, and a
        # waiting JoinGroup hides a disconnect: they get the long new-member timeout.
        member.deadline_ms = now_ms + self.config.new_member_join_timeout_ms
        if group.state == GroupState.PREPARING_REBALANCE and group.generation == 0:
            group.new_member_added = True
        if not group.members:
            group.protocol_type = req.protocol_type
        group.members[member_id] = member
        if group.leader is None:
            group.leader = member_id
        if req.group_instance_id is not None:
            group.static[req.group_instance_id] = member_id
        group.pending.pop(member_id, None)
        self._maybe_prepare_rebalance(group, now_ms)

    def _update_member(
            self, group: Group, member: Member, handle: int, req: JoinGroup,
            now_ms: int) -> None:
        if member.join_handle is not None and member.join_handle != handle:
            self._reply(member.join_handle, JoinResult(
                error=ErrorCode.REBALANCE_IN_PROGRESS, member_id=member.member_id))
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.join_handle = handle
        self._maybe_prepare_rebalance(group, now_ms)

    def _replace_static(
            self, group: Group, old: Member, handle: int, req: JoinGroup, new_id: str,
            now_ms: int) -> None:
        if old.join_handle is not None:
            self._reply(old.join_handle, JoinResult(
                error=ErrorCode.FENCED_INSTANCE_ID, member_id=old.member_id))
        if old.sync_handle is not None:
            self._reply(old.sync_handle, SyncResult(error=ErrorCode.FENCED_INSTANCE_ID))
        new = self._member_from(req, new_id, handle)
        new.assignment = old.assignment
        new.deadline_ms = now_ms + req.session_timeout_ms
        group.members = {
            (new_id if k == old.member_id else k): (new if k == old.member_id else v)
            for k, v in group.members.items()}
        leader_before = group.leader
        if group.leader == old.member_id:
            group.leader = new_id
        assert req.group_instance_id is not None
        group.static[req.group_instance_id] = new_id
        if old.member_id in group.pending_sync:
            group.pending_sync.discard(old.member_id)
            group.pending_sync.add(new_id)
        if group.state == GroupState.STABLE and self._select_protocol(group) == group.protocol:
            # A restarted static member with compatible metadata takes its old place
            # without a rebalance. The leader named in the answer is the old one, so that
            # the new member, even if it replaced the leader, does not compute an
            # assignment a stable group would never hand out.
            self._records.append(group.record())
            new.join_handle = None
            self._reply(handle, JoinResult(
                error=ErrorCode.NONE, member_id=new_id, generation_id=group.generation,
                protocol_type=group.protocol_type, protocol_name=group.protocol,
                leader=leader_before or ""))
        elif group.state != GroupState.PREPARING_REBALANCE:
            self._prepare_rebalance(group, now_ms)

    def _join_result(
            self, group: Group, member: Member, *, with_members: bool = True) -> JoinResult:
        members: tuple[JoinedMember, ...] = ()
        if with_members and group.leader == member.member_id:
            members = tuple(
                JoinedMember(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    metadata=m.metadata_for(group.protocol))
                for m in group.members.values())
        return JoinResult(
            error=ErrorCode.NONE,
            member_id=member.member_id,
            generation_id=group.generation,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol,
            leader=group.leader or "",
            members=members,
        )

    # ----- rebalance ------------------------------------------------------------------

    def _maybe_prepare_rebalance(self, group: Group, now_ms: int) -> None:
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE,
                           GroupState.EMPTY):
            self._prepare_rebalance(group, now_ms)

    def _prepare_rebalance(self, group: Group, now_ms: int) -> None:
        if group.state == GroupState.COMPLETING_REBALANCE:
            self._reset_assignment(group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.sync_deadline_ms = None
        group.pending_sync.clear()
        if group.state == GroupState.EMPTY:
            delay = self.config.initial_rebalance_delay_ms
            group.initial_join = True
            group.new_member_added = False
            group.initial_remaining_ms = max(group.rebalance_timeout_ms() - delay, 0)
            group.join_deadline_ms = now_ms + delay
        else:
            group.initial_join = False
            group.join_deadline_ms = now_ms + group.rebalance_timeout_ms()
        group.set_state(GroupState.PREPARING_REBALANCE, now_ms)

    def _reset_assignment(self, group: Group, error: ErrorCode) -> None:
        for m in group.members.values():
            m.assignment = b""
            if m.sync_handle is not None:
                self._reply(m.sync_handle, SyncResult(error=error))
                m.sync_handle = None

    def _check_join(self, group: Group, now_ms: int) -> None:
        """Complete the join phase if it is due (Kafka's DelayedJoin / InitialDelayedJoin)."""
        if group.state != GroupState.PREPARING_REBALANCE or group.join_deadline_ms is None:
            return
        expired = now_ms >= group.join_deadline_ms
        if group.initial_join:
            if not expired:
                return
            if group.new_member_added and group.initial_remaining_ms > 0:
                group.new_member_added = False
                delay = min(self.config.initial_rebalance_delay_ms, group.initial_remaining_ms)
                group.initial_remaining_ms = max(group.initial_remaining_ms - delay, 0)
                group.join_deadline_ms = now_ms + delay
                return
        elif not expired and not self._all_joined(group):
            return
        self._complete_join(group, now_ms)

    @staticmethod
    def _all_joined(group: Group) -> bool:
        return not group.pending and all(
            m.join_handle is not None for m in group.members.values())

    def _complete_join(self, group: Group, now_ms: int) -> None:
        for m in list(group.members.values()):
            if m.join_handle is None and m.group_instance_id is None:
                self._remove(group, m)
        leader = group.members.get(group.leader) if group.leader is not None else None
        if leader is not None and leader.join_handle is None:
            joined = next((m for m in group.members.values() if m.join_handle is not None),
                          None)
            if joined is None:
                # Only static members that have not rejoined: wait another round.
                group.initial_join = False
                group.join_deadline_ms = now_ms + group.rebalance_timeout_ms()
                return
            group.leader = joined.member_id
        group.generation += 1
        group.join_deadline_ms = None
        group.initial_join = False
        group.new_member_added = False
        if not group.members:
            group.protocol = None
            group.leader = None
            group.set_state(GroupState.EMPTY, now_ms)
            self._records.append(group.record())
            return
        group.protocol = self._select_protocol(group)
        group.set_state(GroupState.COMPLETING_REBALANCE, now_ms)
        group.pending_sync = set(group.members)
        group.sync_deadline_ms = now_ms + group.rebalance_timeout_ms()
        for m in group.members.values():
            if m.join_handle is not None:
                self._reply(m.join_handle, self._join_result(group, m))
                m.join_handle = None
            m.is_new = False
            m.deadline_ms = now_ms + m.session_timeout_ms

    @staticmethod
    def _select_protocol(group: Group) -> str | None:
        members = list(group.members.values())
        candidates = [n for n in members[0].names() if all(n in m.names() for m in members)]
        if not candidates:
            return None
        votes: Counter[str] = Counter()
        for m in members:
            vote = next((n for n in m.names() if n in candidates), None)
            if vote is not None:
                votes[vote] += 1
        return max(candidates, key=lambda n: votes[n])

    def _remove(self, group: Group, member: Member) -> None:
        del group.members[member.member_id]
        if (member.group_instance_id is not None
                and group.static.get(member.group_instance_id) == member.member_id):
            del group.static[member.group_instance_id]
        group.pending_sync.discard(member.member_id)
        if group.leader == member.member_id:
            group.leader = next(iter(group.members), None)

    def _remove_and_rebalance(self, group: Group, member: Member, now_ms: int) -> None:
        if member.join_handle is not None:
            self._reply(member.join_handle, JoinResult(
                error=ErrorCode.UNKNOWN_MEMBER_ID, member_id=""))
            member.join_handle = None
        if member.sync_handle is not None:
            self._reply(member.sync_handle, SyncResult(error=ErrorCode.UNKNOWN_MEMBER_ID))
            member.sync_handle = None
        self._remove(group, member)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, now_ms)
        self._check_join(group, now_ms)

    # ----- SyncGroup ------------------------------------------------------------------

    def _member_error(self, req: SyncGroup | Heartbeat
                      ) -> tuple[ErrorCode | None, Group | None, Member | None]:
        """The checks SyncGroup and Heartbeat share, in Kafka's order; the error is None
        only when the group exists, is alive, and ``req`` names its current member and
        generation."""
        error = self._status(req.group_id, allow_empty_id=False)
        group = self._groups.get(req.group_id)
        member = group.members.get(req.member_id) if group is not None else None
        if error is not None:
            return error, group, member
        if group is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif group.state == GroupState.DEAD:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        elif group.fenced(req.member_id, req.group_instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        elif member is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif req.generation_id != group.generation:
            error = ErrorCode.ILLEGAL_GENERATION
        return error, group, member

    def sync(self, handle: int, req: SyncGroup, now_ms: int) -> Output:
        error, group, member = self._member_error(req)
        if error is None:
            assert group is not None
            if ((req.protocol_type is not None and req.protocol_type != group.protocol_type)
                    or (req.protocol_name is not None and req.protocol_name != group.protocol)):
                error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
            elif group.state == GroupState.EMPTY:
                error = ErrorCode.UNKNOWN_MEMBER_ID
            elif group.state == GroupState.PREPARING_REBALANCE:
                error = ErrorCode.REBALANCE_IN_PROGRESS
        if error is not None:
            self._reply(handle, SyncResult(error=error))
            return self._output()
        assert group is not None and member is not None
        group.pending_sync.discard(member.member_id)
        if group.state == GroupState.STABLE:
            member.deadline_ms = now_ms + member.session_timeout_ms
            self._reply(handle, self._sync_result(group, member))
            return self._output()
        # CompletingRebalance: wait for the leader's assignment.
        if member.sync_handle is not None and member.sync_handle != handle:
            self._reply(member.sync_handle, SyncResult(error=ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_handle = handle
        if group.leader == member.member_id:
            self._store_assignment(group, req.assignments, now_ms)
        return self._output()

    def _store_assignment(
            self, group: Group, assignments: Iterable[Assignment], now_ms: int) -> None:
        given = {a.member_id: a.assignment for a in assignments}
        for m in group.members.values():
            m.assignment = given.get(m.member_id, b"")
        self._records.append(group.record())
        group.set_state(GroupState.STABLE, now_ms)
        if not group.pending_sync:
            group.sync_deadline_ms = None
        for m in group.members.values():
            if m.sync_handle is not None:
                self._reply(m.sync_handle, self._sync_result(group, m))
                m.sync_handle = None
                m.deadline_ms = now_ms + m.session_timeout_ms

    @staticmethod
    def _sync_result(group: Group, member: Member) -> SyncResult:
        return SyncResult(
            error=ErrorCode.NONE, protocol_type=group.protocol_type,
            protocol_name=group.protocol, assignment=member.assignment)

    # ----- Heartbeat ------------------------------------------------------------------

    def heartbeat(self, handle: int, req: Heartbeat, now_ms: int) -> Output:
        error, group, member = self._member_error(req)
        if error is None:
            assert group is not None and member is not None
            if group.state == GroupState.EMPTY:
                error = ErrorCode.UNKNOWN_MEMBER_ID
            else:
                member.deadline_ms = now_ms + member.session_timeout_ms
                error = (ErrorCode.REBALANCE_IN_PROGRESS
                         if group.state == GroupState.PREPARING_REBALANCE else ErrorCode.NONE)
        self._reply(handle, HeartbeatResult(error=error))
        return self._output()

    # ----- LeaveGroup -----------------------------------------------------------------

    def leave(self, handle: int, req: LeaveGroup, now_ms: int) -> Output:
        error = self._status(req.group_id, allow_empty_id=False)
        group = self._groups.get(req.group_id)
        if error is None and group is not None and group.state == GroupState.DEAD:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        if error is not None:
            self._reply(handle, LeaveResult(error=error))
            return self._output()
        left: list[LeftMember] = []
        for lm in req.members:
            member_error = ErrorCode.NONE
            member_id = lm.member_id
            if group is None:
                member_error = ErrorCode.UNKNOWN_MEMBER_ID
            elif not member_id and lm.group_instance_id is not None:
                member_id = group.static.get(lm.group_instance_id, "")
                if not member_id:
                    member_error = ErrorCode.UNKNOWN_MEMBER_ID
            elif group.fenced(member_id, lm.group_instance_id):
                member_error = ErrorCode.FENCED_INSTANCE_ID
            if group is not None and member_error == ErrorCode.NONE:
                if member_id in group.pending:
                    del group.pending[member_id]
                    self._check_join(group, now_ms)
                elif member_id in group.members:
                    self._remove_and_rebalance(group, group.members[member_id], now_ms)
                else:
                    member_error = ErrorCode.UNKNOWN_MEMBER_ID
            left.append(LeftMember(
                member_id=member_id, group_instance_id=lm.group_instance_id,
                error=member_error))
        self._reply(handle, LeaveResult(error=ErrorCode.NONE, members=tuple(left)))
        return self._output()

    # ----- offsets --------------------------------------------------------------------

    def commit(self, handle: int, req: OffsetCommit, now_ms: int) -> Output:
        error = self._status(req.group_id, allow_empty_id=True)
        group = self._groups.get(req.group_id)
        member = group.members.get(req.member_id) if group is not None else None
        if error is not None:
            pass
        elif group is None:
            if req.generation_id >= 0:
                error = ErrorCode.ILLEGAL_GENERATION
        elif group.state == GroupState.DEAD:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        elif req.generation_id < 0 and group.state == GroupState.EMPTY:
            pass  # a group that uses Kafka only to store offsets
        elif req.transactional:
            pass  # a committed transaction's offsets, checked when they were staged
        elif "zombie-commits" in self.config.bugs:
            pass
        elif group.state == GroupState.COMPLETING_REBALANCE:
            error = ErrorCode.REBALANCE_IN_PROGRESS
        elif group.fenced(req.member_id, req.group_instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        elif member is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif req.generation_id != group.generation:
            error = ErrorCode.ILLEGAL_GENERATION
        else:
            member.deadline_ms = now_ms + member.session_timeout_ms
        if error is not None:
            self._reply(handle, OffsetCommitResult(partitions=tuple(
                PartitionError(topic=o.topic, partition=o.partition, error=error)
                for o in req.offsets)))
            return self._output()
        group = self._group_or_new(req.group_id, now_ms)
        results = [self._commit_one(group, o, now_ms) for o in req.offsets]
        self._reply(handle, OffsetCommitResult(partitions=tuple(results)))
        return self._output()

    def _commit_one(self, group: Group, o: CommitOffset, now_ms: int) -> PartitionError:
        metadata = o.metadata
        if metadata is not None and len(metadata.encode()) > self.config.offset_metadata_max_bytes:
            error = ErrorCode.OFFSET_METADATA_TOO_LARGE
        else:
            record = OffsetRecord(
                group_id=group.group_id, topic=o.topic, partition=o.partition,
                offset=o.offset, leader_epoch=o.leader_epoch, metadata=metadata,
                commit_timestamp_ms=now_ms)
            group.offsets[(o.topic, o.partition)] = record
            if "lost-group-commits" not in self.config.bugs:
                self._records.append(record)
            error = ErrorCode.NONE
        return PartitionError(topic=o.topic, partition=o.partition, error=error)

    def fetch_offsets(self, req: OffsetFetch) -> OffsetFetchResult:
        """Committed offsets; -1 for partitions without one; all when `partitions` is None."""
        error = self._status(req.group_id, allow_empty_id=True)
        if error is not None:
            return OffsetFetchResult(group_id=req.group_id, error=error)
        group = self._groups.get(req.group_id)
        stored = group.offsets if group is not None else {}
        keys = (sorted(stored) if req.partitions is None
                else [(tp.topic, tp.partition) for tp in req.partitions])
        offsets = []
        for topic, partition in keys:
            rec = stored.get((topic, partition))
            if rec is None:
                offsets.append(FetchedOffset(topic=topic, partition=partition))
            else:
                offsets.append(FetchedOffset(
                    topic=topic, partition=partition, offset=rec.offset,
                    leader_epoch=rec.leader_epoch, metadata=rec.metadata))
        return OffsetFetchResult(group_id=req.group_id, error=ErrorCode.NONE,
                                 offsets=tuple(offsets))

    # ----- describe / list ------------------------------------------------------------

    def describe(self, group_ids: Iterable[str]) -> tuple[GroupDescription, ...]:
        out = []
        for gid in group_ids:
            error = self._status(gid, allow_empty_id=True)
            group = self._groups.get(gid)
            if error is not None or group is None:
                out.append(GroupDescription(
                    group_id=gid, error=error or ErrorCode.NONE, state=GroupState.DEAD.value,
                    protocol_type="", protocol=""))
                continue
            stable = group.state == GroupState.STABLE
            out.append(GroupDescription(
                group_id=gid,
                error=ErrorCode.NONE,
                state=group.state.value,
                protocol_type=group.protocol_type or "",
                protocol=(group.protocol or "") if stable else "",
                members=tuple(
                    MemberDescription(
                        member_id=m.member_id,
                        group_instance_id=m.group_instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        metadata=m.metadata_for(group.protocol) if stable else b"",
                        assignment=m.assignment if stable else b"")
                    for m in group.members.values()),
            ))
        return tuple(out)

    def list_groups(
            self, states: Iterable[str] | None = None,
            types: Iterable[str] | None = None) -> ListGroupsResult:
        """Every group; `states` / `types` filter when non-empty (case-insensitive)."""
        if self._loading:
            return ListGroupsResult(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        if not self._active:
            return ListGroupsResult(error=ErrorCode.COORDINATOR_NOT_AVAILABLE)
        want_states = {s.lower() for s in states or ()}
        want_types = {t.lower() for t in types or ()}
        listed = []
        for gid, group in self._groups.items():
            if want_states and group.state.value.lower() not in want_states:
                continue
            if want_types and (group.protocol_type or "").lower() not in want_types:
                continue
            listed.append(GroupListing(
                group_id=gid, protocol_type=group.protocol_type or "",
                state=group.state.value))
        return ListGroupsResult(error=ErrorCode.NONE, groups=tuple(listed))

    # ----- time -----------------------------------------------------------------------

    def tick(self, now_ms: int) -> Output:
        """Fire every deadline that is due at `now_ms`."""
        if self._loading:
            return self._output()
        for group in list(self._groups.values()):
            for member_id, expiry in list(group.pending.items()):
                if now_ms >= expiry:
                    del group.pending[member_id]
                    self._check_join(group, now_ms)
            for m in list(group.members.values()):
                waiting = m.join_handle is not None or m.sync_handle is not None
                expired = now_ms >= m.deadline_ms and (m.is_new or not waiting)
                if expired and m.member_id in group.members:
                    self._remove_and_rebalance(group, m, now_ms)
            if (group.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE)
                    and group.sync_deadline_ms is not None
                    and now_ms >= group.sync_deadline_ms):
                group.sync_deadline_ms = None
                if group.pending_sync:
                    for member_id in list(group.pending_sync):
                        member = group.members.get(member_id)
                        if member is not None:
                            self._remove(group, member)
                    self._prepare_rebalance(group, now_ms)
            self._check_join(group, now_ms)
        if self._next_expiry_check_ms is None:
            self._next_expiry_check_ms = now_ms + self.config.offsets_retention_check_interval_ms
        elif now_ms >= self._next_expiry_check_ms:
            self._next_expiry_check_ms = now_ms + self.config.offsets_retention_check_interval_ms
            self._expire(now_ms)
        return self._output()

    def _expire(self, now_ms: int) -> None:
        """Kafka's offset expiry (KIP-211): offsets of an empty group expire
        offsets.retention.minutes after it became empty, those of a group that only
        stores offsets (no protocol type) that long after their commit. An empty group
        left without offsets is deleted (Dead, then forgotten)."""
        retention = self.config.offsets_retention_ms
        for group in list(self._groups.values()):
            if group.protocol_type is None and not group.members:
                since = None
            elif group.state == GroupState.EMPTY:
                since = group.state_since_ms if group.state_since_ms >= 0 else None
            else:
                continue
            for key, rec in list(group.offsets.items()):
                base = since if since is not None else rec.commit_timestamp_ms
                if now_ms - base >= retention:
                    del group.offsets[key]
                    self._records.append(OffsetTombstone(
                        group_id=group.group_id, topic=key[0], partition=key[1]))
            if group.state == GroupState.EMPTY and not group.offsets and not group.pending:
                self._delete(group)

    def _delete(self, group: Group) -> None:
        for topic, partition in group.offsets:
            self._records.append(OffsetTombstone(
                group_id=group.group_id, topic=topic, partition=partition))
        group.offsets.clear()
        group.state = GroupState.DEAD
        self._records.append(GroupTombstone(group_id=group.group_id))
        del self._groups[group.group_id]

    def delete_groups(self, handle: int, req: DeleteGroups, now_ms: int) -> Output:
        """DeleteGroups: only empty groups; their offsets go too (tombstones)."""
        results = []
        for gid in req.group_ids:
            error = self._status(gid, allow_empty_id=True)
            group = self._groups.get(gid)
            if error is not None:
                pass
            elif group is None or group.state == GroupState.DEAD:
                error = ErrorCode.GROUP_ID_NOT_FOUND
            elif group.state != GroupState.EMPTY:
                error = ErrorCode.NON_EMPTY_GROUP
            else:
                self._delete(group)
                error = ErrorCode.NONE
            results.append(DeletedGroup(group_id=gid, error=error))
        self._reply(handle, DeleteGroupsResult(groups=tuple(results)))
        return self._output()

    def next_deadline_ms(self) -> int | None:
        """The earliest time at which `tick` has something to do, if any."""
        times: list[int] = []
        for group in self._groups.values():
            times.extend(group.pending.values())
            times.extend(m.deadline_ms for m in group.members.values())
            if group.join_deadline_ms is not None:
                times.append(group.join_deadline_ms)
            if group.sync_deadline_ms is not None:
                times.append(group.sync_deadline_ms)
        return min(times, default=None)

    def snapshot(self) -> list[GroupLogRecord]:
        """Records that replay to the current state (for compacting the log). Meant for
        right after loading, when no rebalance is in flight."""
        out: list[GroupLogRecord] = []
        for group in self._groups.values():
            if group.generation > 0 or group.members or group.protocol_type is not None:
                out.append(group.record())
            out.extend(group.offsets.values())
        return out

    # ----- inspection (tests, simulator) ----------------------------------------------

    def group_ids(self) -> list[str]:
        return list(self._groups)

    def state_of(self, group_id: str) -> GroupState | None:
        group = self._groups.get(group_id)
        return group.state if group is not None else None

    def generation_of(self, group_id: str) -> int | None:
        group = self._groups.get(group_id)
        return group.generation if group is not None else None

    def members_of(self, group_id: str) -> list[str]:
        group = self._groups.get(group_id)
        return list(group.members) if group is not None else []

    def leader_of(self, group_id: str) -> str | None:
        group = self._groups.get(group_id)
        return group.leader if group is not None else None

    # ----- helpers --------------------------------------------------------------------

    def _status(self, group_id: str | None, *, allow_empty_id: bool) -> ErrorCode | None:
        if group_id is None or (not group_id and not allow_empty_id):
            return ErrorCode.INVALID_GROUP_ID
        if not self._active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if self._loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return None

    def _group_or_new(self, group_id: str, now_ms: int) -> Group:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = Group(group_id, state_since_ms=now_ms)
        return group

    def _reply(self, handle: int, result: Result) -> None:
        self._replies.append(Reply(handle=handle, result=result))

    def _output(self) -> Output:
        out = Output(replies=tuple(self._replies), records=tuple(self._records))
        self._replies.clear()
        self._records.clear()
        return out
