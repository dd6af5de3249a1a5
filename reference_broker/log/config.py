"""`LogConfig`: the per-partition storage settings, with Kafka's defaults.

Names follow Kafka's topic configs (``segment.bytes`` -> ``segment_bytes``, ...).
``retention_ms`` / ``retention_bytes`` of -1 mean unlimited, as in Kafka.
Flush policies: ``always`` fsyncs the segment before `append` returns (an
acknowledged append survives power loss), ``interval`` fsyncs from `maybe_flush`
once ``flush_interval_ms`` has passed since the last fsync, ``never`` leaves it to
the OS (survives a process crash, not a machine crash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reference_broker.log.errors import LogConfigError

FlushPolicy = Literal["always", "interval", "never"]
FLUSH_POLICIES: tuple[str, ...] = ("always", "interval", "never")

#: segment positions are stored as uint32 in the index; Kafka caps segment.bytes at int32.
MAX_SEGMENT_BYTES = (1 << 31) - 1
#: Kafka's minimum segment.bytes (a legacy record's overhead).
MIN_SEGMENT_BYTES = 14


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    """Storage settings of one partition log. Validates itself on construction."""

    segment_bytes: int = 1 << 30
    roll_ms: int = 7 * 24 * 3600 * 1000
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    flush: FlushPolicy = "never"
    flush_interval_ms: int = 1000
    index_interval_bytes: int = 4096

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, value: object, rule: str) -> None:
            if not ok:
                raise LogConfigError(f"LogConfig.{field}={value!r}: must be {rule}")

        for name in ("segment_bytes", "roll_ms", "retention_ms", "retention_bytes",
                     "flush_interval_ms", "index_interval_bytes"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool), name, v, "an int")
        need(MIN_SEGMENT_BYTES <= self.segment_bytes <= MAX_SEGMENT_BYTES, "segment_bytes",
             self.segment_bytes, f"in [{MIN_SEGMENT_BYTES}, {MAX_SEGMENT_BYTES}]")
        need(self.roll_ms >= 1, "roll_ms", self.roll_ms, ">= 1")
        need(self.retention_ms >= -1, "retention_ms", self.retention_ms,
             ">= 0, or -1 for unlimited")
        need(self.retention_bytes >= -1, "retention_bytes", self.retention_bytes,
             ">= 0, or -1 for unlimited")
        need(self.flush in FLUSH_POLICIES, "flush", self.flush, f"one of {FLUSH_POLICIES}")
        need(self.flush_interval_ms >= 0, "flush_interval_ms", self.flush_interval_ms, ">= 0")
        need(self.index_interval_bytes >= 0, "index_interval_bytes",
             self.index_interval_bytes, ">= 0")
