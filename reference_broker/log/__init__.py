"""The durable, segmented log of a partition (see `partition_log` for its promises).

Public surface: `PartitionLog`, `LogConfig`, `AppendInfo`, `SegmentInfo`,
`RecoveryReport` and the errors (all `LogError`). The modules below hold one job
each: `index` (sparse offset/time indexes, pure), `scan` (batch validation for
recovery, pure), `retention` and `policy` (what to delete, when to roll or fsync,
pure), `files` and `segment` (the thin I/O layer), `partition_log` (the log).
"""

from reference_broker.log.config import FLUSH_POLICIES, FlushPolicy, LogConfig
from reference_broker.log.errors import (
    CorruptBatch,
    LogClosed,
    LogConfigError,
    LogCorrupt,
    LogError,
    OffsetOutOfRange,
)
from reference_broker.log.partition_log import AppendInfo, PartitionLog, RecoveryReport
from reference_broker.log.retention import SegmentInfo

__all__ = [
    "FLUSH_POLICIES",
    "AppendInfo",
    "CorruptBatch",
    "FlushPolicy",
    "LogClosed",
    "LogConfig",
    "LogConfigError",
    "LogCorrupt",
    "LogError",
    "OffsetOutOfRange",
    "PartitionLog",
    "RecoveryReport",
    "SegmentInfo",
]
