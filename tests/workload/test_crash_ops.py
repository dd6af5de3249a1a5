"""Jepsen's client crashes: the generator emits ``crash`` ops at ``crash_share`` (none
by default), and the interpreter discards the client, records ``info`` and hands the
slot a new process id that attaches again first. The client here is a fake: this
tests the interpreter alone (real clients are covered by the run tests)."""

from __future__ import annotations

from typing import Any, ClassVar

from harness.workload import Interpreter, KafkaGenerator, KafkaWorkload, Recorder
from tests.workload.test_generator import drive


def test_generator_crash_share() -> None:
    plain = drive(KafkaGenerator.start(KafkaWorkload(keys=("0",), rate=0), 3), 2000)
    assert not [op for op in plain if op.f == "crash"]
    w = KafkaWorkload(keys=("0",), rate=0, crash_share=0.1)
    ops = drive(KafkaGenerator.start(w, 3), 2000)
    crashes = [op for op in ops if op.f == "crash"]
    assert 100 <= len(crashes) <= 300 and all(op.value is None for op in crashes)


class FakeClient:
    closed: ClassVar[list[int]] = []

    def __init__(self, process: int) -> None:
        self.process = process

    def send(self, key: str, value: int) -> int:
        return value

    def poll(self) -> dict[str, list[list[int]]]:
        return {}

    def assign(self, keys: list[str]) -> None:
        pass

    def offsets(self, keys: list[str]) -> dict[str, list[int]]:
        return {}

    def membership(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        FakeClient.closed.append(self.process)


def test_interpreter_discards_a_crashed_client_and_renumbers_the_process() -> None:
    FakeClient.closed = []
    rec = Recorder(None)
    interp = Interpreter(rec, FakeClient, concurrency=2)  # type: ignore[arg-type]
    w = KafkaWorkload(keys=("0", "1"), rate=0, crash_share=0.2)
    interp.run(KafkaGenerator.start(w, 11), 0.3)
    interp.drain(2.0)
    ops = rec.history().ops
    crashes = [op for op in ops if op.f == "crash" and op.type == "info"]
    assert crashes, "no crash op in 0.3 s at a 20% share"
    crashed = {op.process for op in crashes}
    assert crashed <= set(FakeClient.closed)
    for p in crashed:
        assert isinstance(p, int)
        assert not [op for op in ops if op.process == p and op.index > max(
            c.index for c in crashes if c.process == p)], f"process {p} ran after its crash"
        successor = [op for op in ops if op.process == p + 2 and op.type == "invoke"]
        if successor:
            assert successor[0].f == "assign"  # a new process attaches first
