"""One run, start to verdict: the composition of cluster, workload, nemesis, checkers
and report. This module owns ordering and cleanup, nothing else:

1. write ``run.json`` (options, seed, versions, the replay command) before anything runs;
2. start the cluster, create the topics, start the nemesis schedule;
3. drive the workload for the time limit (live progress on the console);
4. heal every fault, let in-flight ops finish, do the final reads;
5. stop the cluster (its logs are kept under ``nodes/``), check the history, write
   ``results.json``, the HTML report and JUnit XML.

Ctrl-C at any point after 1 stops the workload, heals, stops the cluster and still
checks and writes what was recorded. A second Ctrl-C skips the final reads. A target
that refuses the transactional producer a ``--txn`` run needs (checked in 2, before
any workload) stops the run with a `UsageError`, and its directory is removed: no run
happened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import orjson
from rich.console import Console

from harness.checkers import CheckResult, compose, guarded
from harness.errors import LogtrialError, UsageError
from harness.history import History
from harness.runner._options import RunOptions
from harness.workload import (
    CLIENTS,
    Client,
    ClientError,
    ClientOptions,
    Interpreter,
    KafkaGenerator,
    KafkaWorkload,
    Recorder,
    apply,
    create_topics,
    final_reads,
)
from harness.workload._hosted import HostPool
from harness.workload._netns import call_in_netns

#: process id of the final reader (far above any worker's, which grow by concurrency
#: at each crash).
FINAL_READER = 10_000_000
#: process id of the last look at the log starts, after the final reads (retention).
FINAL_OBSERVER = FINAL_READER - 1
#: the share of workload ops that list every key's log start and end offset (the
#: freshness checker's reads; with retention also the retention checker's).
OFFSETS_SHARE = 0.05
#: the share of workload ops that crash (close and re-create) their client.
CRASH_SHARE = 0.005
#: with --txn: the share of transactions the clients abort on purpose, so that
#: read_committed consumers meet aborted records (G1a if they return them).
ABORT_SHARE = 0.1


@dataclass(slots=True)
class RunOutcome:
    run_dir: Path
    result: CheckResult
    report: Path | None
    ops_per_s: float
    interrupted: bool


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("logtrial", "kafka-python", "confluent-kafka"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def new_run_id(opts: RunOptions, now: dt.datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{opts.target}-{opts.seed}"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    tmp.replace(path)


def check_history(history: History, opts: RunOptions) -> CheckResult:
    """The run's verdict: every applicable checker, composed by severity.

    With ``retention_ms`` the retention checker judges every deletion the ``offsets``
    ops observed, and the log checker exempts records below the highest observed log
    start (``deleted_below``) from lost-write, unseen and poll-skip. The freshness
    checker judges the end offsets the ``offsets`` ops read (every run without
    ``txn`` has some). With ``txn`` the log checker's notes name the transactional
    guarantees it judged (`txn_note`)."""
    def log() -> CheckResult:
        from harness.checkers.log import LogCheckOptions
        from harness.checkers.log import check as log_check
        from harness.checkers.retention import observed_log_starts

        sub_via: Literal["assign", "subscribe"] = (
            "subscribe" if opts.sub_via == "subscribe" else "assign")
        below = observed_log_starts(history) if opts.retention_ms is not None else {}
        result = log_check(history, LogCheckOptions(sub_via=sub_via, acks=opts.acks,
                                                    deleted_below=below))
        if opts.txn:
            result.stats.setdefault("notes", []).append(txn_note(history))
        return result

    def retention() -> CheckResult:
        from harness.checkers.retention import RetentionCheckOptions
        from harness.checkers.retention import check as retention_check
        from harness.runner._setup import faults_of

        clock = any(f.kind == "clock" for f in faults_of(opts))
        return retention_check(history, RetentionCheckOptions(
            retention_ms=opts.retention_ms, clock_faults=clock))

    def freshness() -> CheckResult:
        from harness.checkers.freshness import FreshnessCheckOptions
        from harness.checkers.freshness import check as freshness_check

        return freshness_check(history, FreshnessCheckOptions(
            acks=opts.acks, max_stale_ms=opts.max_stale_ms))

    def groups() -> CheckResult:
        from harness.checkers.groups import GroupsCheckOptions
        from harness.checkers.groups import check as groups_check

        return groups_check(history, GroupsCheckOptions(acks=opts.acks))

    checks = [guarded("log", log)]
    if opts.sub_via == "subscribe":  # only consumer groups commit and report membership
        checks.append(guarded("groups", groups))
    if opts.retention_ms is not None:  # only then are deletions expected
        checks.append(guarded("retention", retention))
    # Not with --txn: a committed send enters a read_committed end offset (the LSO)
    # only once every transaction open below it ends, which a crashed client's
    # transaction may delay up to the transaction timeout.
    if not opts.txn and any(op.f == "offsets" and op.type == "ok" for op in history.ops):
        checks.append(guarded("freshness", freshness))
    return compose("run", checks)


def fence_transactions(factory: Callable[[int], Client], slots: range) -> list[Any]:
    """Initialise (and close) a transactional producer with each slot's id: Kafka then
    fences the id's older producer and aborts its open transaction. Before a txn run
    (slot 0) it proves the target accepts transactional producers; before the final
    reads (every slot) it ends the transactions that crashed or abandoned clients left
    open, which would hold read_committed readers at the last stable offset until the
    transaction timeout. Returns ``[slot, error]`` of each slot that failed."""
    errors: list[Any] = []
    for slot in slots:
        try:
            client = factory(slot)
        except Exception as e:
            errors.append([slot, [type(e).__name__, str(e)[:200]]])
            continue
        try:
            client.txn([])
        except ClientError as e:
            errors.append([slot, e.error])
        finally:
            client.close()
    return errors


class _TxnRefused(UsageError):
    """The target refused a transactional producer before the workload started: the
    run never happened, so `execute` removes its directory."""


def _refuse_txn(opts: RunOptions, errors: list[Any]) -> UsageError:
    hint = ""
    if opts.target == "reference" and opts.nodes > 1:
        hint = " (the reference broker coordinates transactions on one node only: " \
               "use --nodes 1)"
    return _TxnRefused(f"--txn: the {opts.target} target ({opts.nodes} node(s)) refused a "
                      f"transactional producer: {'; '.join(map(str, errors[0][1]))}{hint}; "
                      "run without --txn")


def txn_note(history: History) -> str:
    """What a transactional run judged, for the report: the guarantees by name."""
    counts = {"ok": 0, "fail": 0, "info": 0}
    asked = 0
    for op in history.ops:
        if op.f == "txn":
            if op.type in counts:
                counts[op.type] += 1
            elif op.extra.get("abort"):
                asked += 1
    return (f"transactions ({counts['ok']} committed, {counts['fail']} failed or aborted "
            f"({asked} aborts asked for), {counts['info']} unknown), read_committed "
            "consumers: judged for aborted reads (G1a: an aborted transaction's records "
            "are never returned), precommitted reads (no record is visible before its "
            "transaction commits) and G1c (committed transactions are atomic: no "
            "circular information flow)")


def observe_log_starts(rec: Recorder, client: Client, process: int, keys: list[str]) -> None:
    """One ``offsets`` op (after an ``assign``) by a fresh ``process``, recorded like
    any op. After the final reads it makes the highest observed log start cover every
    deletion the final reader may have met, so that ``deleted_below`` exempts them."""
    for f in ("assign", "offsets"):
        rec.record(process, "invoke", f, keys)
        try:
            done = apply(client, f, keys)
        except ClientError as e:
            rec.record(process, e.outcome, f, keys, error=e.error)
            return
        rec.record(process, "ok", f, done)


class _Progress:
    """Live one-line status: elapsed / limit, ops/s, ok/fail/info, active faults."""

    def __init__(self, console: Console, rec: Recorder, limit_s: float,
                 faults: Any) -> None:
        self.console = console
        self.rec = rec
        self.limit_s = limit_s
        self.faults = faults
        self._t0 = time.monotonic()
        self._last = (self._t0, 0)
        self._live: Any = None

    def __enter__(self) -> _Progress:
        from rich.live import Live

        self._live = Live(self.render(), console=self.console, refresh_per_second=4,
                          transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)
            if not self.console.is_terminal:
                self.console.line()  # Live leaves a non-terminal mid-line

    def render(self) -> str:
        now = time.monotonic()
        c = self.rec.counts
        done = c.get("ok", 0) + c.get("fail", 0) + c.get("info", 0)
        t_last, n_last = self._last
        rate = (done - n_last) / (now - t_last) if now > t_last else 0.0
        if now - t_last >= 1.0:
            self._last = (now, done)
        active = ", ".join(self.faults()) if self.faults else ""
        return (f"[bold]{now - self._t0:5.1f}[/]/{self.limit_s:g} s  "
                f"{rate:7.0f} ops/s  ok [green]{c.get('ok', 0)}[/]  "
                f"fail [yellow]{c.get('fail', 0)}[/]  info [red]{c.get('info', 0)}[/]"
                + (f"  faults: [magenta]{active}[/]" if active else ""))

    def tick(self) -> None:
        if self._live is not None:
            self._live.update(self.render())


def execute(opts: RunOptions, console: Console | None = None) -> RunOutcome:
    """Run ``opts`` to a verdict (see the module docstring)."""
    from harness.runner._setup import build_cluster, build_nemesis, faults_of

    faults_of(opts)  # unknown nemesis names fail before anything is written
    con = console or Console(stderr=True)
    started = dt.datetime.now(dt.UTC)
    t_start = time.monotonic()
    run_id = new_run_id(opts, started)
    run_dir = Path(opts.report_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    run_json: dict[str, Any] = {
        "run_id": run_id, "target": opts.target, "nodes": opts.nodes,
        "backend": opts.backend, "seed": opts.seed, "versions": _versions(),
        "started_at": started.isoformat(), "options": {
            **opts.to_json(), "time_limit_s": opts.time_limit_s,
            "nemesis_interval_s": opts.nemesis_interval_s},
        "command": opts.replay_command(),
    }
    write_json(run_dir / "run.json", run_json)
    con.print(f"[bold]logtrial run[/] {run_id}  seed [cyan]{opts.seed}[/]")
    con.print(f"replay: [dim]{opts.replay_command()}[/]", soft_wrap=True, markup=True)

    keys = [str(i) for i in range(opts.keys)]
    prefix = f"lt-{opts.seed % 100000}-"
    rec = Recorder(run_dir / "history.jsonl")
    interrupted = False
    t_work = 0.0
    cluster = build_cluster(opts, run_dir)
    try:
        with cluster, contextlib.ExitStack() as stack:
            bootstrap = cluster.bootstrap_servers()
            con.print(f"cluster up: {opts.target} x{opts.nodes} on {opts.backend} "
                      f"({bootstrap})")
            ns = cluster.client_netns()
            topic_configs = {} if opts.retention_ms is None else {
                "retention.ms": str(opts.retention_ms),
                "segment.bytes": str(opts.segment_bytes)}
            call_in_netns(ns, lambda: create_topics(bootstrap, prefix, keys,
                                                    opts.replication_factor,
                                                    configs=topic_configs))
            # Group members poll longer: kafka-python 3.0.12 can drop a join when a short
            # poll returns between its JoinGroup and SyncGroup answers.
            poll_s = 0.2 if opts.sub_via == "subscribe" else 0.01
            copts = ClientOptions(bootstrap=bootstrap, topic_prefix=prefix, acks=opts.acks,
                                  idempotence=opts.idempotence, poll_timeout_s=poll_s,
                                  fetch_max_wait_ms=500 if cluster.target.answers_fetch_on_data
                                  else 20, group_id=f"logtrial-{run_id}",
                                  isolation_level="read_committed" if opts.txn
                                  else "read_uncommitted",
                                  transactional_ids=opts.concurrency if opts.txn else 0)
            client_cls = CLIENTS[opts.client]
            if opts.txn:  # a target without transactions says so before the run
                refused = call_in_netns(ns, lambda: fence_transactions(
                    lambda p: client_cls(copts, p), range(1)))
                if refused:
                    raise _refuse_txn(opts, refused)
            # Each slot's client runs in its own process (harness.workload._hosted):
            # in-process clients made the harness, not the broker, the bottleneck.
            hosts = stack.enter_context(HostPool(opts.client, copts, ns, opts.concurrency))
            hosts.start()
            interp = Interpreter(rec, hosts, opts.concurrency)
            nemesis = build_nemesis(opts, cluster, rec,
                                    topics=[f"{prefix}{k}" for k in keys])
            gen = KafkaGenerator.start(KafkaWorkload(
                keys=tuple(keys), rate=opts.rate,
                sub_via="subscribe" if opts.sub_via == "subscribe" else "assign",
                offsets_share=OFFSETS_SHARE if not opts.txn or opts.retention_ms is not None
                else 0.0, crash_share=CRASH_SHARE, txn=opts.txn,
                abort_share=ABORT_SHARE if opts.txn else 0.0),
                opts.seed)
            t0 = time.monotonic()
            try:
                with _Progress(con, rec, opts.time_limit_s, nemesis.active) as progress:
                    nemesis.start()
                    interp.run(gen, opts.time_limit_s, progress=progress.tick)
            except KeyboardInterrupt:
                interrupted = True
                con.print("[yellow]interrupted: healing, stopping and checking what was "
                          "recorded[/]")
            finally:
                interp.stop_event.set()
                nemesis.stop_and_heal()
                interp.drain(copts.send_timeout_s + 2.0)
                t_work = time.monotonic() - t0
            if not interrupted:
                con.print("final reads ...")
                stop = threading.Event()

                def final() -> None:
                    if opts.txn:
                        left = fence_transactions(lambda p: client_cls(copts, p),
                                                  range(opts.concurrency))
                        if left:
                            con.print(f"[yellow]open transactions not fenced: {left}[/]")
                    reader = client_cls(copts, FINAL_READER)
                    try:
                        final_reads(rec, reader, FINAL_READER, keys,
                                    opts.final_read_timeout_s, stop,
                                    reopen=lambda p: client_cls(copts, p))
                    finally:
                        reader.close()
                    if opts.retention_ms is not None:
                        observer = client_cls(copts, FINAL_OBSERVER)
                        try:
                            observe_log_starts(rec, observer, FINAL_OBSERVER, keys)
                        finally:
                            observer.close()

                try:
                    call_in_netns(ns, final)
                except KeyboardInterrupt:
                    stop.set()
                    interrupted = True
    except KeyboardInterrupt:
        interrupted = True
    except _TxnRefused:  # nothing ran: leave no run behind (the cluster has stopped)
        rec.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        rec.close()
    history = rec.history()
    ops = sum(1 for op in history.ops if op.type != "invoke" and op.is_client())
    ops_per_s = ops / t_work if t_work > 0 else 0.0
    result = check_history(history, opts)
    run_json.update({"duration_s": round(time.monotonic() - t_start, 3),
                     "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                     "interrupted": interrupted, "ops_per_s": round(ops_per_s, 1),
                     "ops": len(history.ops)})
    write_json(run_dir / "run.json", run_json)
    write_json(run_dir / "results.json", result.to_json())
    report = _write_report(run_dir, con)
    return RunOutcome(run_dir, result, report, ops_per_s, interrupted)


def _write_report(run_dir: Path, con: Console) -> Path | None:
    try:
        from harness.report import write_junit, write_report
    except ImportError:
        return None
    try:
        path = write_report(run_dir)
        write_junit(run_dir)
        return Path(path)
    except LogtrialError as e:
        con.print(f"[yellow]report not written: {e}[/]")
        return None
