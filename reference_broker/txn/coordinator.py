"""The transaction coordinator of one node, as a sans-I/O state machine.

Per transactional id it keeps a `TxnMeta`: the producer id and epoch, the transaction
timeout, the state, the partitions and consumer groups of the current (or last)
transaction, the offsets staged by TxnOffsetCommit and the start time. It never does
I/O and never reads a clock: requests come in with ``now_ms`` and go out as an error
code, and ending a transaction yields an `EndPlan` (the markers to write and the
offsets to commit) that the driver (`reference_broker.txn.service`) carries out before
it calls `complete`. The driver persists `to_json` after every change, before it
answers, and feeds `from_json` back after a restart.

States and the one transition table (`_NEXT`); anything not in it is refused::

    EMPTY / COMPLETE_*  --add partitions / offsets-->  ONGOING
    EMPTY / COMPLETE_*  --InitProducerId-->  EMPTY
    ONGOING             --EndTxn commit-->   PREPARE_COMMIT --complete--> COMPLETE_COMMIT
    ONGOING             --EndTxn abort, timeout, re-init--> PREPARE_ABORT
    PREPARE_ABORT       --complete-->  COMPLETE_ABORT

Rules (Kafka's, for one node):

- InitProducerId gives a transactional id a producer id once and bumps the epoch on
  every call, which fences the previous producer: requests with an older epoch get
  PRODUCER_FENCED (the caller downgrades it to INVALID_PRODUCER_EPOCH for versions that
  predate KIP-588). An ongoing transaction is fenced instead, as Kafka does: the epoch
  is bumped for its abort markers and the answer is CONCURRENT_TRANSACTIONS with the
  abort to carry out; the retry then bumps again, so the epoch used to fence is never
  handed out (handing it out let a producer fenced repeatedly while in a transaction,
  then timed out, run the int16 epoch past 32767). Near the end of the epoch range a
  new producer id is taken, epoch 0.
  A timeout <= 0 or above ``max_timeout_ms`` is INVALID_TRANSACTION_TIMEOUT; a
  transaction still being ended (PREPARE_*) is CONCURRENT_TRANSACTIONS (retriable).
- Every other request names (transactional id, producer id, epoch): an unknown id or
  another producer id is INVALID_PRODUCER_ID_MAPPING, an older epoch is fenced.
- EndTxn in ONGOING starts the commit or abort; repeating the finished outcome answers
  NONE (a retry); the other outcome, or ending an EMPTY transaction, is
  INVALID_TXN_STATE; while the markers are written it is CONCURRENT_TRANSACTIONS.
- A transaction ONGOING for longer than its timeout is aborted by the coordinator
  (`expire`), with the epoch bumped, so the producer is fenced and must re-initialise.
- A transactional produce is accepted (`check_produce`) only from the current epoch,
  for a partition added to the ongoing transaction.
- Offsets staged by TxnOffsetCommit are pending (`unstable_offsets`) from ONGOING until
  the transaction completes, however it ends: OffsetFetch with require_stable (KIP-447,
  protocol/handlers/groups.py) answers UNSTABLE_OFFSET_COMMIT for them.

It must not: let a produce or an offset commit of a fenced epoch through, forget the
partitions of a transaction before its markers are written, commit staged offsets
of an aborted transaction, or hand out an epoch it used to fence.

Deliberate simplifications (where Kafka differs):

- A timed-out transaction fences its producer for good: there is no KIP-588 recovery
  (Kafka accepts InitProducerId naming the epoch its timeout bumped past).
- InitProducerId naming the previous epoch (a KIP-360 retry whose answer was lost) is
  PRODUCER_FENCED, not answered with the current epoch; a request with an epoch above
  the current one gets INVALID_PRODUCER_EPOCH (Kafka: PRODUCER_FENCED).
- EndTxn on an EMPTY transaction answers INVALID_TXN_STATE (Kafka's coordinator does
  the same; clients do not send it for a transaction without partitions or offsets).
- Transactional ids never expire (no transactional.id.expiration.ms); the state only
  grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

#: epochs at or above this start a new producer id (Kafka keeps Short.MAX_VALUE free).
MAX_EPOCH = 32766
#: the coordinator epoch written in markers: one node, never re-elected.
COORDINATOR_EPOCH = 0

TopicPartition = tuple[str, int]


class TxnError(IntEnum):
    """Kafka error codes the coordinator answers with."""

    NONE = 0
    UNKNOWN_TOPIC_OR_PARTITION = 3
    COORDINATOR_NOT_AVAILABLE = 15
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    OPERATION_NOT_ATTEMPTED = 55
    PRODUCER_FENCED = 90


class TxnState(StrEnum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"


S = TxnState
#: (state, event) -> next state. Events: "add" (partitions or offsets), "init"
#: (InitProducerId with no transaction open), "commit", "abort" (EndTxn, timeout or
#: re-init), "complete" (markers written).
_NEXT: dict[tuple[TxnState, str], TxnState] = {
    (S.EMPTY, "init"): S.EMPTY,
    (S.COMPLETE_COMMIT, "init"): S.EMPTY,
    (S.COMPLETE_ABORT, "init"): S.EMPTY,
    (S.EMPTY, "add"): S.ONGOING,
    (S.COMPLETE_COMMIT, "add"): S.ONGOING,
    (S.COMPLETE_ABORT, "add"): S.ONGOING,
    (S.ONGOING, "add"): S.ONGOING,
    (S.ONGOING, "commit"): S.PREPARE_COMMIT,
    (S.ONGOING, "abort"): S.PREPARE_ABORT,
    (S.PREPARE_COMMIT, "complete"): S.COMPLETE_COMMIT,
    (S.PREPARE_ABORT, "complete"): S.COMPLETE_ABORT,
}
_PREPARING = (S.PREPARE_COMMIT, S.PREPARE_ABORT)


@dataclass(frozen=True, slots=True)
class StagedOffset:
    """An offset committed inside a transaction (visible to the group on commit)."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = None


@dataclass(slots=True)
class TxnMeta:
    """What the coordinator knows of one transactional id."""

    transactional_id: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    offsets: dict[str, dict[TopicPartition, StagedOffset]] = field(default_factory=dict)
    start_ms: int = -1
    updated_ms: int = -1


@dataclass(frozen=True, slots=True)
class EndPlan:
    """The driver's work to end a transaction: write a marker (commit or abort, with
    `epoch`) to every partition, then, on commit, make the staged offsets the groups'
    committed offsets; then call `TxnCoordinator.complete`."""

    transactional_id: str
    producer_id: int
    epoch: int
    commit: bool
    partitions: tuple[TopicPartition, ...]
    offsets: tuple[tuple[str, StagedOffset], ...] = ()


@dataclass(frozen=True, slots=True)
class InitResult:
    error: TxnError
    producer_id: int = -1
    epoch: int = -1
    #: with CONCURRENT_TRANSACTIONS: the ongoing transaction just fenced, to abort
    #: before InitProducerId is asked again.
    abort: EndPlan | None = None


class TxnCoordinator:
    """transactional id -> TxnMeta, with Kafka's rules (see the module docstring)."""

    def __init__(self, max_timeout_ms: int = 900000) -> None:
        self.max_timeout_ms = max_timeout_ms
        self._txns: dict[str, TxnMeta] = {}
        self._by_pid: dict[int, str] = {}

    # -- queries ---------------------------------------------------------------------

    def get(self, transactional_id: str) -> TxnMeta | None:
        return self._txns.get(transactional_id)

    def by_producer(self, producer_id: int) -> TxnMeta | None:
        tid = self._by_pid.get(producer_id)
        return self._txns.get(tid) if tid is not None else None

    def __iter__(self) -> Iterator[TxnMeta]:
        return iter(list(self._txns.values()))

    def __len__(self) -> int:
        return len(self._txns)

    def check_produce(self, producer_id: int, epoch: int, tp: TopicPartition) -> TxnError:
        """May a transactional batch of (producer id, epoch) go to partition ``tp``?"""
        meta = self.by_producer(producer_id)
        if meta is None:
            return TxnError.INVALID_TXN_STATE
        if epoch < meta.epoch:
            return TxnError.INVALID_PRODUCER_EPOCH
        if epoch > meta.epoch or meta.state != S.ONGOING or tp not in meta.partitions:
            return TxnError.INVALID_TXN_STATE
        return TxnError.NONE

    # -- requests --------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, now_ms: int,
                         new_producer_id: Callable[[], int], *, producer_id: int = -1,
                         epoch: int = -1) -> InitResult:
        """InitProducerId with a transactional id (``producer_id``/``epoch``: v3+)."""
        if timeout_ms <= 0 or timeout_ms > self.max_timeout_ms:
            return InitResult(TxnError.INVALID_TRANSACTION_TIMEOUT)
        meta = self._txns.get(transactional_id)
        if meta is None:
            pid = new_producer_id()
            meta = TxnMeta(transactional_id, pid, 0, timeout_ms, updated_ms=now_ms)
            self._txns[transactional_id] = meta
            self._by_pid[pid] = transactional_id
            return InitResult(TxnError.NONE, pid, 0)
        if meta.state in _PREPARING:
            return InitResult(TxnError.CONCURRENT_TRANSACTIONS)
        if producer_id >= 0 and (producer_id != meta.producer_id or epoch != meta.epoch):
            return InitResult(TxnError.PRODUCER_FENCED)
        meta.timeout_ms = timeout_ms
        if meta.state == S.ONGOING:
            self._bump(meta, new_producer_id, keep_id=True)
            abort = self._end(meta, commit=False, now_ms=now_ms)
            return InitResult(TxnError.CONCURRENT_TRANSACTIONS, abort=abort)
        self._bump(meta, new_producer_id, keep_id=False)
        meta.state = _NEXT[(meta.state, "init")]
        meta.partitions.clear()
        meta.groups.clear()
        meta.offsets.clear()
        meta.updated_ms = now_ms
        return InitResult(TxnError.NONE, meta.producer_id, meta.epoch)

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: Iterable[TopicPartition], now_ms: int) -> TxnError:
        """AddPartitionsToTxn (the caller answers unknown partitions itself)."""
        meta, error = self._checked(transactional_id, producer_id, epoch)
        if meta is None:
            return error
        error = self._begin(meta, now_ms)
        if error:
            return error
        meta.partitions.update(partitions)
        return TxnError.NONE

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int,
                    group_id: str, now_ms: int) -> TxnError:
        """AddOffsetsToTxn: the group's offsets will be committed with the transaction."""
        meta, error = self._checked(transactional_id, producer_id, epoch)
        if meta is None:
            return error
        error = self._begin(meta, now_ms)
        if error:
            return error
        meta.groups.add(group_id)
        return TxnError.NONE

    def stage_offsets(self, transactional_id: str, producer_id: int, epoch: int,
                      group_id: str, offsets: Iterable[StagedOffset], now_ms: int) -> TxnError:
        """TxnOffsetCommit: stage offsets of a group added by AddOffsetsToTxn."""
        meta, error = self._checked(transactional_id, producer_id, epoch)
        if meta is None:
            return error
        if meta.state in _PREPARING:
            return TxnError.CONCURRENT_TRANSACTIONS
        if meta.state != S.ONGOING or group_id not in meta.groups:
            return TxnError.INVALID_TXN_STATE
        staged = meta.offsets.setdefault(group_id, {})
        for o in offsets:
            staged[(o.topic, o.partition)] = o
        meta.updated_ms = now_ms
        return TxnError.NONE

    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                now_ms: int) -> tuple[TxnError, EndPlan | None]:
        """EndTxn: the plan to carry out, or an error, or (NONE, None) for a retry of
        a transaction already ended that way."""
        meta, error = self._checked(transactional_id, producer_id, epoch)
        if meta is None:
            return error, None
        done = S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT
        if meta.state == done:
            return TxnError.NONE, None
        if meta.state == (S.PREPARE_COMMIT if commit else S.PREPARE_ABORT):
            return TxnError.CONCURRENT_TRANSACTIONS, None
        if meta.state != S.ONGOING:
            return TxnError.INVALID_TXN_STATE, None
        return TxnError.NONE, self._end(meta, commit=commit, now_ms=now_ms)

    def complete(self, transactional_id: str, now_ms: int) -> None:
        """The markers of the PREPARE_* transaction are written: finish it."""
        meta = self._txns[transactional_id]
        meta.state = _NEXT[(meta.state, "complete")]
        meta.offsets.clear()
        meta.groups.clear()
        meta.start_ms = -1
        meta.updated_ms = now_ms

    def expire(self, now_ms: int, new_producer_id: Callable[[], int]) -> list[EndPlan]:
        """Abort (epoch bumped) every transaction ONGOING longer than its timeout."""
        plans = []
        for meta in self._txns.values():
            if meta.state == S.ONGOING and now_ms - meta.start_ms > meta.timeout_ms:
                self._bump(meta, new_producer_id, keep_id=True)
                plans.append(self._end(meta, commit=False, now_ms=now_ms))
        return plans

    def pending(self) -> list[EndPlan]:
        """Plans of the transactions in PREPARE_* (after a restart, or a failed write)."""
        return [self._plan(m, m.state == S.PREPARE_COMMIT)
                for m in self._txns.values() if m.state in _PREPARING]

    def unstable_offsets(self, group_id: str) -> set[TopicPartition]:
        """Partitions whose offsets for ``group_id`` are staged by a transaction not yet
        finished (Kafka's pending transactional offsets): an OffsetFetch with
        require_stable (KIP-447) must answer UNSTABLE_OFFSET_COMMIT for them, or a new
        consumer resumes from the older offset and the commit then lands behind it."""
        out: set[TopicPartition] = set()
        for meta in self._txns.values():
            if meta.state in (S.ONGOING, *_PREPARING):
                out.update(meta.offsets.get(group_id, {}))
        return out

    def resolve_open(self, producer_id: int, tp: TopicPartition) -> bool | None:
        """A partition found an open transaction of ``producer_id`` in its log (at
        start-up): True to write a commit marker, False an abort marker, None to leave
        it (it is ONGOING or being ended: the coordinator will end it)."""
        meta = self.by_producer(producer_id)
        if meta is None or tp not in meta.partitions:
            return False  # nobody can end it any more
        if meta.state in (S.ONGOING, *_PREPARING):
            return None
        return meta.state == S.COMPLETE_COMMIT  # its marker was lost in a crash

    # -- internals -------------------------------------------------------------------

    def _checked(self, transactional_id: str, producer_id: int, epoch: int
                 ) -> tuple[TxnMeta | None, TxnError]:
        meta = self._txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return None, TxnError.INVALID_PRODUCER_ID_MAPPING
        if epoch < meta.epoch:
            return None, TxnError.PRODUCER_FENCED
        if epoch > meta.epoch:
            return None, TxnError.INVALID_PRODUCER_EPOCH
        return meta, TxnError.NONE

    def _begin(self, meta: TxnMeta, now_ms: int) -> TxnError:
        nxt = _NEXT.get((meta.state, "add"))
        if nxt is None:
            return (TxnError.CONCURRENT_TRANSACTIONS if meta.state in _PREPARING
                    else TxnError.INVALID_TXN_STATE)
        if meta.state != S.ONGOING:
            meta.partitions.clear()
            meta.groups.clear()
            meta.offsets.clear()
            meta.start_ms = now_ms
        meta.state = nxt
        meta.updated_ms = now_ms
        return TxnError.NONE

    def _end(self, meta: TxnMeta, *, commit: bool, now_ms: int) -> EndPlan:
        meta.state = _NEXT[(meta.state, "commit" if commit else "abort")]
        meta.updated_ms = now_ms
        return self._plan(meta, commit)

    @staticmethod
    def _plan(meta: TxnMeta, commit: bool) -> EndPlan:
        offsets = tuple((g, o) for g in sorted(meta.offsets)
                        for o in meta.offsets[g].values()) if commit else ()
        return EndPlan(meta.transactional_id, meta.producer_id, meta.epoch, commit,
                       tuple(sorted(meta.partitions)), offsets)

    def _bump(self, meta: TxnMeta, new_producer_id: Callable[[], int], *,
              keep_id: bool) -> None:
        """Next epoch; a new producer id when the epochs run out (never while a
        transaction's markers still need the old id: ``keep_id``)."""
        if meta.epoch + 1 < MAX_EPOCH or keep_id:
            meta.epoch += 1
            return
        self._by_pid.pop(meta.producer_id, None)
        meta.producer_id = new_producer_id()
        meta.epoch = 0
        self._by_pid[meta.producer_id] = meta.transactional_id

    # -- persistence -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"transactions": {
            m.transactional_id: {
                "producer_id": m.producer_id, "epoch": m.epoch, "timeout_ms": m.timeout_ms,
                "state": m.state.value, "partitions": sorted([t, p] for t, p in m.partitions),
                "groups": sorted(m.groups),
                "offsets": {g: [[o.topic, o.partition, o.offset, o.leader_epoch, o.metadata]
                                for o in staged.values()]
                            for g, staged in m.offsets.items()},
                "start_ms": m.start_ms, "updated_ms": m.updated_ms}
            for m in self._txns.values()}}

    @classmethod
    def from_json(cls, data: dict[str, Any], max_timeout_ms: int = 900000) -> TxnCoordinator:
        """Inverse of `to_json`; raises ValueError (naming the id) if malformed."""
        coord = cls(max_timeout_ms)
        for tid, t in dict(data.get("transactions", {})).items():
            try:
                meta = TxnMeta(
                    str(tid), int(t["producer_id"]), int(t["epoch"]), int(t["timeout_ms"]),
                    TxnState(t["state"]), {(str(a), int(b)) for a, b in t["partitions"]},
                    {str(g) for g in t["groups"]},
                    {str(g): {(str(o[0]), int(o[1])): StagedOffset(
                        str(o[0]), int(o[1]), int(o[2]), int(o[3]),
                        None if o[4] is None else str(o[4])) for o in staged}
                     for g, staged in dict(t["offsets"]).items()},
                    int(t["start_ms"]), int(t["updated_ms"]))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise ValueError(f"transactional id {tid!r}: malformed state "
                                 f"({type(exc).__name__}: {exc})") from None
            coord._txns[meta.transactional_id] = meta
            coord._by_pid[meta.producer_id] = meta.transactional_id
        return coord


def fenced_code(error: TxnError, knows_producer_fenced: bool) -> int:
    """PRODUCER_FENCED for request versions that know it (KIP-588), else
    INVALID_PRODUCER_EPOCH, which older clients treat the same way."""
    if error == TxnError.PRODUCER_FENCED and not knows_producer_fenced:
        return int(TxnError.INVALID_PRODUCER_EPOCH)
    return int(error)
