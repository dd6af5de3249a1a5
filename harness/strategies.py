"""Hypothesis strategies for workloads, fault schedules and run options, so that suites
can ``@given`` them; shrinking then finds the smallest workload or schedule that still
fails, and hypothesis prints the example that replays it.

Fault schedules come from `harness.nemesis.strategies` (re-exported here): explicit
`harness.nemesis.Step` lists over named nodes that `harness.nemesis.explicit` accepts.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.nemesis.strategies import faults, grudges, schedules
from harness.workload import KafkaWorkload

__all__ = ["faults", "grudges", "kafka_workloads", "schedules", "seeds"]


def kafka_workloads(max_keys: int = 8, max_rate: float = 500.0) -> st.SearchStrategy[KafkaWorkload]:
    """Key counts, rates, send/poll mixes, assign or subscribe, key skew."""
    return st.builds(
        KafkaWorkload,
        keys=st.integers(1, max_keys).map(lambda n: tuple(str(i) for i in range(n))),
        rate=st.floats(10.0, max_rate, allow_nan=False),
        send_share=st.floats(0.1, 0.9, allow_nan=False),
        reattach_share=st.floats(0.0, 0.1, allow_nan=False),
        sub_via=st.sampled_from(["assign", "subscribe"]),
        key_skew=st.floats(0.0, 2.0, allow_nan=False),
    )


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)
