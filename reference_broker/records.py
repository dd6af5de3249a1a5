"""Kafka record batch v2: the header, CRC32C, offset assignment, and a small codec.

The broker stores batches as opaque bytes. The hot path reads the fixed 61-byte
header, checks the CRC and rewrites the base offset (and partition leader epoch);
both fields lie outside the CRC, so a batch is never re-encoded and its records are
never decoded. Layout (big-endian)::

    @0  base offset            int64   } 12 bytes of "log overhead"
    @8  batch length           int32   } (length counts the bytes after this field)
    @12 partition leader epoch int32
    @16 magic                  int8    (= 2)
    @17 crc                    uint32  CRC32C of bytes @21 .. end of batch
    @21 attributes             int16   bits 0-2 compression, 3 timestamp type,
                                       4 transactional, 5 control
    @23 last offset delta      int32
    @27 base timestamp         int64
    @35 max timestamp          int64
    @43 producer id            int64
    @51 producer epoch         int16
    @53 base sequence          int32
    @57 record count           int32
    @61 records ...

Functions here take ``bytes``, ``bytearray`` or ``memoryview`` and a position, so a
produce request's record set can be walked in place without copying.

Record decoding and building (`iter_records`, `build_batch`) exist for tests, for
ListOffsets by timestamp and for the broker's own internal topics; the produce and
fetch paths must not use them.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import crc32c as _crc32c

HEADER_SIZE = 61
#: base offset + batch length: the bytes not counted by the batch length field.
LOG_OVERHEAD = 12
#: smallest legal value of the batch length field (a header with no records).
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD
MAGIC_V2 = 2
CRC_START = 21

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08  # 0 = CreateTime, 1 = LogAppendTime
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

_HEADER = struct.Struct(">qiibIhiqqqhii")
_BASE_OFFSET = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_EPOCH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_LOD = struct.Struct(">i")
assert _HEADER.size == HEADER_SIZE


class InvalidRecords(ValueError):
    """A record set that is not a well-formed sequence of v2 batches.

    ``reason`` is a short machine-friendly word (``truncated``, ``length``, ``magic``,
    ``crc``, ``offsets``, ``empty``, ``compression``); ``position`` is the byte position
    of the offending batch in the buffer given. A server maps ``crc`` to
    CORRUPT_MESSAGE and the rest to CORRUPT_MESSAGE or INVALID_RECORD.
    """

    def __init__(self, reason: str, message: str, position: int = 0) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"{message} (batch at byte {position})")


Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The decoded 61-byte header of one batch. ``size`` is its length on disk."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record; wraps at 2**31 as Kafka's does."""
        if self.base_sequence < 0:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (1 << 31)


def read_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """Decode the header at ``pos``; checks size fields and magic, not the CRC.

    Raises `InvalidRecords` if fewer than 61 bytes remain, the length field is
    impossible, the batch runs past the buffer, or the magic is not 2.
    """
    avail = len(buf) - pos
    if avail < HEADER_SIZE:
        raise InvalidRecords(
            "truncated", f"{avail} bytes left, a batch header needs {HEADER_SIZE}", pos)
    h = BatchHeader(*_HEADER.unpack_from(buf, pos))
    if h.batch_length < MIN_BATCH_LENGTH:
        raise InvalidRecords(
            "length", f"batch length {h.batch_length} < minimum {MIN_BATCH_LENGTH}", pos)
    if h.size > avail:
        raise InvalidRecords(
            "truncated", f"batch of {h.size} bytes but only {avail} bytes left", pos)
    if h.magic != MAGIC_V2:
        raise InvalidRecords("magic", f"magic {h.magic}, only record batch v2 is supported",
                             pos)
    return h


def compute_crc(buf: Buffer, pos: int = 0, size: int | None = None) -> int:
    """CRC32C of the batch at ``pos`` (attributes to end), as stored at @17."""
    if size is None:
        size = _LENGTH.unpack_from(buf, pos + 8)[0] + LOG_OVERHEAD
    view = memoryview(buf)[pos + CRC_START: pos + size]
    return int(_crc32c.crc32c(view))


def crc_ok(buf: Buffer, pos: int = 0, size: int | None = None) -> bool:
    """Whether the stored CRC of the batch at ``pos`` matches its contents."""
    stored: int = _CRC.unpack_from(buf, pos + 17)[0]
    return compute_crc(buf, pos, size) == stored


def validate_batch(buf: Buffer, pos: int = 0) -> BatchHeader:
    """`read_header` plus the CRC check; raises `InvalidRecords`."""
    h = read_header(buf, pos)
    if compute_crc(buf, pos, h.size) != h.crc:
        raise InvalidRecords("crc", "CRC32C mismatch", pos)
    return h


def iter_batches(buf: Buffer, *, check_crc: bool = False) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` for each batch; the buffer must hold whole batches."""
    pos = 0
    end = len(buf)
    while pos < end:
        h = validate_batch(buf, pos) if check_crc else read_header(buf, pos)
        yield pos, h
        pos += h.size


def validate_produce(buf: Buffer) -> list[BatchHeader]:
    """Check a produce request's record set: one or more whole, CRC-valid v2 batches.

    Also requires ``record_count == last_offset_delta + 1`` (a producer's offsets
    are dense) so that offsets assigned from the header alone stay dense. Raises
    `InvalidRecords` naming the first bad batch.
    """
    if len(buf) == 0:
        raise InvalidRecords("empty", "record set is empty", 0)
    out = []
    for pos, h in iter_batches(buf, check_crc=True):
        if h.last_offset_delta < 0 or h.record_count != h.last_offset_delta + 1:
            raise InvalidRecords(
                "offsets",
                f"record count {h.record_count} does not match last offset delta "
                f"{h.last_offset_delta}", pos)
        out.append(h)
    return out


def set_base_offset(buf: bytearray | memoryview, base_offset: int, pos: int = 0) -> None:
    """Overwrite the base offset of the batch at ``pos`` in place (outside the CRC)."""
    _BASE_OFFSET.pack_into(buf, pos, base_offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, epoch: int, pos: int = 0) -> None:
    """Overwrite the partition leader epoch in place (outside the CRC)."""
    _EPOCH.pack_into(buf, pos + 12, epoch)


def assign_offsets(buf: Buffer, base_offset: int,
                   partition_leader_epoch: int | None = None) -> tuple[bytearray, int]:
    """Copy ``buf`` and give its batches consecutive offsets from ``base_offset``.

    Returns the copy and the next offset after the last batch. The CRCs stay valid.
    """
    out = bytearray(buf)
    nxt = base_offset
    for pos, h in iter_batches(out):
        _BASE_OFFSET.pack_into(out, pos, nxt)
        if partition_leader_epoch is not None:
            _EPOCH.pack_into(out, pos + 12, partition_leader_epoch)
        nxt += h.last_offset_delta + 1
    return out, nxt


# -- records: building and decoding (not for the hot path) -------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One record. ``offset`` is absolute when decoded and ignored when building."""

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...] = ()
    offset: int = -1


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _put_varint(out: bytearray, n: int) -> None:
    u = _zigzag(n) & 0xFFFFFFFFFFFFFFFF
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)


def _get_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    shift = 0
    u = 0
    while True:
        if pos >= len(buf):
            raise InvalidRecords("truncated", "varint runs past the end of the records", pos)
        b = buf[pos]
        pos += 1
        u |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise InvalidRecords("length", "varint longer than 10 bytes", pos)
    return (u >> 1) ^ -(u & 1), pos


def _put_bytes(out: bytearray, b: bytes | None) -> None:
    if b is None:
        _put_varint(out, -1)
    else:
        _put_varint(out, len(b))
        out += b


def _get_bytes(buf: Buffer, pos: int) -> tuple[bytes | None, int]:
    n, pos = _get_varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise InvalidRecords("truncated", "record field runs past the end", pos)
    return bytes(buf[pos: pos + n]), pos + n


def build_batch(records: Sequence[Record], *, base_offset: int = 0,
                producer_id: int = NO_PRODUCER_ID, producer_epoch: int = NO_PRODUCER_EPOCH,
                base_sequence: int = NO_SEQUENCE, transactional: bool = False,
                control: bool = False, partition_leader_epoch: int = 0,
                compression: int = COMPRESSION_NONE) -> bytes:
    """Encode ``records`` as one v2 batch with a valid CRC (none or gzip compression)."""
    if not records:
        raise ValueError("a batch needs at least one record")
    base_ts = min(r.timestamp for r in records)
    max_ts = max(r.timestamp for r in records)
    body = bytearray()
    for delta, r in enumerate(records):
        rec = bytearray()
        rec.append(0)  # record attributes, unused
        _put_varint(rec, r.timestamp - base_ts)
        _put_varint(rec, delta)
        _put_bytes(rec, r.key)
        _put_bytes(rec, r.value)
        _put_varint(rec, len(r.headers))
        for hk, hv in r.headers:
            _put_bytes(rec, hk.encode())
            _put_bytes(rec, hv)
        _put_varint(body, len(rec))
        body += rec
    if compression == COMPRESSION_GZIP:
        body = bytearray(gzip.compress(bytes(body), mtime=0))
    elif compression != COMPRESSION_NONE:
        raise ValueError(f"build_batch supports compression none (0) or gzip (1), "
                         f"not {compression}")
    attributes = compression
    if transactional:
        attributes |= TRANSACTIONAL_BIT
    if control:
        attributes |= CONTROL_BIT
    out = bytearray(HEADER_SIZE)
    out += body
    _HEADER.pack_into(out, 0, base_offset, len(out) - LOG_OVERHEAD, partition_leader_epoch,
                      MAGIC_V2, 0, attributes, len(records) - 1, base_ts, max_ts,
                      producer_id, producer_epoch, base_sequence, len(records))
    _CRC.pack_into(out, 17, compute_crc(out, 0, len(out)))
    return bytes(out)


def _records_body(batch: Buffer, h: BatchHeader, pos: int) -> Buffer:
    body = memoryview(batch)[pos + HEADER_SIZE: pos + h.size]
    c = h.compression
    if c == COMPRESSION_NONE:
        return body
    if c == COMPRESSION_GZIP:
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise InvalidRecords("compression", f"bad gzip data: {e}", pos) from e
    names = {COMPRESSION_SNAPPY: "snappy", COMPRESSION_LZ4: "lz4", COMPRESSION_ZSTD: "zstd"}
    raise InvalidRecords(
        "compression",
        f"cannot decode {names.get(c, f'compression {c}')} records here "
        "(only none and gzip)", pos)


def iter_records(batch: Buffer, pos: int = 0) -> Iterator[Record]:
    """Decode the records of the batch at ``pos`` (uncompressed or gzip only).

    With LogAppendTime every record carries the batch's max timestamp, as in Kafka.
    Raises `InvalidRecords` on malformed records or an unsupported compression.
    """
    h = read_header(batch, pos)
    body = _records_body(batch, h, pos)
    p = 0
    for _ in range(h.record_count):
        length, p = _get_varint(body, p)
        end = p + length
        if length < 0 or end > len(body):
            raise InvalidRecords("truncated", "record runs past the end of its batch", pos)
        p += 1  # attributes
        ts_delta, p = _get_varint(body, p)
        off_delta, p = _get_varint(body, p)
        key, p = _get_bytes(body, p)
        value, p = _get_bytes(body, p)
        nh, p = _get_varint(body, p)
        headers = []
        for _ in range(max(nh, 0)):
            hk, p = _get_bytes(body, p)
            hv, p = _get_bytes(body, p)
            headers.append(((hk or b"").decode("utf-8", "replace"), hv))
        if p != end:
            raise InvalidRecords("length", "record length does not match its fields", pos)
        ts = h.max_timestamp if h.is_log_append_time else h.base_timestamp + ts_delta
        yield Record(key, value, ts, tuple(headers), h.base_offset + off_delta)
