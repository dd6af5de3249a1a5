"""The public hypothesis strategies produce valid workloads and schedules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.nemesis import Step, explicit
from harness.strategies import kafka_workloads, schedules
from harness.workload import Context, Invocation, KafkaGenerator, KafkaWorkload


@settings(max_examples=100, deadline=None)
@given(schedules(("n1", "n2", "n3"), horizon_s=20.0))
def test_schedules_are_valid_and_process_faults_never_overlap(steps: list[Step]) -> None:
    assert explicit(steps) == steps
    on = 0
    for s in steps:
        if s.fault is not None and s.fault.kind in ("kill", "pause"):
            on += 1 if s.action == "start" else -1
            assert on <= 1, "a kill and a pause overlap"


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
