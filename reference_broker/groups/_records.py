"""What the coordinator persists in `__consumer_offsets`, and its encoding.

Four record kinds, replayed in log order on start (the last record per key wins):
- `OffsetRecord`: a committed offset of (group, topic, partition).
- `OffsetTombstone`: that offset deleted (group deleted).
- `GroupRecord`: a group's generation, protocol, leader and members with their
  assignments; written when a generation's assignment is stored (the leader's
  SyncGroup) and when a group becomes empty, as Kafka does. A rebalance in progress
  is not persisted: after a restart the group is back at the last stored generation.
- `GroupTombstone`: the group deleted.

Encoding: each record is one Kafka record; its key is `kind/group[/topic/partition]`
(utf-8, what compaction would key on), its value is one version byte (`FORMAT_VERSION`)
followed by the msgpack of the tagged struct. Unknown versions are refused on replay
with a message naming the version, never guessed at.
"""

from __future__ import annotations

import msgspec


class OffsetRecord(msgspec.Struct, frozen=True, tag="offset"):
    group_id: str
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp_ms: int = -1


class OffsetTombstone(msgspec.Struct, frozen=True, tag="offset-delete"):
    group_id: str
    topic: str
    partition: int


class MemberRecord(msgspec.Struct, frozen=True):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes  # metadata for the group's chosen protocol
    assignment: bytes


class GroupRecord(msgspec.Struct, frozen=True, tag="group"):
    group_id: str
    generation: int
    protocol_type: str | None
    protocol: str | None
    leader: str | None
    members: tuple[MemberRecord, ...] = ()
    # when the group entered its state (wall-clock ms from the driver); empty groups'
    # offsets expire offsets.retention.minutes after it
    state_timestamp_ms: int = -1


class GroupTombstone(msgspec.Struct, frozen=True, tag="group-delete"):
    group_id: str


GroupLogRecord = OffsetRecord | OffsetTombstone | GroupRecord | GroupTombstone

FORMAT_VERSION = 1
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(GroupLogRecord)


class RecordFormatError(ValueError):
    """A stored group record cannot be decoded (corrupt, or written by a newer version)."""


def record_key(record: GroupLogRecord) -> bytes:
    if isinstance(record, OffsetRecord | OffsetTombstone):
        return f"offset/{record.group_id}/{record.topic}/{record.partition}".encode()
    return f"group/{record.group_id}".encode()


def encode_record(record: GroupLogRecord) -> tuple[bytes, bytes]:
    """`(key, value)` of one record."""
    return record_key(record), bytes([FORMAT_VERSION]) + _ENCODER.encode(record)


def decode_record(value: bytes) -> GroupLogRecord:
    if not value:
        raise RecordFormatError("empty group record value")
    if value[0] != FORMAT_VERSION:
        raise RecordFormatError(
            f"group record format version {value[0]}; this broker reads version "
            f"{FORMAT_VERSION} (was the data dir written by a newer broker?)")
    try:
        return _DECODER.decode(value[1:])
    except msgspec.DecodeError as exc:
        raise RecordFormatError(f"corrupt group record: {exc}") from None
