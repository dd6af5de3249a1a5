"""The ``logtrial`` command line.

Exit codes (shared by every subcommand that judges a history):
0 valid, 1 invalid, 3 unknown, 2 bad input or usage (one line on stderr, no traceback).
Heavy modules are imported inside the commands so ``logtrial --help`` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

import click

from harness.errors import LogtrialError

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3


def exit_code(valid: object) -> int:
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def fail(message: str) -> NoReturn:
    """Print a one-line reason and exit 2."""
    click.echo(f"logtrial: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logtrial", prog_name="logtrial")
def cli() -> None:
    """Property-based conformance and chaos testing for Kafka-compatible brokers."""


def _split_types(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(t.strip() for t in v.split(",") if t.strip())
    return out


def _history_path(path: Path) -> tuple[Path, dict[str, Any]]:
    """A history file, or a run directory holding history.jsonl and run.json."""
    if path.is_dir():
        hist = path / "history.jsonl"
        if not hist.exists():
            fail(f"{path} is a directory without a history.jsonl (expected a history file "
                 "or a run directory)")
        run: dict[str, Any] = {}
        run_json = path / "run.json"
        if run_json.exists():
            import orjson

            try:
                loaded = orjson.loads(run_json.read_bytes())
            except orjson.JSONDecodeError as e:
                fail(f"{run_json}: bad JSON: {e}")
            if isinstance(loaded, dict):
                run = loaded
        return hist, run
    return path, {}


@cli.command()
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--checker", default="log", show_default=True,
              type=click.Choice(["log", "linearizable", "groups", "retention", "freshness",
                                 "run"]),
              help="Which analysis to run; `run` composes every checker a run would "
                   "(needs a run directory).")
@click.option("--format", "fmt", default=None,
              help="History format: jsonl or edn (default: from the extension); with "
                   "--checker linearizable also etcd or porcupine-kv.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--allow", multiple=True, metavar="TYPE",
              help="Treat an anomaly type as allowed (repeatable, or comma-separated).")
@click.option("--sub-via", type=click.Choice(["assign", "subscribe"]), default=None,
              help="How consumers were attached (subscribe allows poll-skip and "
                   "nonmonotonic-poll). Default: from run.json, else assign.")
@click.option("--acks", type=click.Choice(["0", "1", "all", "-1"]), default=None,
              help="Producer acks of the run (0/1 allow lost-write and unseen). "
                   "Default: from run.json, else all.")
@click.option("--model", type=click.Choice(["register", "kv", "log"]), default=None,
              help="Model for --checker linearizable.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.001), default=None,
              help="Per-partition time limit in seconds (linearizable).")
@click.option("--all-partitions", is_flag=True,
              help="Report every partition instead of stopping at the first illegal one.")
@click.option("--max-witnesses", type=click.IntRange(min=1), default=20, show_default=True,
              help="Witnesses listed per anomaly type (the count covers all).")
def check(history: Path, checker: str, fmt: str | None, as_json: bool, allow: tuple[str, ...],
          sub_via: str | None, acks: str | None, model: str | None, timeout_s: float | None,
          all_partitions: bool, max_witnesses: int) -> None:
    """Check a recorded HISTORY (a .jsonl / .edn file or a run directory)."""
    try:
        path, run = _history_path(history)
        if checker == "log":
            result = _check_log(path, fmt, allow, sub_via, acks, run, max_witnesses)
        elif checker == "groups":
            result = _check_groups(path, fmt, allow, acks, run, max_witnesses)
        elif checker in ("retention", "freshness"):
            result = _check_offsets(checker, path, fmt, allow, acks, run, max_witnesses)
        elif checker == "run":
            result = _check_run(history, path, fmt, run)
        else:
            result = _check_linearizable(path, fmt, model, timeout_s, all_partitions)
    except LogtrialError as e:
        fail(str(e))
    from harness.console import print_result

    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(result.to_json(), option=orjson.OPT_NON_STR_KEYS))
        sys.stdout.buffer.write(b"\n")
    else:
        print_result(result)
    sys.exit(exit_code(result.valid))


def _allowed(allow: tuple[str, ...], types: Sequence[str]) -> frozenset[str]:
    """``--allow`` values, or exit 2 naming the unknown ones."""
    allowed = _split_types(allow)
    unknown = [t for t in allowed if t not in types]
    if unknown:
        fail(f"unknown anomaly type(s) for --allow: {', '.join(unknown)} "
             f"(expected some of: {', '.join(types)})")
    return frozenset(allowed)


def _run_options(run: dict[str, Any]) -> dict[str, Any]:
    opts = run.get("options", {})
    return opts if isinstance(opts, dict) else {}


def _check_offsets(checker: str, path: Path, fmt: str | None, allow: tuple[str, ...],
                   acks: str | None, run: dict[str, Any], max_witnesses: int) -> Any:
    """The checkers of ``offsets`` ops; their settings come from run.json when given."""
    from harness.history import load

    opts = _run_options(run)
    if checker == "retention":
        from harness.checkers import retention

        nemesis = opts.get("nemesis") or []
        r_opts = retention.RetentionCheckOptions(
            retention_ms=opts.get("retention_ms"),
            clock_faults=any(str(n).startswith("clock") for n in nemesis),
            allow=_allowed(allow, retention.ANOMALY_TYPES), max_witnesses=max_witnesses)
        return retention.check(load(path, fmt), r_opts)
    from harness.checkers import freshness

    f_opts = freshness.FreshnessCheckOptions(
        acks=acks or str(opts.get("acks", "all")),
        max_stale_ms=int(opts.get("max_stale_ms", freshness.DEFAULT_MAX_STALE_MS)),
        allow=_allowed(allow, freshness.ANOMALY_TYPES), max_witnesses=max_witnesses)
    return freshness.check(load(path, fmt), f_opts)


def _check_run(given: Path, path: Path, fmt: str | None, run: dict[str, Any]) -> Any:
    """Every checker the run composed, with the run's own options (run.json)."""
    import dataclasses

    from harness.history import load
    from harness.runner import RunOptions, check_history

    if not run:
        fail(f"--checker run needs a run directory with run.json, not {given}")
    known = {f.name for f in dataclasses.fields(RunOptions)}
    kwargs = {k: v for k, v in _run_options(run).items() if k in known}
    for k in ("nemesis", "bugs"):
        if isinstance(kwargs.get(k), list):
            kwargs[k] = tuple(kwargs[k])
    try:
        opts = RunOptions(**kwargs)
    except TypeError as e:
        fail(f"run.json options do not describe a run: {e}")
    return check_history(load(path, fmt), opts)


def _check_log(path: Path, fmt: str | None, allow: tuple[str, ...], sub_via: str | None,
               acks: str | None, run: dict[str, Any], max_witnesses: int) -> Any:
    from harness.checkers.log import ANOMALY_TYPES, LogCheckOptions, check
    from harness.history import load

    allowed = _allowed(allow, ANOMALY_TYPES)
    opts = _run_options(run)
    sub: Literal["assign", "subscribe"] = (
        "subscribe" if (sub_via or opts.get("sub_via")) == "subscribe" else "assign")
    ack = acks or str(opts.get("acks", "all"))
    history = load(path, fmt)
    return check(history, LogCheckOptions(sub_via=sub, acks=ack,
                                          allow=allowed,
                                          max_witnesses=max_witnesses))


def _check_groups(path: Path, fmt: str | None, allow: tuple[str, ...], acks: str | None,
                  run: dict[str, Any], max_witnesses: int) -> Any:
    from harness.checkers.groups import ANOMALY_TYPES, GroupsCheckOptions, check
    from harness.history import load

    allowed = _allowed(allow, ANOMALY_TYPES)
    opts = _run_options(run)
    ack = acks or str(opts.get("acks", "all"))
    return check(load(path, fmt), GroupsCheckOptions(acks=ack, allow=allowed,
                                                     max_witnesses=max_witnesses))


def _check_linearizable(path: Path, fmt: str | None, model: str | None,
                        timeout_s: float | None, all_partitions: bool) -> Any:
    from harness.checkers.linearizable import check_file

    return check_file(path, model, fmt=fmt, timeout_s=timeout_s,
                      all_partitions=all_partitions)


@cli.command()
@click.option("--target", default="reference", show_default=True,
              help="reference, tansu, kafka (KAFKA_HOME) or external.")
@click.option("--nodes", type=int, default=None, help="Cluster size (default: 1).")
@click.option("--backend", default=None,
              help="proxy (no root) or netns (root). Default: proxy.")
@click.option("--bootstrap", default=None, help="host:port,... for --target external.")
@click.option("--nemesis", default="", help="Comma list of faults, e.g. partition,kill.")
@click.option("--nemesis-interval", type=click.FloatRange(min=0.1), default=5.0,
              show_default=True, help="Seconds between fault changes.")
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds of workload.")
@click.option("--rate", type=click.FloatRange(min=0), default=200.0, show_default=True,
              help="Target ops/s over all clients (0: unthrottled).")
@click.option("--concurrency", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--keys", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--acks", type=click.Choice(["0", "1", "all"]), default="all", show_default=True)
@click.option("--replication-factor", type=click.IntRange(min=1), default=None)
@click.option("--idempotence/--no-idempotence", default=True, show_default=True)
@click.option("--sub-via", type=click.Choice(["assign", "subscribe"]), default="assign",
              show_default=True)
@click.option("--client", type=click.Choice(["kafka-python", "confluent"]),
              default="kafka-python", show_default=True)
@click.option("--seed", type=int, default=None, help="Seed (default: random, printed).")
@click.option("--bug", "bugs", multiple=True, metavar="NAME",
              help="Plant a reference-broker bug (repeatable).")
@click.option("--report-dir", default="reports", show_default=True, type=click.Path())
@click.option("--retention-ms", type=click.IntRange(min=1), default=None,
              help="Topic retention.ms; the workload then lists log starts and the run "
                   "checks retention (nothing deleted younger, starts never go back).")
@click.option("--segment-bytes", type=click.IntRange(min=14), default=4096,
              show_default=True, help="Topic segment.bytes with --retention-ms.")
@click.option("--max-stale-ms", type=click.IntRange(min=0), default=3000, show_default=True,
              help="Freshness allowance: an end offset read this long after a write was "
                   "acknowledged must include it.")
@click.option("--txn", is_flag=True,
              help="Sends and polls run as Kafka transactions (10% aborted on purpose), "
                   "consumers read committed; judged for aborted reads (G1a), precommitted "
                   "reads and G1c. Needs --acks all and idempotence.")
def run(target: str, nodes: int | None, backend: str | None, bootstrap: str | None,
        nemesis: str, nemesis_interval: float, time_limit: float, rate: float,
        concurrency: int, keys: int, acks: str, replication_factor: int | None,
        idempotence: bool, sub_via: str, client: str, seed: int | None,
        bugs: tuple[str, ...], report_dir: str, retention_ms: int | None,
        max_stale_ms: int,
        segment_bytes: int, txn: bool) -> None:
    """Run a workload against a cluster under faults, check it and write a report."""
    import random

    from harness.runner import RunOptions, execute

    n = nodes if nodes is not None else 1
    try:
        opts = RunOptions(
            target=target, nodes=n, backend=backend or "proxy", bootstrap=bootstrap,
            nemesis=tuple(x.strip() for x in nemesis.split(",") if x.strip()),
            nemesis_interval_s=nemesis_interval, time_limit_s=time_limit, rate=rate,
            concurrency=concurrency, keys=keys, acks=acks,
            replication_factor=replication_factor if replication_factor is not None
            else min(n, 3),
            idempotence=idempotence, sub_via=sub_via, client=client,
            seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
            bugs=bugs, report_dir=report_dir, retention_ms=retention_ms,
            max_stale_ms=max_stale_ms,
            segment_bytes=segment_bytes, txn=txn)
        outcome = execute(opts)
    except LogtrialError as e:
        fail(str(e))
    from harness.console import print_result

    print_result(outcome.result)
    click.echo(f"ops/s: {outcome.ops_per_s:.0f}")
    click.echo(f"run directory: {outcome.run_dir}")
    if outcome.report is not None:
        click.echo(f"report: {outcome.report}")
        try:
            from harness.report import write_index

            click.echo(f"index: {write_index(Path(report_dir))}")
        except LogtrialError as e:
            click.echo(f"index not written: {e}", err=True)
    if outcome.result.valid is not True:
        click.echo(f"replay: {opts.replay_command()}")
    sys.exit(exit_code(outcome.result.valid))


@cli.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", is_flag=True, help="Also write index.html over all runs.")
@click.option("--reports-root", type=click.Path(path_type=Path), default=None,
              help="Folder of run directories for the index (default: their parent).")
def report(run_dirs: tuple[Path, ...], index: bool, reports_root: Path | None) -> None:
    """Regenerate the HTML report and JUnit XML of RUN_DIRS (and the index)."""
    from harness.report import regenerate

    try:
        paths = regenerate(list(run_dirs), index=index, reports_root=reports_root)
    except LogtrialError as e:
        fail(str(e))
    for p in paths:
        click.echo(str(p))


@cli.command()
def cleanup() -> None:
    """Reap what dead runs left behind (processes, namespaces, veths, iptables, temp
    dirs), by their run-id prefix only; live runs are left alone."""
    from harness.cluster import cleanup_stale_runs

    rep = cleanup_stale_runs()
    click.echo(str(rep))
    sys.exit(1 if rep.errors else 0)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                               "help_option_names": []})
@click.argument("sim_args", nargs=-1, type=click.UNPROCESSED)
def sim(sim_args: tuple[str, ...]) -> None:
    """Deterministic simulation of the broker's Raft core (options: --help).

    Exit codes: 0 passed, 1 safety violation, 2 usage, 4 liveness, 5 crash; a failure
    prints the command that replays it."""
    from harness.sim.__main__ import main as sim_main

    sys.exit(sim_main(list(sim_args)))


@cli.command()
@click.option("--bootstrap", required=True, help="host:port[,host:port...] of the cluster")
@click.option("--topic", default="logtrial-watch", show_default=True,
              help="created (replication factor: the broker's default) if absent")
@click.option("--seconds", type=click.FloatRange(min=1), default=None,
              help="stop after this long (default: run until Ctrl-C)")
def watch(bootstrap: str, topic: str, seconds: float | None) -> None:
    """Watch partition 0's leader change while kafka-python and confluent-kafka
    clients keep producing and consuming (kill the leader in another terminal).

    Exit code 0 if every client made progress after the last leader change, else 1."""
    from harness.watch import watch as run_watch

    sys.exit(run_watch(bootstrap, topic, seconds, echo=click.echo))


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="logtrial",
                 standalone_mode=True)
    except LogtrialError as e:
        fail(str(e))
    except KeyboardInterrupt:
        click.echo("logtrial: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
