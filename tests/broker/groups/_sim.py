"""A tiny in-test driver for the sans-I/O coordinator: handles, replies, a fake disk."""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_broker.groups import (
    Assignment,
    CommitOffset,
    ErrorCode,
    GroupConfig,
    GroupCoordinator,
    GroupLogRecord,
    Heartbeat,
    HeartbeatResult,
    JoinGroup,
    JoinResult,
    LeaveGroup,
    LeaveResult,
    LeavingMember,
    OffsetCommit,
    OffsetCommitResult,
    Output,
    Protocol,
    Result,
    SyncGroup,
    SyncResult,
)

FAST = GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10,
                   max_session_timeout_ms=600000)


@dataclass
class Sim:
    """Drives a coordinator; every handle must get exactly one reply."""

    config: GroupConfig = FAST
    coord: GroupCoordinator = field(init=False)
    disk: list[GroupLogRecord] = field(default_factory=list)
    replies: dict[int, Result] = field(default_factory=dict)
    now_ms: int = 0
    _next: int = 0

    def __post_init__(self) -> None:
        self.coord = GroupCoordinator(self.config, incarnation="t")

    def _apply(self, out: Output) -> None:
        self.disk.extend(out.records)
        for reply in out.replies:
            assert reply.handle not in self.replies, f"second reply for {reply.handle}"
            self.replies[reply.handle] = reply.result

    def _handle(self) -> int:
        self._next += 1
        return self._next

    def result(self, handle: int) -> Result | None:
        return self.replies.get(handle)

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        self._apply(self.coord.tick(self.now_ms))

    def settle(self) -> None:
        """Let the initial rebalance delay of a new group pass (it is extended once
        when more members arrive during it)."""
        self.advance(self.config.initial_rebalance_delay_ms)
        self.advance(self.config.initial_rebalance_delay_ms)

    def join(self, group: str = "g", member_id: str = "", *,
             protocols: tuple[str, ...] = ("range",),
             session_ms: int = 10000, rebalance_ms: int = 30000, instance: str | None = None,
             client_id: str = "c", require_known: bool = True,
             metadata: bytes = b"sub") -> int:
        h = self._handle()
        req = JoinGroup(
            group_id=group, member_id=member_id, group_instance_id=instance,
            client_id=client_id, client_host="/127.0.0.1", session_timeout_ms=session_ms,
            rebalance_timeout_ms=rebalance_ms, protocol_type="consumer",
            protocols=tuple(Protocol(name=p, metadata=metadata + p.encode()) for p in protocols),
            require_known_member_id=require_known)
        self._apply(self.coord.join(h, req, self.now_ms))
        return h

    def join_result(self, h: int) -> JoinResult:
        r = self.replies[h]
        assert isinstance(r, JoinResult)
        return r

    def sync(self, group: str, member_id: str, generation: int,
             assignments: dict[str, bytes] | None = None) -> int:
        h = self._handle()
        req = SyncGroup(group_id=group, member_id=member_id, generation_id=generation,
                        assignments=tuple(Assignment(member_id=k, assignment=v)
                                          for k, v in (assignments or {}).items()))
        self._apply(self.coord.sync(h, req, self.now_ms))
        return h

    def sync_result(self, h: int) -> SyncResult:
        r = self.replies[h]
        assert isinstance(r, SyncResult)
        return r

    def heartbeat(self, group: str, member_id: str, generation: int) -> ErrorCode:
        h = self._handle()
        self._apply(self.coord.heartbeat(
            h, Heartbeat(group_id=group, member_id=member_id, generation_id=generation),
            self.now_ms))
        r = self.replies[h]
        assert isinstance(r, HeartbeatResult)
        return r.error

    def leave(self, group: str, *member_ids: str) -> LeaveResult:
        h = self._handle()
        self._apply(self.coord.leave(h, LeaveGroup(
            group_id=group, members=tuple(LeavingMember(member_id=m) for m in member_ids)),
            self.now_ms))
        r = self.replies[h]
        assert isinstance(r, LeaveResult)
        return r

    def commit(self, group: str, offsets: dict[tuple[str, int], int], *,
               member_id: str = "", generation: int = -1,
               metadata: str = "") -> dict[tuple[str, int], ErrorCode]:
        h = self._handle()
        self._apply(self.coord.commit(h, OffsetCommit(
            group_id=group, member_id=member_id, generation_id=generation,
            offsets=tuple(CommitOffset(topic=t, partition=p, offset=o, metadata=metadata)
                          for (t, p), o in offsets.items())), self.now_ms))
        r = self.replies[h]
        assert isinstance(r, OffsetCommitResult)
        return {(pe.topic, pe.partition): pe.error for pe in r.partitions}

    def join_new(self, group: str = "g", **kw: object) -> str:
        """First join (MEMBER_ID_REQUIRED) -> the assigned member id."""
        h = self.join(group, **kw)  # type: ignore[arg-type]
        r = self.join_result(h)
        assert r.error == ErrorCode.MEMBER_ID_REQUIRED, r
        return r.member_id
