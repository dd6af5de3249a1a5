"""Hypothesis-generated schedules are valid, and the nemesis runs them on a cluster."""

from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, given, settings

from harness.cluster import Cluster, ProxyBackend
from harness.nemesis import OPS, ListRecorder, Nemesis, explicit
from harness.nemesis._schedule import Step
from harness.nemesis.strategies import schedules
from tests.cluster.conftest import ProbeTarget, leftovers

NODES = ("n1", "n2", "n3")


@given(schedules(NODES))
def test_generated_schedules_are_valid_and_paired(steps: list[Step]) -> None:
    assert explicit(steps) == steps
    starts = [s for s in steps if s.action == "start"]
    stops = [s for s in steps if s.action == "stop"]
    assert len(starts) == len(stops)
    assert all(s.at_s <= 10.0 for s in steps)
    for s in starts:
        assert s.fault is not None
        for n in getattr(s.fault, "nodes", None) or ():
            assert n in NODES


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(schedules(NODES, horizon_s=0.6, max_faults_per_kind=2))
def test_nemesis_runs_generated_schedules(steps: list[Step]) -> None:
    with Cluster(ProbeTarget(), ProxyBackend(), 3) as c:
        rec = ListRecorder(now_ns=time.monotonic_ns)
        nem = Nemesis(c, rec, random.Random(0))
        nem.check([s.fault for s in steps if s.fault is not None])
        t0 = time.monotonic()
        nem.run(steps, now_s=lambda: time.monotonic() - t0)
        assert nem.errors == [] and nem.active == []
        expected = [OPS[s.fault.kind][0 if s.action == "start" else 1]
                    for s in steps if s.fault is not None]
        assert rec.fs()[:-1] == expected and rec.fs()[-1] == "heal"
        assert all(c.alive(n) for n in c.nodes)
        rid = c.run_id
    assert leftovers(rid) == []
