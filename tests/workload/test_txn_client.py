"""How a client runs and classifies one transaction (`_ClientBase.txn`), against a
fake of the library-specific steps: the flow and the fail/info rule are the adapters'
shared code (the real clients are exercised against real brokers in
suites/conformance/test_transactions.py and the txn run tests)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.workload import ClientError, ClientOptions
from harness.workload._clients import _ClientBase, _TxnFailed
from harness.workload._errors import TXN_CODES, classify_txn, error_name


class FakeTxnClient(_ClientBase):
    """Steps that succeed unless ``fail_at`` names them; records what happened."""

    def __init__(self, fail_at: str | None = None, polls: list[dict[str, Any]] | None = None,
                 abort_fails: bool = False) -> None:
        super().__init__(ClientOptions(bootstrap="x:1", transactional_ids=3, group_id="g"),
                         process=7)
        self.fail_at = fail_at
        self.polls = list(polls or [])
        self.abort_fails = abort_fails
        self.log: list[Any] = []
        self._consumer = object()
        self.next_offset = 100

    def _step(self, name: str) -> None:
        self.log.append(name)
        if self.fail_at == name:
            raise _TxnFailed([f"{name}-error"])

    def poll(self) -> dict[str, list[list[int]]]:
        self.log.append("poll")
        if self.fail_at == "poll":
            raise ClientError("info", ["poll-broke"])
        out = self.polls.pop(0) if self.polls else {}
        self._note_polled(out)
        return out

    def _txn_begin(self) -> None:
        self._step("begin")

    def _txn_produce(self, key: str, value: int) -> Any:
        self._step("produce")
        return (key, value)

    def _txn_offsets(self, handles: list[Any]) -> list[int]:
        self._step("flush")
        out = list(range(self.next_offset, self.next_offset + len(handles)))
        self.next_offset += len(handles)
        return out

    def _txn_send_offsets(self, offsets: dict[str, int]) -> None:
        self._step("send-offsets")
        self.log.append(("offsets", offsets))

    def _txn_commit(self) -> None:
        self._step("commit")

    def _txn_abort(self) -> list[Any] | None:
        self.log.append("abort")
        return ["abort-error"] if self.abort_fails else None

    def _seek(self, key: str, offset: int) -> None:
        self.log.append(("seek", key, offset))

    def _discard_producer(self) -> None:
        self.log.append("discard")


MOPS = [["send", "0", 5], ["poll"], ["send", "1", 6]]
READ = {"0": [[40, 1], [41, 2]]}


def test_a_committed_txn_completes_in_jepsens_encoding() -> None:
    c = FakeTxnClient(polls=[READ])
    assert c.transactional_id == "g-t1"  # process 7 of 3 slots
    out = c.txn(MOPS)
    assert out == [["send", "0", [100, 5]], ["poll", READ], ["send", "1", [101, 6]]]
    assert c.log[-1] == "commit" and "abort" not in c.log
    assert c._consumed == {"0": 42}


def test_a_subscribed_member_adds_its_positions_to_the_txn() -> None:
    c = FakeTxnClient(polls=[READ])
    c._membership = {"generation": 1, "member": "m", "keys": ["0"], "epoch": 1}
    c.txn(MOPS)
    assert ("offsets", {"0": 42}) in c.log
    assert c.log.index("send-offsets") < c.log.index("commit")
    assert c.txn_offsets() == {"0": 42}  # what the interpreter records
    c._membership = {**c._membership, "keys": []}  # nothing owned: nothing added
    c.txn(MOPS)
    assert c.txn_offsets() is None


def test_an_indefinite_txn_records_what_it_did_and_the_offsets_it_added() -> None:
    """The commit may have landed: the history needs the reads (the member's
    successor may start past them) and the offsets (maybe the group's now)."""
    c = FakeTxnClient(fail_at="commit", abort_fails=True, polls=[READ])
    c._membership = {"generation": 1, "member": "m", "keys": ["0"], "epoch": 1}
    with pytest.raises(ClientError) as e:
        c.txn(MOPS)
    assert e.value.outcome == "info"
    assert e.value.value == [["send", "0", [100, 5]], ["poll", READ], ["send", "1", [101, 6]]]
    assert c.txn_offsets() == {"0": 42}


def test_the_interpreter_records_the_offsets_of_ok_and_info_txns_only() -> None:
    from harness.workload._interpreter import _membership

    c = FakeTxnClient(polls=[READ])
    c._membership = {"generation": 1, "member": "m", "keys": ["0"], "epoch": 1}
    c.txn(MOPS)
    assert _membership(c, "txn") == {"membership": c.membership(), "offsets": {"0": 42}}
    assert _membership(c, "txn", "info") == {"membership": c.membership(),
                                             "offsets": {"0": 42}}
    assert _membership(c, "txn", "fail") == {"membership": c.membership()}
    assert _membership(c, "poll") == {"membership": c.membership()}
    c._membership = None
    assert _membership(c, "txn", "fail") is None


def test_an_asked_abort_fails_with_what_it_did_and_rewinds() -> None:
    c = FakeTxnClient(polls=[READ])
    c._consumed = {"0": 40}
    with pytest.raises(ClientError) as e:
        c.txn(MOPS, abort=True)
    assert e.value.outcome == "fail" and e.value.error[0] == "aborted"
    assert e.value.value == [["send", "0", [100, 5]], ["poll", READ], ["send", "1", [101, 6]]]
    assert "commit" not in c.log and "abort" in c.log
    assert ("seek", "0", 40) in c.log  # where the transaction's polls began
    assert c._consumed == {"0": 40}  # the aborted reads are forgotten


@pytest.mark.parametrize("step", ["produce", "flush", "commit"])
def test_an_error_then_a_successful_abort_is_definite(step: str) -> None:
    c = FakeTxnClient(fail_at=step, polls=[READ])
    with pytest.raises(ClientError) as e:
        c.txn(MOPS)
    assert e.value.outcome == "fail" and e.value.error == [f"{step}-error"]
    assert e.value.value is None  # the history keeps the invocation's value
    assert "abort" in c.log


def test_a_commit_that_failed_without_a_successful_abort_is_indefinite() -> None:
    c = FakeTxnClient(fail_at="commit", abort_fails=True)
    with pytest.raises(ClientError) as e:
        c.txn(MOPS)
    assert e.value.outcome == "info"
    assert e.value.error == ["commit-error", "abort failed", "abort-error"]


def test_a_broken_poll_aborts_and_replaces_the_client() -> None:
    c = FakeTxnClient(fail_at="poll")
    with pytest.raises(ClientError) as e:
        c.txn(MOPS)
    assert e.value.outcome == "info" and "abort" in c.log


def test_a_failed_begin_is_definite_and_discards_the_producer() -> None:
    c = FakeTxnClient(fail_at="begin")
    with pytest.raises(ClientError) as e:
        c.txn(MOPS)
    assert e.value.outcome == "fail" and "discard" in c.log and "produce" not in c.log


def test_a_rebalance_during_an_aborted_txn_is_indefinite() -> None:
    c = FakeTxnClient(polls=[READ])
    orig = c.poll

    def poll_with_rebalance() -> dict[str, list[list[int]]]:
        c._assigned(["0"], 2, "m")
        return orig()

    c.poll = poll_with_rebalance  # type: ignore[method-assign]
    with pytest.raises(ClientError) as e:
        c.txn(MOPS, abort=True)
    assert e.value.outcome == "info"


def test_txn_without_a_transactional_producer_is_refused() -> None:
    c = FakeTxnClient()
    object.__setattr__(c, "opts", ClientOptions(bootstrap="x:1"))
    with pytest.raises(ClientError, match="not-transactional") as e:
        c.txn(MOPS)
    assert e.value.outcome == "fail"


def test_txn_error_codes_and_outcomes() -> None:
    assert classify_txn("start") == "fail"
    assert classify_txn("aborted") == "fail"
    assert classify_txn("open") == "info"
    assert error_name(90) == "PRODUCER_FENCED" and 53 in TXN_CODES


def test_the_interpreter_records_asked_aborts_and_their_failures() -> None:
    from harness.workload import Interpreter, KafkaGenerator, KafkaWorkload, Recorder

    class Slot(FakeTxnClient):
        def __init__(self, process: int) -> None:
            super().__init__()
            self.process = process

        def assign(self, keys: list[str]) -> None:
            pass

        def close(self) -> None:
            pass

    rec = Recorder(None)
    interp = Interpreter(rec, Slot, concurrency=2)  # type: ignore[arg-type]
    w = KafkaWorkload(keys=("0", "1"), rate=0, txn=True, abort_share=0.5)
    interp.run(KafkaGenerator.start(w, 4), 0.3)
    interp.drain(2.0)
    h = rec.history()
    txns = [op for op in h.ops if op.f == "txn" and op.type == "invoke"]
    assert txns and {bool(op.extra.get("abort")) for op in txns} == {True, False}
    for op in txns:
        j = h.partner[op.index]
        if j < 0:
            continue
        done = h.ops[j]
        assert done.type == ("fail" if op.extra.get("abort") else "ok"), done
        if done.type == "fail":
            assert done.extra["error"][0] == "aborted"
