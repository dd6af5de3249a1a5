"""Kafka transactions on a single node.

- `coordinator`: `TxnCoordinator`, the sans-I/O transaction coordinator (per
  transactional id: producer id, epoch, state, partitions, groups, staged offsets,
  timeout); its module docstring is the spec.
- `partition`: `PartitionTxns`, a partition's open transactions, last stable offset and
  aborted-transaction index (sans-I/O), and the marker (control batch) format.
- `service`: `TxnService`, the asyncio driver: persists the coordinator in
  ``txn-state.json`` (fsynced before any answer), writes markers, commits staged
  offsets to the group coordinator, aborts timed-out transactions, and after a restart
  finishes the transactions that were being ended.

The wire side (InitProducerId with a transactional id, AddPartitionsToTxn,
AddOffsetsToTxn, EndTxn, TxnOffsetCommit) is `reference_broker.protocol.handlers.txn`.
Single node only: in a cluster (``--peers``) transactional requests are refused.
"""

from reference_broker.txn.coordinator import (
    EndPlan,
    StagedOffset,
    TxnCoordinator,
    TxnError,
    TxnMeta,
    TxnState,
    fenced_code,
)
from reference_broker.txn.partition import (
    AbortedTxn,
    PartitionTxns,
    marker_batch,
    marker_is_commit,
)

#: planted bugs of this package (`reference_broker.bugs`).
PLANTED_BUGS = {
    "aborted-read": "read_committed fetches and list-offsets ignore the last stable "
                    "offset and send no aborted transactions, so consumers see records "
                    "of aborted and of still open transactions",
}

__all__ = ["PLANTED_BUGS", "AbortedTxn", "EndPlan", "PartitionTxns", "StagedOffset",
           "TxnCoordinator", "TxnError", "TxnMeta", "TxnState", "fenced_code",
           "marker_batch", "marker_is_commit"]
