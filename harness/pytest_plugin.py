"""pytest plugin (entry point ``pytest11``): options, markers and hypothesis profiles.

It imports nothing heavy at load time: clusters, clients and checkers are imported by
the fixtures that need them, so projects that only install logtrial pay nothing.

Options: ``--target`` (reference, tansu, kafka, external), ``--nodes``, ``--backend``
(proxy, netns), ``--bootstrap`` (external target), ``--chaos-time`` (seconds of
workload per chaos test), ``--seed``, ``--report-dir``. Hypothesis profiles: ``ci``
(the default: few examples, no deadline) and ``nightly`` (many examples).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True, slots=True)
class SuiteConfig:
    """What the command line chose for the suites; fixtures read it."""

    target: str
    nodes: int | None
    backend: str | None
    bootstrap: str | None
    chaos_time_s: float
    seed: int
    report_dir: Path


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("logtrial", "logtrial conformance and chaos suites")
    g.addoption("--target", default=os.environ.get("LOGTRIAL_TARGET", "reference"),
                help="broker implementation: reference, tansu, kafka or external")
    g.addoption("--nodes", type=int, default=None, help="nodes per cluster (target default)")
    g.addoption("--backend", default=None,
                help="where nodes live: proxy or netns (default: netns as root, else proxy)")
    g.addoption("--bootstrap", default=None, help="bootstrap servers for --target external")
    g.addoption("--chaos-time", type=float, default=float(os.environ.get(
        "LOGTRIAL_CHAOS_TIME", "10")), help="seconds of workload per chaos test")
    g.addoption("--seed", type=int, default=None,
                help="seed of generated workloads and fault schedules (default: random)")
    g.addoption("--report-dir", default="reports", help="where run directories are written")


def pytest_configure(config: pytest.Config) -> None:
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # pragma: no cover - hypothesis is a dependency
        return
    settings.register_profile("ci", deadline=None, max_examples=100,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("nightly", deadline=None, max_examples=2000,
                              suppress_health_check=[HealthCheck.too_slow])
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile(os.environ.get("LOGTRIAL_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def logtrial_config(pytestconfig: pytest.Config) -> SuiteConfig:
    seed = pytestconfig.getoption("seed")
    return SuiteConfig(
        target=pytestconfig.getoption("target"),
        nodes=pytestconfig.getoption("nodes"),
        backend=pytestconfig.getoption("backend"),
        bootstrap=pytestconfig.getoption("bootstrap"),
        chaos_time_s=pytestconfig.getoption("chaos_time"),
        seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
        report_dir=Path(pytestconfig.getoption("report_dir")),
    )
