"""Every client error is either definite (``fail``: it certainly did not happen) or
indefinite (``info``: it may have happened). One table decides, keyed by Kafka error
code or by exception type name, for both client libraries.

The rule of thumb: an error the broker returns *before* it appends (no leader here,
not enough replicas, invalid request, unknown topic) is definite for a send; anything
after the request may have reached the log (timeouts, disconnects, "not enough
replicas after append", unknown errors) is indefinite. An offset commit is definite
when the coordinator refused it (a rebalance fenced the member, or it is not the
coordinator) and indefinite on a timeout or a lost connection. Reads change no data, but a
failed poll may have moved the consumer's position, so a poll error crashes the
consumer (``info``) and a fresh process starts over, as Jepsen does. Listing offsets
(``offsets``) changes nothing, neither on a broker nor in the consumer's positions, so
its failure is always definite (`classify_offsets`): it observed nothing.

A transaction (``txn``) is definite (``fail``) when nothing of it reached a broker (the
producer could not be initialised or begin) or when it was aborted, by the workload's
wish or after an error, and the abort succeeded: the coordinator then wrote abort
markers and none of its sends can become visible to read_committed consumers. It is
indefinite (``info``) otherwise, above all when the commit timed out or failed and no
abort succeeded afterwards: the EndTxn may have reached the coordinator
(`classify_txn`). The codes the transaction APIs answer are named in `TXN_CODES`.
"""

from __future__ import annotations

from typing import Final, Literal

Outcome = Literal["fail", "info"]

#: Kafka error codes whose meaning is "the broker did not append this send".
DEFINITE_SEND_CODES: Final[dict[int, str]] = {
    2: "CORRUPT_MESSAGE",
    3: "UNKNOWN_TOPIC_OR_PARTITION",
    5: "LEADER_NOT_AVAILABLE",
    6: "NOT_LEADER_OR_FOLLOWER",
    10: "MESSAGE_TOO_LARGE",
    17: "INVALID_TOPIC_EXCEPTION",
    18: "RECORD_LIST_TOO_LARGE",
    19: "NOT_ENOUGH_REPLICAS",
    21: "INVALID_REQUIRED_ACKS",
    29: "TOPIC_AUTHORIZATION_FAILED",
    35: "UNSUPPORTED_VERSION",
    42: "INVALID_REQUEST",
    43: "UNSUPPORTED_FOR_MESSAGE_FORMAT",
    45: "OUT_OF_ORDER_SEQUENCE_NUMBER",
    47: "INVALID_PRODUCER_EPOCH",
    59: "UNKNOWN_PRODUCER_ID",
    87: "INVALID_RECORD",
}

#: Error codes that may hide a write (the broker may have appended before failing).
INDEFINITE_SEND_CODES: Final[dict[int, str]] = {
    -1: "UNKNOWN_SERVER_ERROR",
    7: "REQUEST_TIMED_OUT",
    13: "NETWORK_EXCEPTION",
    20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
}

#: Exception class names (kafka-python and ours) that mean "no request was sent".
DEFINITE_EXCEPTIONS: Final[frozenset[str]] = frozenset({
    "NoBrokersAvailable",
    "NodeNotReadyError",
    "UnrecognizedBrokerVersion",
    "IllegalStateError",
    "InvalidTopicError",
    "MessageSizeTooLargeError",
    "SerializationError",
})


#: Rejections that every attempt of the same batch gets: definite even after retries.
DETERMINISTIC_SEND_CODES: Final[frozenset[int]] = frozenset({
    2, 10, 17, 18, 21, 29, 35, 42, 43, 87})


def classify_send(code: int | None = None, exception: str | None = None, *,
                  retries: int = 0) -> Outcome:
    """Definite or indefinite outcome of a failed send.

    With client retries the error seen is only the *last* attempt's: an earlier attempt
    may have timed out after the broker appended (and later committed) the batch, so a
    transient rejection such as NOT_LEADER_OR_FOLLOWER proves nothing then. Only
    rejections every attempt would get stay definite."""
    if code is not None:
        if code in DEFINITE_SEND_CODES:
            if retries > 0 and code not in DETERMINISTIC_SEND_CODES:
                return "info"
            return "fail"
        return "info"
    if exception is not None and exception in DEFINITE_EXCEPTIONS:
        return "fail"
    return "info"


def classify_read(code: int | None = None, exception: str | None = None) -> Outcome:
    """A failed poll/assign/subscribe: definite only when nothing was attempted."""
    if exception is not None and exception in DEFINITE_EXCEPTIONS:
        return "fail"
    return "info"


def classify_offsets(code: int | None = None, exception: str | None = None) -> Outcome:
    """A failed ListOffsets (earliest / latest): definite whatever the error, since it
    changes no state anywhere; the history records it as an observation that did not
    happen."""
    return "fail"


#: Error codes of an OffsetCommit that mean "the coordinator did not store it": it
#: refused the member or generation (a rebalance fenced it), is not the coordinator,
#: or is still loading the group.
DEFINITE_COMMIT_CODES: Final[dict[int, str]] = {
    12: "OFFSET_METADATA_TOO_LARGE",
    14: "COORDINATOR_LOAD_IN_PROGRESS",
    15: "COORDINATOR_NOT_AVAILABLE",
    16: "NOT_COORDINATOR",
    22: "ILLEGAL_GENERATION",
    25: "UNKNOWN_MEMBER_ID",
    27: "REBALANCE_IN_PROGRESS",
    28: "INVALID_COMMIT_OFFSET_SIZE",
    30: "GROUP_AUTHORIZATION_FAILED",
    82: "FENCED_INSTANCE_ID",
}

#: Exception class names (kafka-python) of a commit the coordinator refused.
DEFINITE_COMMIT_EXCEPTIONS: Final[frozenset[str]] = frozenset({
    "CommitFailedError",
    "IllegalGenerationError",
    "UnknownMemberIdError",
    "RebalanceInProgressError",
    "FencedInstanceIdError",
    "NotCoordinatorError",
    "CoordinatorNotAvailableError",
    "CoordinatorLoadInProgressError",
})


def classify_commit(code: int | None = None, exception: str | None = None) -> Outcome:
    """A failed offset commit: definite when the coordinator refused it (fenced by a
    rebalance, not the coordinator) or nothing was sent; a timeout or a lost
    connection may hide a stored commit."""
    if code is not None:
        return "fail" if code in DEFINITE_COMMIT_CODES else "info"
    if exception is not None and (exception in DEFINITE_COMMIT_EXCEPTIONS
                                  or exception in DEFINITE_EXCEPTIONS):
        return "fail"
    return "info"


#: Error codes of the transaction APIs (InitProducerId with a transactional id,
#: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), for error names; the
#: outcome of a transaction follows from whether its abort succeeded (`classify_txn`).
TXN_CODES: Final[dict[int, str]] = {
    48: "INVALID_TXN_STATE",
    49: "INVALID_PRODUCER_ID_MAPPING",
    50: "INVALID_TRANSACTION_TIMEOUT",
    51: "CONCURRENT_TRANSACTIONS",
    52: "TRANSACTION_COORDINATOR_FENCED",
    53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    90: "PRODUCER_FENCED",
}

#: How far a failed transaction got: ``"start"`` (initialising the producer or
#: beginning: nothing was sent), ``"aborted"`` (an abort succeeded), ``"open"`` (it
#: failed after sending and no abort succeeded: it may still commit, or has).
TxnStage = Literal["start", "aborted", "open"]


def classify_txn(stage: TxnStage) -> Outcome:
    """A failed transaction: definite when it never started or its abort succeeded;
    indefinite while it may still have committed (a commit that timed out, a producer
    fenced mid-commit, an abort that failed)."""
    return "info" if stage == "open" else "fail"


def error_name(code: int) -> str:
    return (DEFINITE_SEND_CODES.get(code) or INDEFINITE_SEND_CODES.get(code)
            or DEFINITE_COMMIT_CODES.get(code) or TXN_CODES.get(code) or f"code-{code}")
