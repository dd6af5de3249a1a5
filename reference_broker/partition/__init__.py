"""Sans-I/O per-partition state: the producer-state table used for idempotence.

The high watermark of a single node equals the log end offset after every append; the
replicated broker will move it with Raft's commit index instead.
"""

from reference_broker.partition.producer_state import (
    APPEND,
    BATCHES_TO_RETAIN,
    BatchMeta,
    Check,
    ProducerStateTable,
)

__all__ = ["APPEND", "BATCHES_TO_RETAIN", "BatchMeta", "Check", "ProducerStateTable"]
