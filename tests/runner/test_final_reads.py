"""Final reads (Jepsen's final phase) outlast a reader that crashes: a new reader, under
a new process id, starts over until every acknowledged offset is read."""

from __future__ import annotations

from typing import Any

from harness.checkers.log import check
from harness.workload import Recorder, final_reads
from harness.workload._clients import ClientError


class _Log:
    """Offsets 0..n-1 of key "0" hold values 100.. ; the first ``fail_polls`` polls of
    the whole run end indefinitely (a timeout while the healed cluster elects)."""

    def __init__(self, n: int, fail_polls: int) -> None:
        self.n = n
        self.fail_polls = fail_polls
        self.opened: list[int] = []
        self.closed: list[int] = []

    def reader(self, process: int) -> Any:
        log = self
        log.opened.append(process)

        class Reader:
            pos = 0

            def assign(self, keys: list[str]) -> None:
                self.pos = 0

            def poll(self) -> dict[str, list[list[int]]]:
                if log.fail_polls > 0:
                    log.fail_polls -= 1
                    raise ClientError("info", ["KafkaTimeoutError", "poll timed out"])
                batch = [[o, 100 + o] for o in range(self.pos, min(self.pos + 2, log.n))]
                self.pos += len(batch)
                return {"0": batch}

            def close(self) -> None:
                log.closed.append(process)

        return Reader()


def _acknowledge(rec: Recorder, n: int) -> None:
    for o in range(n):
        rec.record(1, "invoke", "send", [["send", "0", 100 + o]])
        rec.record(1, "ok", "send", [["send", "0", [o, 100 + o]]])


def test_a_crashed_final_reader_is_replaced_until_every_ack_is_read() -> None:
    rec = Recorder(None)
    _acknowledge(rec, 5)
    log = _Log(5, fail_polls=2)
    first = log.reader(7)
    seen = final_reads(rec, first, 7, ["0"], 10.0, reopen=log.reader)
    assert seen == {"0": 4}
    assert log.opened == [7, 8, 9] and log.closed == [8, 9]  # 7 is the caller's to close
    history = rec.history()
    assert {op.process for op in history.ops if op.f == "poll" and op.type == "info"} == {7, 8}
    result = check(history)
    assert result.valid is True, result.anomalies


def test_without_reopen_a_crashed_reader_gives_up_and_the_checker_sees_unseen() -> None:
    rec = Recorder(None)
    _acknowledge(rec, 5)
    log = _Log(5, fail_polls=1)
    assert final_reads(rec, log.reader(7), 7, ["0"], 10.0) == {}
    assert "unseen" in check(rec.history()).anomalies


def test_a_stalled_final_reader_is_replaced() -> None:
    """A reader whose polls return nothing while acknowledged offsets remain unread
    (a kafka-python consumer stuck before its first fetch) is replaced after
    ``stall_s``; the next one reads everything."""
    rec = Recorder(None)
    _acknowledge(rec, 3)
    log = _Log(3, fail_polls=0)

    class Stuck:
        def assign(self, keys: list[str]) -> None:
            pass

        def poll(self) -> dict[str, list[list[int]]]:
            return {}

        def close(self) -> None:
            pass

    seen = final_reads(rec, Stuck(), 7, ["0"], 10.0, reopen=log.reader,  # type: ignore[arg-type]
                       stall_s=0.3)
    assert seen == {"0": 2} and log.opened == [8]
    assert check(rec.history()).valid is True


def test_an_ack_recorded_during_the_final_reads_is_read_too() -> None:
    rec = Recorder(None)
    _acknowledge(rec, 2)
    log = _Log(4, fail_polls=0)
    reader = log.reader(7)
    real_poll = reader.poll
    late: list[int] = [2, 3]

    def poll() -> dict[str, list[list[int]]]:
        while late:  # a worker that outlived the drain acknowledges during the reads
            o = late.pop(0)
            rec.record(1, "invoke", "send", [["send", "0", 100 + o]])
            rec.record(1, "ok", "send", [["send", "0", [o, 100 + o]]])
        return real_poll()

    reader.poll = poll
    assert final_reads(rec, reader, 7, ["0"], 10.0, reopen=log.reader) == {"0": 3}
    assert check(rec.history()).valid is True
