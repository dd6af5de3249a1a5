"""The one place where Kafka wire bytes become Python objects and back.

Framing: a request is `int32 size` + header + body. The header is v1 (api_key int16,
api_version int16, correlation_id int32, client_id nullable int16-length string) or, for
flexible versions (KIP-482), v2 = v1 + tagged fields, which we skip whatever their tags.
Responses are `int32 size` + header (v0: correlation_id; v1 adds empty tagged fields for
flexible versions, except ApiVersions, always v0) + body.

Bodies use kafka-python 3.0.12's `kafka.protocol` classes server-side (request classes
decode, response classes encode). Why not `kio` 0.6.5? Measured here (2 shared cores,
Python 3.11, 20k iterations, one 12 KB opaque batch per request, in ops/s)::

    decode ProduceRequest v9          kafka-python  315k   kio 1429k
    build+encode ProduceResponse v9   kafka-python   77k   kio   79k
    build+encode FetchResponse v12    kafka-python   63k   kio   58k

kio decodes Produce ~4.5x faster, but librdkafka packs up to 1 MB (10k records) per
request, so decode costs ~3 us per MB of records against ~400 us of CRC32C and file
writes: a mix would save <1% of broker time. Encoding, which every request needs, is a
tie. kafka-python also skips unknown tagged fields (kio raises, breaking KIP-482), and
decodes versions below Kafka 4's floors (ListOffsets v0, OffsetCommit v0-1, ...) that kio
lacks. So: kafka-python for every API; records stay opaque `bytes` (never decoded here).

Malformed input raises `FrameError`; the server answers it by closing the connection,
as Kafka does for unparsable requests and unknown API keys or versions (ApiVersions
excepted: see `api_versions_unsupported`).
"""

from __future__ import annotations

import struct
from typing import Any

from kafka.protocol import admin as _admin
from kafka.protocol import consumer as _consumer
from kafka.protocol import metadata as _metadata
from kafka.protocol import producer as _producer
from kafka.protocol.api_message import ApiMessage

from reference_broker.protocol.handlers import ApiKey, RequestHeader

_HDR = struct.Struct(">hhih")
_PEEK = struct.Struct(">hhi")


class FrameError(ValueError):
    """A request the broker cannot parse (the remote side broke the protocol)."""


def _message_classes() -> tuple[dict[int, type[ApiMessage]], dict[int, type[ApiMessage]]]:
    requests: dict[int, type[ApiMessage]] = {}
    responses: dict[int, type[ApiMessage]] = {}
    for mod in (_producer, _consumer, _metadata, _admin):
        for name in dir(mod):
            obj = getattr(mod, name)
            if (isinstance(obj, type) and issubclass(obj, ApiMessage)
                    and obj is not ApiMessage and getattr(obj, "_json", None) is not None):
                key: int = obj.API_KEY  # type: ignore[attr-defined]
                if name.endswith("Request"):
                    requests[key] = obj
                elif name.endswith("Response"):
                    responses[key] = obj
    return requests, responses


REQUEST_CLASSES, RESPONSE_CLASSES = _message_classes()


def request_class(api_key: int) -> Any:
    return REQUEST_CLASSES[api_key]


def response_class(api_key: int) -> Any:
    """kafka-python's response class for `api_key` (build with `version=`)."""
    return RESPONSE_CLASSES[api_key]


def codec_max_version(api_key: int) -> int:
    """Highest version kafka-python can decode for this API (-1 if unknown)."""
    cls = REQUEST_CLASSES.get(api_key)
    return -1 if cls is None else int(cls.max_version)


def _skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    count, pos = _uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = _uvarint(buf, pos)
        size, pos = _uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise FrameError("tagged field runs past the end of the frame")
    return pos


def _uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise FrameError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise FrameError("varint longer than 5 bytes")


def peek_header(frame: bytes) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a frame body, without validation."""
    if len(frame) < 8:
        raise FrameError(f"request of {len(frame)} bytes is shorter than a header")
    api_key, api_version, correlation_id = _PEEK.unpack_from(frame, 0)
    return int(api_key), int(api_version), int(correlation_id)


def parse_header(frame: bytes, peer: str = "") -> tuple[RequestHeader, int]:
    """Parse the request header; returns it and the offset where the body starts.

    The caller has already checked that the API key and version are served, so that
    whether the header is flexible (v2) is known.
    """
    if len(frame) < 10:
        raise FrameError(f"request of {len(frame)} bytes is shorter than a header")
    api_key, api_version, correlation_id, id_len = _HDR.unpack_from(frame, 0)
    pos = 10
    if id_len < -1:
        raise FrameError(f"client_id length {id_len}")
    client_id: str | None = None
    if id_len >= 0:
        end = pos + id_len
        if end > len(frame):
            raise FrameError("client_id runs past the end of the frame")
        client_id = frame[pos:end].decode("utf-8", "replace")
        pos = end
    cls = REQUEST_CLASSES.get(api_key)
    if cls is None:
        raise FrameError(f"unknown api key {api_key}")
    if cls.flexible_version_q(api_version):
        pos = _skip_tagged_fields(frame, pos)
    header = RequestHeader(api_key=api_key, api_version=api_version,
                           correlation_id=correlation_id, client_id=client_id, peer=peer)
    return header, pos


def decode_request(header: RequestHeader, frame: bytes, body_offset: int) -> Any:
    """Decode the body with kafka-python; any failure becomes FrameError.

    kafka-python decodes a null (length -1, or compact 0) array or string as None even
    where the schema does not allow null; Kafka rejects such a request, and so do we
    (`_check_nulls`), so handlers may rely on non-nullable fields being present.
    """
    cls = REQUEST_CLASSES[header.api_key]
    version = header.api_version
    try:
        request = cls.decode(memoryview(frame)[body_offset:], version=version)
    except MemoryError:
        raise FrameError("body asks for absurd allocation") from None
    except Exception as exc:
        raise FrameError(f"cannot decode {cls.__name__} v{version}: "
                         f"{type(exc).__name__}: {exc}") from None
    key = (header.api_key, version)
    plan = _NULL_PLANS.get(key)
    if plan is None:
        plan = _NULL_PLANS[key] = _null_plan(cls.fields, version)
    _check_nulls(request, plan, cls.__name__)
    return request


# (field name, may be null, sub-plan for struct / struct array elements, is array)
_Plan = list[tuple[str, bool, "_Plan | None", bool]]
_NULL_PLANS: dict[tuple[int, int], _Plan] = {}


def _null_plan(fields: Any, version: int) -> _Plan:
    plan: _Plan = []
    for name, f in fields.items():
        if not f.for_version_q(version) or f.tagged_field_q(version):
            continue
        if f.type_str == "uuid":
            continue  # the zero uuid decodes as None
        sub = None
        if f.is_struct() or f.is_struct_array():
            sub = _null_plan(f.fields, version)
        plan.append((name, bool(f.nullable_for_version_q(version)), sub,
                     bool(f.is_struct_array())))
    return plan


def _check_nulls(obj: Any, plan: _Plan, where: str) -> None:
    for name, nullable, sub, is_array in plan:
        value = getattr(obj, name)
        if value is None:
            if not nullable:
                raise FrameError(f"{where}.{name} is null but the schema forbids it")
        elif sub is not None:
            if is_array:
                for item in value:
                    _check_nulls(item, sub, f"{where}.{name}[]")
            else:
                _check_nulls(value, sub, f"{where}.{name}")


def encode_response(header: RequestHeader, response: Any) -> bytes | bytearray:
    """Frame `response` (a kafka-python response object) for the request `header`."""
    response.with_header(correlation_id=header.correlation_id)
    if header.api_version != response.API_VERSION:
        raise ValueError(f"handler built a v{response.API_VERSION} response "
                         f"for a v{header.api_version} request")
    out: bytes | bytearray = response.encode(header=True, framed=True)
    return out


def api_versions_unsupported(correlation_id: int,
                             table: list[tuple[int, int, int]]) -> bytes | bytearray:
    """ApiVersions v0-format UNSUPPORTED_VERSION answer listing what we serve.

    Sent when a client asks for an ApiVersions version we lack, so it can retry lower.
    """
    cls = RESPONSE_CLASSES[ApiKey.API_VERSIONS]
    keys = [cls.ApiVersion(api_key=k, min_version=lo, max_version=hi)
            for k, lo, hi in table]
    resp = cls(version=0, error_code=35, api_keys=keys)
    resp.with_header(correlation_id=correlation_id)
    out: bytes | bytearray = resp.encode(header=True, framed=True)
    return out
