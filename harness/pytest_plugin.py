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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the profiles before hypothesis's own plugin loads the chosen one."""
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


@pytest.fixture(scope="session")
def logtrial_cluster(logtrial_config: SuiteConfig) -> Iterator[Any]:
    """A started cluster of ``--target`` for the whole session (always closed)."""
    from harness.cluster import build_cluster, cleanup_stale_runs

    cleanup_stale_runs()
    cfg = logtrial_config
    nodes = cfg.nodes if cfg.nodes is not None else 1
    cluster = build_cluster(cfg.target, backend=cfg.backend or "proxy",
                            nodes=None if cfg.target == "external" else nodes,
                            bootstrap=cfg.bootstrap)
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def bootstrap(logtrial_cluster: Any) -> str:
    """``host:port,...`` of the session's cluster."""
    return str(logtrial_cluster.bootstrap_servers())


@pytest.fixture
def run_chaos(logtrial_config: SuiteConfig, tmp_path: Path,
              request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``run_chaos(nemesis=("kill",), **options)`` runs `logtrial run` in-process against
    ``--target`` and returns its `RunOutcome`. On a verdict other than valid the test's
    report ends with the command that replays the run."""
    from harness.runner import RunOptions, execute

    cfg = logtrial_config

    def run(**kw: Any) -> Any:
        defaults: dict[str, Any] = {
            "target": cfg.target, "nodes": cfg.nodes or 1,
            "backend": cfg.backend or "proxy", "bootstrap": cfg.bootstrap,
            "time_limit_s": cfg.chaos_time_s, "seed": cfg.seed,
            "report_dir": str(cfg.report_dir), "final_read_timeout_s": 20.0,
            "nemesis_interval_s": max(1.0, cfg.chaos_time_s / 4)}
        defaults.update(kw)
        opts = RunOptions(**defaults)
        outcome = execute(opts)
        request.node.user_properties.append(("replay", opts.replay_command()))
        request.node.user_properties.append(("run_dir", str(outcome.run_dir)))
        return outcome

    return run


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """A failing chaos test ends with the command that replays its run."""
    if call.when != "call" or call.excinfo is None:
        return
    for name, value in item.user_properties:
        if name == "replay":
            item.add_report_section("call", "logtrial replay", f"replay with: {value}")


def _deviations_file(config: pytest.Config, target: str) -> Path | None:
    root = Path(str(config.rootpath))
    p = root / "suites" / "known-deviations" / f"{target}.toml"
    return p if p.is_file() else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Known deviations of ``--target`` become strict xfails: the suite asserts that
    the target still deviates, so a fix (or a new break) is noticed."""
    target = config.getoption("target", default=None)
    if not target:
        return
    path = _deviations_file(config, target)
    if path is None:
        return
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise pytest.UsageError(f"{path}: bad TOML: {e}") from None
    known = {}
    for dev in data.get("deviation", []):
        if "test" not in dev or "observed" not in dev or "expected" not in dev:
            raise pytest.UsageError(f"{path}: each [[deviation]] needs test, observed, "
                                    f"expected (got {sorted(dev)})")
        known[dev["test"]] = dev
    for item in items:
        dev = known.get(item.nodeid.split("::", 1)[-1]) or known.get(item.nodeid)
        if dev is not None:
            item.add_marker(pytest.mark.xfail(
                strict=True, reason=f"known {target} deviation: observed {dev['observed']}; "
                                    f"expected {dev['expected']}"))
