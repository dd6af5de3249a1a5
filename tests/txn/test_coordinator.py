"""The transaction coordinator's rules (reference_broker.txn.coordinator), without I/O."""

from __future__ import annotations

import itertools

import pytest

from reference_broker.txn import (
    StagedOffset,
    TxnCoordinator,
    TxnError,
    TxnState,
    fenced_code,
)
from reference_broker.txn.coordinator import MAX_EPOCH

TP = ("t", 0)


class Pids:
    """A producer-id allocator that records what it handed out."""

    def __init__(self) -> None:
        self._next = itertools.count(100)
        self.given: list[int] = []

    def __call__(self) -> int:
        pid = next(self._next)
        self.given.append(pid)
        return pid


def started(now_ms: int = 0) -> tuple[TxnCoordinator, Pids, int]:
    c, pids = TxnCoordinator(max_timeout_ms=60000), Pids()
    res = c.init_producer_id("x", 10000, now_ms, pids)
    assert res.error == TxnError.NONE and res.epoch == 0
    return c, pids, res.producer_id


def test_init_gives_one_producer_id_and_bumps_the_epoch_every_time() -> None:
    c, pids, pid = started()
    again = c.init_producer_id("x", 10000, 1, pids)
    assert (again.error, again.producer_id, again.epoch, again.abort) == (TxnError.NONE, pid, 1,
                                                                          None)
    assert pids.given == [pid]
    other = c.init_producer_id("y", 10000, 1, pids)
    assert other.producer_id != pid


@pytest.mark.parametrize("timeout_ms", [0, -5, 60001])
def test_init_refuses_a_timeout_out_of_range(timeout_ms: int) -> None:
    c = TxnCoordinator(max_timeout_ms=60000)
    assert c.init_producer_id("x", timeout_ms, 0, Pids()).error == \
        TxnError.INVALID_TRANSACTION_TIMEOUT
    assert c.get("x") is None


def test_commit_flow_and_retry() -> None:
    c, _, pid = started()
    assert c.add_partitions("x", pid, 0, [TP, ("t", 1)], 5) == TxnError.NONE
    assert c.get("x").state == TxnState.ONGOING  # type: ignore[union-attr]
    assert c.check_produce(pid, 0, TP) == TxnError.NONE
    assert c.check_produce(pid, 0, ("t", 2)) == TxnError.INVALID_TXN_STATE
    error, plan = c.end_txn("x", pid, 0, True, 6)
    assert error == TxnError.NONE and plan is not None
    assert plan.commit and plan.partitions == (TP, ("t", 1)) and plan.epoch == 0
    # while the markers are written: no new transaction, no second end
    assert c.add_partitions("x", pid, 0, [TP], 7) == TxnError.CONCURRENT_TRANSACTIONS
    assert c.end_txn("x", pid, 0, True, 7) == (TxnError.CONCURRENT_TRANSACTIONS, None)
    assert c.check_produce(pid, 0, TP) == TxnError.INVALID_TXN_STATE
    c.complete("x", 8)
    assert c.get("x").state == TxnState.COMPLETE_COMMIT  # type: ignore[union-attr]
    assert c.end_txn("x", pid, 0, True, 9) == (TxnError.NONE, None)  # a retry
    assert c.end_txn("x", pid, 0, False, 9) == (TxnError.INVALID_TXN_STATE, None)
    # the next transaction starts afresh
    assert c.add_partitions("x", pid, 0, [("t", 3)], 10) == TxnError.NONE
    assert c.get("x").partitions == {("t", 3)}  # type: ignore[union-attr]


def test_end_of_an_empty_transaction_is_invalid() -> None:
    c, _, pid = started()
    assert c.end_txn("x", pid, 0, True, 1) == (TxnError.INVALID_TXN_STATE, None)


@pytest.mark.parametrize(("tid", "pid_delta", "epoch", "expected"), [
    ("nope", 0, 0, TxnError.INVALID_PRODUCER_ID_MAPPING),
    ("x", 1, 0, TxnError.INVALID_PRODUCER_ID_MAPPING),
    ("x", 0, 5, TxnError.INVALID_PRODUCER_EPOCH),
])
def test_requests_must_name_the_current_producer(tid: str, pid_delta: int, epoch: int,
                                                 expected: TxnError) -> None:
    c, _, pid = started()
    assert c.add_partitions(tid, pid + pid_delta, epoch, [TP], 1) == expected
    assert c.add_offsets(tid, pid + pid_delta, epoch, "g", 1) == expected
    assert c.end_txn(tid, pid + pid_delta, epoch, True, 1) == (expected, None)


def test_reinit_fences_the_old_producer_and_aborts_its_transaction() -> None:
    c, pids, pid = started()
    c.add_partitions("x", pid, 0, [TP], 1)
    c.add_offsets("x", pid, 0, "g", 1)
    c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 7)], 1)
    res = c.init_producer_id("x", 10000, 2, pids)
    assert res.error == TxnError.CONCURRENT_TRANSACTIONS and res.epoch == -1
    assert res.abort is not None and not res.abort.commit
    assert res.abort.epoch == 1 and res.abort.partitions == (TP,) and res.abort.offsets == ()
    # the zombie (epoch 0) is fenced everywhere
    assert c.add_partitions("x", pid, 0, [TP], 3) == TxnError.PRODUCER_FENCED
    assert c.end_txn("x", pid, 0, True, 3) == (TxnError.PRODUCER_FENCED, None)
    assert c.check_produce(pid, 0, TP) == TxnError.INVALID_PRODUCER_EPOCH
    # until the abort is written, the new producer must wait
    assert c.init_producer_id("x", 10000, 3, pids).error == TxnError.CONCURRENT_TRANSACTIONS
    c.complete("x", 4)
    # the retry bumps again: the epoch of the abort markers is never handed out
    again = c.init_producer_id("x", 10000, 5, pids)
    assert (again.error, again.producer_id, again.epoch) == (TxnError.NONE, pid, 2)
    assert c.add_partitions("x", pid, 1, [TP], 5) == TxnError.PRODUCER_FENCED
    assert c.add_partitions("x", pid, 2, [TP], 5) == TxnError.NONE


def test_init_with_a_stale_producer_id_and_epoch_is_fenced() -> None:
    c, pids, pid = started()
    c.init_producer_id("x", 10000, 1, pids)
    res = c.init_producer_id("x", 10000, 2, pids, producer_id=pid, epoch=0)
    assert res.error == TxnError.PRODUCER_FENCED
    ok = c.init_producer_id("x", 10000, 2, pids, producer_id=pid, epoch=1)
    assert (ok.error, ok.epoch) == (TxnError.NONE, 2)


def test_offsets_are_committed_only_with_a_commit() -> None:
    c, _, pid = started()
    assert c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 1)], 1) == \
        TxnError.INVALID_TXN_STATE  # no AddOffsetsToTxn yet
    assert c.add_offsets("x", pid, 0, "g", 1) == TxnError.NONE
    assert c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 5),
                                              StagedOffset("t", 1, 9)], 2) == TxnError.NONE
    assert c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 6)], 3) == TxnError.NONE
    _, plan = c.end_txn("x", pid, 0, True, 4)
    assert plan is not None
    assert sorted((g, o.topic, o.partition, o.offset) for g, o in plan.offsets) == [
        ("g", "t", 0, 6), ("g", "t", 1, 9)]
    c.complete("x", 5)
    c.add_offsets("x", pid, 0, "g", 6)
    c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 99)], 6)
    _, plan = c.end_txn("x", pid, 0, False, 7)
    assert plan is not None and plan.offsets == ()


def test_timeout_aborts_with_a_bumped_epoch() -> None:
    c, pids, pid = started()
    c.add_partitions("x", pid, 0, [TP], 1000)
    assert c.expire(1000 + 10000, pids) == []
    plans = c.expire(1000 + 10001, pids)
    assert len(plans) == 1 and not plans[0].commit and plans[0].epoch == 1
    assert c.get("x").state == TxnState.PREPARE_ABORT  # type: ignore[union-attr]
    assert c.pending() == plans
    c.complete("x", 11002)
    assert c.pending() == []
    assert c.end_txn("x", pid, 0, True, 11003) == (TxnError.PRODUCER_FENCED, None)


def test_epoch_exhaustion_takes_a_new_producer_id() -> None:
    c, pids, pid = started()
    c.get("x").epoch = MAX_EPOCH - 1  # type: ignore[union-attr]
    res = c.init_producer_id("x", 10000, 1, pids)
    assert res.producer_id != pid and res.epoch == 0
    assert c.by_producer(pid) is None and c.by_producer(res.producer_id) is c.get("x")


def test_resolve_open_transactions_found_after_a_crash() -> None:
    c, _, pid = started()
    assert c.resolve_open(12345, TP) is False  # unknown producer: abort
    c.add_partitions("x", pid, 0, [TP], 1)
    assert c.resolve_open(pid, TP) is None  # ongoing: the timeout ends it
    assert c.resolve_open(pid, ("t", 9)) is False
    c.end_txn("x", pid, 0, True, 2)
    assert c.resolve_open(pid, TP) is None  # being committed
    c.complete("x", 3)
    assert c.resolve_open(pid, TP) is True  # committed, its marker lost


def test_json_round_trip_and_bad_state() -> None:
    c, _, pid = started()
    c.add_partitions("x", pid, 0, [TP], 1)
    c.add_offsets("x", pid, 0, "g", 1)
    c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 5, 3, "m")], 2)
    c.end_txn("x", pid, 0, True, 3)
    back = TxnCoordinator.from_json(c.to_json(), 60000)
    assert back.to_json() == c.to_json()
    assert back.pending() == c.pending()
    assert back.by_producer(pid) is back.get("x")
    with pytest.raises(ValueError, match="'x': malformed"):
        TxnCoordinator.from_json({"transactions": {"x": {"producer_id": 1}}})


def test_fenced_code_by_version() -> None:
    assert fenced_code(TxnError.PRODUCER_FENCED, True) == 90
    assert fenced_code(TxnError.PRODUCER_FENCED, False) == 47
    assert fenced_code(TxnError.INVALID_TXN_STATE, False) == 48


def reinit(c: TxnCoordinator, pids: Pids, now_ms: int) -> tuple[int, int, list[int]]:
    """InitProducerId as a client and the driver carry it out: an abort plan is written
    (completed) and a CONCURRENT_TRANSACTIONS answer is retried. Returns the producer
    id and epoch handed out and the epochs of the abort markers written meanwhile."""
    markers = []
    for _ in range(3):
        res = c.init_producer_id("x", 10000, now_ms, pids)
        if res.abort is not None:
            markers.append(res.abort.epoch)
            c.complete("x", now_ms)
        if res.error == TxnError.NONE:
            return res.producer_id, res.epoch, markers
        assert res.error == TxnError.CONCURRENT_TRANSACTIONS
    raise AssertionError("InitProducerId never succeeded")


def test_fencing_an_open_transaction_never_runs_the_epoch_past_int16() -> None:
    # Epochs are int16 on the wire and in every batch header. Near exhaustion a
    # producer fenced again and again while its transaction is open, and then timed
    # out, must still get epochs and abort markers that fit (Kafka never hands out the
    # epoch it used to fence: the fenced producer's successor gets a fresh one).
    c, pids, pid = started()
    meta = c.get("x")
    assert meta is not None
    meta.epoch = epoch = MAX_EPOCH - 2
    markers: list[int] = []
    for step in range(4):
        assert c.add_partitions("x", pid, epoch, [TP], step) == TxnError.NONE
        pid, epoch, written = reinit(c, pids, step)
        markers += written
        assert 0 <= epoch < MAX_EPOCH, "an epoch at or past exhaustion was handed out"
    assert c.add_partitions("x", pid, epoch, [TP], 10) == TxnError.NONE
    markers += [p.epoch for p in c.expire(10 + 10001, pids)]
    assert markers and all(0 <= e <= 32767 for e in markers), markers


def test_staged_offsets_are_unstable_until_the_transaction_ends() -> None:
    c, _, pid = started()
    c.add_offsets("x", pid, 0, "g", 1)
    assert c.unstable_offsets("g") == set()
    c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 5)], 2)
    assert c.unstable_offsets("g") == {TP} and c.unstable_offsets("other") == set()
    c.end_txn("x", pid, 0, True, 3)
    assert c.unstable_offsets("g") == {TP}  # being committed: not yet the group's
    c.complete("x", 4)
    assert c.unstable_offsets("g") == set()
    c.add_offsets("x", pid, 0, "g", 5)
    c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 9)], 6)
    c.end_txn("x", pid, 0, False, 7)
    assert c.unstable_offsets("g") == {TP}
    c.complete("x", 8)
    assert c.unstable_offsets("g") == set()


def in_state(state: TxnState) -> tuple[TxnCoordinator, Pids, int]:
    c, pids, pid = started()
    if state == TxnState.EMPTY:
        return c, pids, pid
    c.add_partitions("x", pid, 0, [TP], 1)
    c.add_offsets("x", pid, 0, "g", 1)
    if state != TxnState.ONGOING:
        commit = state in (TxnState.PREPARE_COMMIT, TxnState.COMPLETE_COMMIT)
        c.end_txn("x", pid, 0, commit, 2)
        if state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
            c.complete("x", 3)
    meta = c.get("x")
    assert meta is not None and meta.state == state
    return c, pids, pid


@pytest.mark.parametrize("state", list(TxnState))
@pytest.mark.parametrize("request_", ["init", "add_partitions", "add_offsets", "stage",
                                      "commit", "abort", "expire"])
def test_every_state_change_is_in_the_transition_table(state: TxnState,
                                                       request_: str) -> None:
    from reference_broker.txn.coordinator import _NEXT

    c, pids, pid = in_state(state)
    event = {"add_partitions": "add", "add_offsets": "add", "expire": "abort"}.get(
        request_, request_)
    if request_ == "init":
        res = c.init_producer_id("x", 10000, 5, pids)
        event = "abort" if res.abort is not None else "init"
    elif request_ == "add_partitions":
        c.add_partitions("x", pid, 0, [("t", 1)], 5)
    elif request_ == "add_offsets":
        c.add_offsets("x", pid, 0, "g2", 5)
    elif request_ == "stage":
        c.stage_offsets("x", pid, 0, "g", [StagedOffset("t", 0, 1)], 5)
    elif request_ in ("commit", "abort"):
        c.end_txn("x", pid, 0, request_ == "commit", 5)
    else:
        c.expire(10**9, pids)
    meta = c.get("x")
    assert meta is not None
    assert meta.state == state or _NEXT.get((state, event)) == meta.state, (
        f"{request_} moved {state} to {meta.state}, not by the table")


def test_unstable_offsets_of_several_transactions_a_fence_a_timeout_and_a_restart() -> None:
    # Every unfinished transaction holding offsets of the group counts (the union),
    # whichever way it ends, and the answer survives a restart (PREPARE_* reloaded).
    c, pids, pid_x = started()
    pid_y = c.init_producer_id("y", 10000, 0, pids).producer_id
    for tid, pid, part in (("x", pid_x, 0), ("y", pid_y, 1)):
        c.add_offsets(tid, pid, 0, "g", 1)
        c.stage_offsets(tid, pid, 0, "g", [StagedOffset("t", part, 5)], 1)
    assert c.unstable_offsets("g") == {("t", 0), ("t", 1)}
    assert c.init_producer_id("x", 10000, 2, pids).abort is not None  # x fenced
    assert [p.commit for p in c.expire(1 + 10001, pids)] == [False]  # y timed out
    back = TxnCoordinator.from_json(c.to_json(), 60000)
    assert back.unstable_offsets("g") == {("t", 0), ("t", 1)}  # aborts not written yet
    back.complete("x", 10003)
    assert back.unstable_offsets("g") == {("t", 1)}
    back.complete("y", 10004)
    assert back.unstable_offsets("g") == set()
