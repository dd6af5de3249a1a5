"""The hypothesis strategies produce valid workloads and schedules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.nemesis import Kill, Partition, Pause, Step, explicit
from harness.strategies import fault_schedules, kafka_workloads
from harness.workload import Context, Invocation, KafkaGenerator, KafkaWorkload

FAULTS = (Kill(), Pause(), Partition(topology="majority"))


@settings(max_examples=200, deadline=None)
@given(fault_schedules(FAULTS, 20.0))
def test_schedules_are_valid_and_end_healed(steps: list[Step]) -> None:
    assert explicit(steps) == steps
    assert steps[-1].action == "heal" and steps[-1].at_s == 20.0
    assert all(0 <= s.at_s <= 20.0 for s in steps)
    on: set[object] = set()
    for s in steps[:-1]:
        if s.action == "start":
            assert s.fault not in on
            on.add(s.fault)
        else:
            on.discard(s.fault)


@settings(max_examples=50, deadline=None)
@given(kafka_workloads(), st.integers(0, 2**32))
def test_generated_workloads_drive_the_generator(w: KafkaWorkload, seed: int) -> None:
    gen = KafkaGenerator.start(w, seed)
    ops = []
    for t in range(300):  # 15 s of simulated time at >= 10 ops/s
        res, gen = gen.op(Context(t * 50_000_000, (0, 1, 2)))
        if isinstance(res, Invocation):
            ops.append(res)
            if res.f == "send":
                assert res.value[0][1] in w.keys
    assert len(ops) >= 50
    assert {op.f for op in ops[:1]} == {w.sub_via}
