"""Client adapters: the only code that talks to a broker during a run.

Each adapter turns workload ops into Kafka client calls and back:
``send(key, value) -> offset``, ``poll() -> {key: [[offset, value], ...]}``,
``assign(keys)``, ``subscribe(keys)``, ``commit() -> {key: offset}``,
``committed(keys) -> {key: offset | None}`` (the group's committed offsets, one
OffsetFetch; a failed fetch changed nothing, so it is definite),
``offsets(keys) -> {key: [log_start, end_offset]}`` (ListOffsets earliest and latest
through the consumer, which must be attached; a failure is definite; a key whose
lookup fails, e.g. no leader known for it, is left out: the op fails only if every
key's lookup does),
``txn(mops, abort) -> completed mops`` (below),
``close()``. A failure raises `ClientError` carrying the definite/indefinite outcome
from `harness.workload._errors` (and, for a commit, the offsets it tried).

Transactions (``txn``, with ``ClientOptions.transactional_ids``): the producer is
transactional, its id ``f"{group_id}-t{process % transactional_ids}"``: one id per
interpreter slot, so the process that replaces a crashed one fences its predecessor
and aborts its open transaction at once (an open transaction holds every
read_committed consumer of its partitions at the last stable offset). A txn begins,
runs its micro-ops in order (sends are not awaited one by one: their offsets come from
their futures after a flush; polls come from the consumer), with ``subscribe`` adds
the consumed positions of the keys this member owns (``send_offsets_to_transaction``),
and commits; with ``abort`` it aborts instead. Every wait is bounded by
``send_timeout_s``. A failure is classified by `classify_txn`: an abort (asked for, or
after an error) that succeeded makes it ``fail`` (a deliberate abort records what the
txn did: offsets and reads), anything that may have committed ``info`` (recording what
the txn did too). ``txn_offsets()`` is what the last txn added to its transaction for
the group (``{key: offset}``, None if nothing). After an abort
the consumer is sought back to where the transaction's polls began, so the process's
next poll continues from its last committed-to-history position; a send is never
retried as a new value.

Commits (commit-after-process): ``commit()`` commits, for the group, the offset after
the last record each poll returned of every key the consumer is assigned now, and
returns that ``{key: offset}``. Positions of partitions a rebalance took away are
forgotten in the rebalance callback, so a consumer never commits a partition it does
not own (Kafka does not check ownership: such a commit would move another member's
offsets back, a client bug the groups checker would blame on the broker).

Membership (``membership()``): what the group gave this consumer, as the public
rebalance callbacks report it: ``{"generation": int | None, "member": str | None,
"keys": [...], "epoch": n}``. ``epoch`` counts the assignments this consumer received
(each one resets its positions to the committed offsets: eager rebalancing).
kafka-python reports the generation through its public ``group_metadata()``, read
inside ``on_partitions_assigned`` so that generation and assignment belong together;
confluent-kafka does not expose the generation (``None``). ``None`` when the consumer
is not subscribed.

Key mapping: key ``k`` is partition 0 of topic ``<prefix><k>``, so that a consumer can
subscribe to any subset of keys (Jepsen maps keys to topics for the same reason).
Record keys and values are the decimal strings of the key and the value.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.workload._errors import (
    Outcome,
    classify_commit,
    classify_offsets,
    classify_read,
    classify_send,
    classify_txn,
    error_name,
)


class ClientError(Exception):
    """A client op failed; ``outcome`` says whether it may have happened. ``value``,
    when set, is what the op tried (the history records it instead of the invocation's
    value: a commit's offsets are known only to the client)."""

    def __init__(self, outcome: Outcome, error: list[Any], value: Any = None) -> None:
        self.outcome = outcome
        self.error = error
        self.value = value
        super().__init__(f"{outcome}: {error}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    bootstrap: str
    topic_prefix: str = "lt-"
    acks: str = "all"
    idempotence: bool = True
    retries: int = 3
    linger_ms: int = 0
    send_timeout_s: float = 5.0
    poll_timeout_s: float = 0.01
    #: Fetch's max wait. Short by default: Tansu holds a fetch for the whole wait even
    #: when records arrive (measured: 500 ms gives ~220 ms produce-to-poll latency, 20 ms
    #: gives ~7 ms). Runs raise it to Kafka's 500 for targets that answer on arrival,
    #: saving 50 empty fetch round trips per second per idle consumer.
    fetch_max_wait_ms: int = 20
    isolation_level: str = "read_uncommitted"
    group_id: str = "logtrial"
    #: 0: no transactions; n: the producer is transactional, with one of n ids (one
    #: per interpreter slot: ``process % n``).
    transactional_ids: int = 0
    transaction_timeout_ms: int = 20000


class Client(Protocol):
    def send(self, key: str, value: int) -> int: ...
    def poll(self) -> dict[str, list[list[int]]]: ...
    def assign(self, keys: list[str]) -> None: ...
    def subscribe(self, keys: list[str]) -> None: ...
    def commit(self) -> dict[str, int]: ...
    def committed(self, keys: list[str]) -> dict[str, int | None]: ...
    def offsets(self, keys: list[str]) -> dict[str, list[int]]: ...
    def membership(self) -> dict[str, Any] | None: ...
    def txn(self, mops: list[list[Any]], abort: bool = False) -> list[list[Any]]: ...
    def txn_offsets(self) -> dict[str, int] | None: ...
    def close(self) -> None: ...


def topic_of(prefix: str, key: str) -> str:
    return f"{prefix}{key}"


def key_of(prefix: str, topic: str) -> str:
    return topic[len(prefix):]


def _acks(acks: str) -> int | str:
    return "all" if acks in ("all", "-1") else int(acks)


def _offsets_each(keys: list[str], timeout_s: float,
                  read_one: Callable[[str, float], list[int]]) -> dict[str, list[int]]:
    """``offsets`` key by key within one shared timeout: a key whose lookup fails (e.g.
    no leader known for it) is left out rather than hiding what the others observed;
    only when every lookup fails does the op fail (with the last error)."""
    out: dict[str, list[int]] = {}
    last = ClientError("fail", ["timeout", f"no time left to list offsets of {keys}"])
    end = time.monotonic() + timeout_s
    for i, k in enumerate(keys):
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            out[k] = read_one(k, left / (len(keys) - i))
        except ClientError as e:
            last = e
    if not out:
        raise last
    return out


def call_bounded(what: str, fn: Callable[[], Any], timeout_s: float) -> Any:
    """``fn()`` on a helper thread, waited for at most ``timeout_s``: kafka-python's
    transaction calls (commit, abort, send_offsets_to_transaction) wait without a
    limit, which would hang a worker while the coordinator is unreachable. On a
    timeout the call is abandoned (its daemon thread ends with the producer)."""
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as e:  # handed to the caller
            box.append((False, e))

    t = threading.Thread(target=run, daemon=True, name=f"logtrial-{what}")
    t.start()
    t.join(timeout_s)
    if not box:
        raise TimeoutError(f"{what} did not finish within {timeout_s:g} s")
    ok, result = box[0]
    if not ok:
        raise result
    return result


class _TxnFailed(Exception):
    """A step of a transaction failed; ``error`` is what the history records."""

    def __init__(self, error: list[Any]) -> None:
        self.error = error
        super().__init__(str(error))


def _err(e: BaseException) -> list[Any]:
    """The history's error of an exception: Kafka error name (if any), type, text."""
    code = getattr(e, "errno", None)
    out: list[Any] = [type(e).__name__, str(e)[:200]]
    if isinstance(code, int):
        out.insert(0, error_name(code))
    elif e.args and hasattr(e.args[0], "name") and callable(e.args[0].name):
        out[0] = e.args[0].name()  # confluent-kafka: KafkaException(KafkaError)
    return out


class _ClientBase(abc.ABC):
    """One producer and one consumer per process, created on first use."""

    def __init__(self, opts: ClientOptions, process: int) -> None:
        self.opts = opts
        self.process = process
        self._producer: Any = None
        self._consumer: Any = None
        #: key -> offset after the last record a poll returned (assigned keys only)
        self._consumed: dict[str, int] = {}
        self._membership: dict[str, Any] | None = None
        self._epoch = 0
        #: init_transactions succeeded on the current producer
        self._txn_ready = False
        #: the positions the last `txn` added to its transaction (`txn_offsets`)
        self._txn_sent: dict[str, int] | None = None

    @property
    def transactional_id(self) -> str | None:
        n = self.opts.transactional_ids
        return f"{self.opts.group_id}-t{self.process % n}" if n > 0 else None

    # Transaction steps, per library; each raises _TxnFailed.
    @abc.abstractmethod
    def poll(self) -> dict[str, list[list[int]]]:
        ...

    @abc.abstractmethod
    def _txn_begin(self) -> None:
        ...

    @abc.abstractmethod
    def _txn_produce(self, key: str, value: int) -> Any:
        ...

    @abc.abstractmethod
    def _txn_offsets(self, handles: list[Any]) -> list[int]:
        ...

    @abc.abstractmethod
    def _txn_send_offsets(self, offsets: dict[str, int]) -> None:
        ...

    @abc.abstractmethod
    def _txn_commit(self) -> None:
        ...

    @abc.abstractmethod
    def _txn_abort(self) -> list[Any] | None:
        """Abort the open transaction; None if it was aborted, else the error."""
        ...

    @abc.abstractmethod
    def _seek(self, key: str, offset: int) -> None:
        ...

    @abc.abstractmethod
    def _discard_producer(self) -> None:
        ...

    def txn(self, mops: list[list[Any]], abort: bool = False) -> list[list[Any]]:
        """Run one transaction (see the module docstring); returns the completed
        micro-ops, ``[["send", k, [offset, v]], ["poll", {k: [[offset, v], ...]}]]``."""
        self._txn_sent = None
        if self.transactional_id is None:
            raise ClientError("fail", ["not-transactional",
                                       "txn needs a transactional producer (run with --txn)"])
        try:
            self._txn_begin()
        except (_TxnFailed, ClientError) as e:
            self._discard_producer()  # a failed init leaves the producer unusable
            raise ClientError(classify_txn("start"), e.error) from e
        consumed, epoch = dict(self._consumed), self._epoch
        first_read: dict[str, int] = {}
        out: list[list[Any]] = []
        sends: list[tuple[int, Any]] = []
        try:
            for mop in mops:
                if mop[0] == "send":
                    _, key, v = mop
                    sends.append((len(out), self._txn_produce(str(key), int(v))))
                    out.append(["send", key, v])
                else:
                    polled = self.poll()
                    for k, pairs in polled.items():
                        if pairs:
                            first_read.setdefault(k, pairs[0][0])
                    out.append(["poll", polled])
            offsets = self._txn_offsets([h for _, h in sends])
            for (i, _), off in zip(sends, offsets, strict=True):
                out[i] = ["send", out[i][1], [off, out[i][2]]]
            if abort:
                raise _TxnFailed(["aborted", "the workload asked for an abort"])
            if self._membership is not None:
                positions = self._to_commit()
                if positions:
                    self._txn_sent = positions
                    self._txn_send_offsets(positions)
            self._txn_commit()
        except (_TxnFailed, ClientError) as e:
            self._abandon(e, abort and isinstance(e, _TxnFailed) and e.error[0] == "aborted",
                          out, first_read, consumed, epoch)
        return out

    def _abandon(self, e: _TxnFailed | ClientError, asked: bool, out: list[list[Any]],
                 first_read: dict[str, int], consumed: dict[str, int], epoch: int) -> None:
        """Abort after ``e`` and raise the classified failure (see `classify_txn`). An
        ``info`` one records what the txn did (its polls did return those records to
        this member, whose successor may start past them if the txn committed)."""
        error = list(e.error)
        abort_error = self._txn_abort()
        if abort_error is not None:
            raise ClientError(classify_txn("open"), [*error, "abort failed", *abort_error],
                              value=out)
        if isinstance(e, ClientError) and e.outcome == "info":
            raise ClientError("info", error, value=out)  # the consumer is suspect
        if self._epoch != epoch:  # a rebalance reset the positions mid-transaction
            raise ClientError("info", [*error, "rebalanced during the transaction"],
                              value=out)
        try:
            for k, off in first_read.items():
                self._seek(k, off)
        except Exception as se:
            raise ClientError("info", [*error, "rewind failed", *_err(se)],
                              value=out) from se
        self._consumed = consumed
        raise ClientError(classify_txn("aborted"), error, value=out if asked else None)

    def _note_polled(self, out: dict[str, list[list[int]]]) -> None:
        for k, pairs in out.items():
            if pairs:
                self._consumed[k] = pairs[-1][0] + 1

    def _assigned(self, keys: list[str], generation: int | None, member: str | None) -> None:
        """Rebalance callback: a new assignment; positions restart from the group's."""
        self._epoch += 1
        self._consumed = {}
        self._membership = {"generation": generation, "member": member,
                            "keys": sorted(keys, key=lambda s: (len(s), s)),
                            "epoch": self._epoch}

    def _revoked(self, keys: list[str]) -> None:
        """Rebalance callback: partitions taken away (or lost); forget their positions."""
        for k in keys:
            self._consumed.pop(k, None)
        m = self._membership
        if m is not None:
            gone = set(keys)
            self._membership = {**m, "keys": [k for k in m["keys"] if k not in gone]}

    def _to_commit(self) -> dict[str, int]:
        """What `commit` commits: positions of the keys this member owns now. Raises a
        definite failure when the consumer is not subscribed (no group to commit to)."""
        if self._consumer is None or self._membership is None:
            raise ClientError("fail", ["not-subscribed", "commit before subscribe"])
        owned = set(self._membership["keys"])
        return {k: off for k, off in sorted(self._consumed.items()) if k in owned}

    def membership(self) -> dict[str, Any] | None:
        m = self._membership
        return dict(m) if m is not None else None

    def txn_offsets(self) -> dict[str, int] | None:
        """The positions the last `txn` added to its transaction for the group
        (``send_offsets_to_transaction``), None if it added none: the group's committed
        offsets if that txn committed."""
        return dict(self._txn_sent) if self._txn_sent is not None else None



class KafkaPythonClient(_ClientBase):
    """kafka-python 3.x; the default client."""

    def _get_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            o = self.opts
            txn: dict[str, Any] = {} if self.transactional_id is None else {
                "transactional_id": self.transactional_id,
                "transaction_timeout_ms": o.transaction_timeout_ms}
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=o.bootstrap.split(","),
                    acks=_acks(o.acks),
                    enable_idempotence=o.idempotence,
                    retries=o.retries,
                    linger_ms=o.linger_ms,
                    request_timeout_ms=int(o.send_timeout_s * 1000),
                    max_block_ms=int(o.send_timeout_s * 1000),
                    delivery_timeout_ms=int(o.send_timeout_s * 1000) + o.linger_ms + 1,
                    client_id=f"logtrial-p{self.process}",
                    **txn,
                )
            except Exception as e:
                raise ClientError("fail", ["connect", type(e).__name__, str(e)]) from e
        return self._producer

    def _get_consumer(self, group: bool) -> Any:
        if self._consumer is None:
            from kafka import KafkaConsumer

            o = self.opts
            try:
                self._consumer = KafkaConsumer(
                    bootstrap_servers=o.bootstrap.split(","),
                    group_id=o.group_id if group else None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    isolation_level=o.isolation_level,
                    fetch_max_wait_ms=o.fetch_max_wait_ms,
                    request_timeout_ms=max(int(o.send_timeout_s * 1000), 3000),
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=1000,
                    client_id=f"logtrial-c{self.process}",
                )
            except Exception as e:
                raise ClientError("fail", ["connect", type(e).__name__, str(e)]) from e
        return self._consumer

    def send(self, key: str, value: int) -> int:
        producer = self._get_producer()
        try:
            fut = producer.send(topic_of(self.opts.topic_prefix, key), value=str(value).encode(),
                                key=key.encode(), partition=0)
            meta = fut.get(timeout=self.opts.send_timeout_s)
        except Exception as e:
            code = getattr(e, "errno", None)
            outcome = classify_send(code if isinstance(code, int) else None, type(e).__name__,
                                    retries=self.opts.retries)
            err: list[Any] = [type(e).__name__, str(e)[:200]]
            if isinstance(code, int):
                err.insert(0, error_name(code))
            raise ClientError(outcome, err) from e
        return int(meta.offset)

    def assign(self, keys: list[str]) -> None:
        from kafka import TopicPartition

        consumer = self._get_consumer(group=False)
        try:
            consumer.assign([TopicPartition(topic_of(self.opts.topic_prefix, k), 0)
                             for k in keys])
        except Exception as e:
            raise ClientError(classify_read(exception=type(e).__name__),
                              [type(e).__name__, str(e)[:200]]) from e

    def subscribe(self, keys: list[str]) -> None:
        from kafka import ConsumerRebalanceListener

        consumer = self._get_consumer(group=True)
        prefix = self.opts.topic_prefix
        client = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                client._revoked([key_of(prefix, tp.topic) for tp in revoked])

            def on_partitions_lost(self, lost: Any) -> None:
                client._revoked([key_of(prefix, tp.topic) for tp in lost])

            def on_partitions_assigned(self, assigned: Any) -> None:
                meta = consumer.group_metadata()
                gen = meta.generation_id
                client._assigned([key_of(prefix, tp.topic) for tp in assigned],
                                 gen if isinstance(gen, int) and gen >= 0 else None,
                                 meta.member_id or None)

        if self._membership is None:
            self._membership = {"generation": None, "member": None, "keys": [],
                                "epoch": self._epoch}
        try:
            consumer.subscribe(topics=[topic_of(prefix, k) for k in keys],
                               listener=Listener())
        except Exception as e:
            raise ClientError(classify_read(exception=type(e).__name__),
                              [type(e).__name__, str(e)[:200]]) from e

    def commit(self) -> dict[str, int]:
        from kafka import OffsetAndMetadata, TopicPartition

        offsets = self._to_commit()
        if not offsets:
            return offsets
        prefix = self.opts.topic_prefix
        try:
            self._consumer.commit({TopicPartition(topic_of(prefix, k), 0):
                                   OffsetAndMetadata(off, "", -1)
                                   for k, off in offsets.items()})
        except Exception as e:
            code = getattr(e, "errno", None)
            outcome = classify_commit(code if isinstance(code, int) else None,
                                      type(e).__name__)
            if type(e).__name__ == "CommitFailedError":
                outcome = "fail"
            err: list[Any] = [type(e).__name__, str(e)[:200]]
            if isinstance(code, int):
                err.insert(0, error_name(code))
            raise ClientError(outcome, err, value=offsets) from e
        return offsets

    def committed(self, keys: list[str]) -> dict[str, int | None]:
        from kafka import TopicPartition

        if self._consumer is None or self._membership is None:
            raise ClientError("fail", ["not-subscribed", "committed before subscribe"])
        prefix = self.opts.topic_prefix
        out: dict[str, int | None] = {}
        try:
            for k in keys:
                off = self._consumer.committed(TopicPartition(topic_of(prefix, k), 0),
                                               timeout_ms=int(self.opts.send_timeout_s * 1000))
                out[k] = off if isinstance(off, int) and off >= 0 else None
        except Exception as e:
            raise ClientError("fail", [type(e).__name__, str(e)[:200]]) from e
        return out

    def offsets(self, keys: list[str]) -> dict[str, list[int]]:
        from kafka import TopicPartition

        if self._consumer is None:
            raise ClientError("fail", ["not-attached", "offsets before assign/subscribe"])
        prefix = self.opts.topic_prefix
        tps = {k: TopicPartition(topic_of(prefix, k), 0) for k in keys}
        try:
            return self._list_offsets(tps, self.opts.send_timeout_s)
        except KeyError:
            pass  # a partition without a known leader: read the others one by one

        def read_one(k: str, timeout_s: float) -> list[int]:
            try:
                return self._list_offsets({k: tps[k]}, timeout_s)[k]
            except KeyError as e:
                raise ClientError("fail", ["no-leader", f"no leader known for key {k}"]) from e

        return _offsets_each(keys, self.opts.send_timeout_s, read_one)

    def _list_offsets(self, tps: dict[str, Any], timeout_s: float) -> dict[str, list[int]]:
        """Earliest and latest offsets of ``tps``. kafka-python leaves out a partition
        whose leader its metadata lacks and then fails the whole call with KeyError
        (raised as is)."""
        timeout_ms = max(1, int(timeout_s * 1000))
        try:
            starts = self._consumer.beginning_offsets(list(tps.values()), timeout_ms)
            ends = self._consumer.end_offsets(list(tps.values()), timeout_ms)
        except KeyError:
            raise
        except Exception as e:
            code = getattr(e, "errno", None)
            raise ClientError(classify_offsets(code if isinstance(code, int) else None,
                                               type(e).__name__),
                              [type(e).__name__, str(e)[:200]]) from e
        return {k: [int(starts[tp]), int(ends[tp])] for k, tp in tps.items()}

    def poll(self) -> dict[str, list[list[int]]]:
        if self._consumer is None:
            raise ClientError("fail", ["not-attached", "poll before assign/subscribe"])
        prefix = self.opts.topic_prefix
        try:
            batches = self._consumer.poll(timeout_ms=int(self.opts.poll_timeout_s * 1000))
        except Exception as e:
            raise ClientError(classify_read(exception=type(e).__name__),
                              [type(e).__name__, str(e)[:200]]) from e
        out: dict[str, list[list[int]]] = {}
        for tp, records in batches.items():
            if records:
                out[key_of(prefix, tp.topic)] = [[r.offset, int(r.value)] for r in records]
        self._note_polled(out)
        return out

    def _txn_begin(self) -> None:
        producer = self._get_producer()
        try:
            if not self._txn_ready:
                producer.init_transactions()  # bounded by max_block_ms
                self._txn_ready = True
            producer.begin_transaction()
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_produce(self, key: str, value: int) -> Any:
        try:
            return self._producer.send(topic_of(self.opts.topic_prefix, key),
                                       value=str(value).encode(), key=key.encode(),
                                       partition=0)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_offsets(self, handles: list[Any]) -> list[int]:
        if not handles:
            return []
        try:
            self._producer.flush(timeout=self.opts.send_timeout_s)
            return [int(f.get(timeout=self.opts.send_timeout_s).offset) for f in handles]
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_send_offsets(self, offsets: dict[str, int]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        prefix = self.opts.topic_prefix
        tps = {TopicPartition(topic_of(prefix, k), 0): OffsetAndMetadata(off, "", -1)
               for k, off in offsets.items()}
        try:
            meta = self._consumer.group_metadata()
            call_bounded("send-offsets", lambda: self._producer.send_offsets_to_transaction(
                tps, meta), self.opts.send_timeout_s)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_commit(self) -> None:
        try:
            call_bounded("commit-txn", self._producer.commit_transaction,
                     self.opts.send_timeout_s)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_abort(self) -> list[Any] | None:
        try:
            call_bounded("abort-txn", self._producer.abort_transaction, self.opts.send_timeout_s)
        except Exception as e:
            return _err(e)
        return None

    def _seek(self, key: str, offset: int) -> None:
        from kafka import TopicPartition

        self._consumer.seek(TopicPartition(topic_of(self.opts.topic_prefix, key), 0), offset)

    def _discard_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=1)
        self._producer = None
        self._txn_ready = False

    def close(self) -> None:
        for c in (self._producer, self._consumer):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close(timeout=1) if c is self._producer else c.close()
        self._producer = self._consumer = None
        self._txn_ready = False


class ConfluentClient(_ClientBase):
    """confluent-kafka (librdkafka)."""

    def _get_producer(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            o = self.opts
            conf: dict[str, Any] = {
                "bootstrap.servers": o.bootstrap,
                "acks": str(_acks(o.acks)),
                "enable.idempotence": o.idempotence,
                "linger.ms": o.linger_ms,
                "message.timeout.ms": int(o.send_timeout_s * 1000),
                "client.id": f"logtrial-p{self.process}",
                "log_level": 3,
            }
            if self.transactional_id is not None:
                conf["transactional.id"] = self.transactional_id
                conf["transaction.timeout.ms"] = o.transaction_timeout_ms
            self._producer = Producer(conf)
        return self._producer

    def _get_consumer(self, group: bool) -> Any:
        if self._consumer is None:
            from confluent_kafka import Consumer

            o = self.opts
            self._consumer = Consumer({
                "bootstrap.servers": o.bootstrap,
                "group.id": o.group_id if group else f"{o.group_id}-p{self.process}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": o.isolation_level,
                "fetch.wait.max.ms": o.fetch_max_wait_ms,
                "session.timeout.ms": 6000,
                "client.id": f"logtrial-c{self.process}",
                "log_level": 3,
            })
        return self._consumer

    def send(self, key: str, value: int) -> int:
        producer = self._get_producer()
        result: list[Any] = []

        def on_delivery(err: Any, msg: Any) -> None:
            result.append((err, msg))

        try:
            producer.produce(topic_of(self.opts.topic_prefix, key), value=str(value).encode(),
                             key=key.encode(), partition=0, on_delivery=on_delivery)
        except Exception as e:
            raise ClientError("fail", [type(e).__name__, str(e)[:200]]) from e
        producer.flush(self.opts.send_timeout_s + 1)
        if not result:
            raise ClientError("info", ["timeout", "no delivery report"])
        err, msg = result[0]
        if err is not None:
            code = err.code()
            # librdkafka retries internally (message.send.max.retries defaults high)
            outcome = classify_send(code, retries=1) if code >= 0 else "info"
            raise ClientError(outcome, [err.name(), err.str()[:200]])
        return int(msg.offset())

    def assign(self, keys: list[str]) -> None:
        from confluent_kafka import TopicPartition

        consumer = self._get_consumer(group=False)
        # librdkafka's assign() would reset every position; Kafka's Java client (and
        # Jepsen's checker) keep the position of partitions that stay assigned, so
        # change the assignment incrementally.
        want = {(topic_of(self.opts.topic_prefix, k), 0) for k in keys}
        try:
            have = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            gone = [TopicPartition(t, p) for t, p in sorted(have - want)]
            new = [TopicPartition(t, p) for t, p in sorted(want - have)]
            if gone:
                consumer.incremental_unassign(gone)
            if new:
                consumer.incremental_assign(new)
        except Exception as e:
            raise ClientError("info", [type(e).__name__, str(e)[:200]]) from e

    def subscribe(self, keys: list[str]) -> None:
        consumer = self._get_consumer(group=True)
        prefix = self.opts.topic_prefix

        def member() -> str | None:
            try:
                return consumer.memberid() or None
            except Exception:
                return None

        def on_assign(c: Any, partitions: Any) -> None:
            self._assigned([key_of(prefix, tp.topic) for tp in partitions], None, member())

        def on_revoke(c: Any, partitions: Any) -> None:
            self._revoked([key_of(prefix, tp.topic) for tp in partitions])

        if self._membership is None:
            self._membership = {"generation": None, "member": None, "keys": [],
                                "epoch": self._epoch}
        try:
            consumer.subscribe([topic_of(prefix, k) for k in keys], on_assign=on_assign,
                               on_revoke=on_revoke, on_lost=on_revoke)
        except Exception as e:
            raise ClientError("info", [type(e).__name__, str(e)[:200]]) from e

    def commit(self) -> dict[str, int]:
        from confluent_kafka import KafkaException, TopicPartition

        offsets = self._to_commit()
        if not offsets:
            return offsets
        prefix = self.opts.topic_prefix
        try:
            done = self._consumer.commit(
                offsets=[TopicPartition(topic_of(prefix, k), 0, off)
                         for k, off in offsets.items()], asynchronous=False)
        except KafkaException as e:
            err = e.args[0] if e.args else None
            code = err.code() if err is not None and hasattr(err, "code") else None
            outcome = classify_commit(code) if code is not None and code >= 0 else "info"
            name = err.name() if err is not None and hasattr(err, "name") else "KafkaException"
            raise ClientError(outcome, [name, str(e)[:200]], value=offsets) from e
        except Exception as e:
            raise ClientError("info", [type(e).__name__, str(e)[:200]], value=offsets) from e
        for tp in done or ():
            if tp.error is not None:
                code = tp.error.code()
                outcome = classify_commit(code) if code >= 0 else "info"
                raise ClientError(outcome, [tp.error.name(), tp.error.str()[:200]],
                                  value=offsets)
        return offsets

    def committed(self, keys: list[str]) -> dict[str, int | None]:
        from confluent_kafka import TopicPartition

        if self._consumer is None or self._membership is None:
            raise ClientError("fail", ["not-subscribed", "committed before subscribe"])
        prefix = self.opts.topic_prefix
        try:
            got = self._consumer.committed(
                [TopicPartition(topic_of(prefix, k), 0) for k in keys],
                timeout=self.opts.send_timeout_s)
        except Exception as e:
            raise ClientError("fail", [type(e).__name__, str(e)[:200]]) from e
        out: dict[str, int | None] = {}
        for tp in got:
            if tp.error is not None:
                raise ClientError("fail", [tp.error.name(), tp.error.str()[:200]])
            out[key_of(prefix, tp.topic)] = tp.offset if tp.offset >= 0 else None
        return out

    def offsets(self, keys: list[str]) -> dict[str, list[int]]:
        from confluent_kafka import TopicPartition

        if self._consumer is None:
            raise ClientError("fail", ["not-attached", "offsets before assign/subscribe"])
        prefix = self.opts.topic_prefix

        def read_one(k: str, timeout_s: float) -> list[int]:
            try:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic_of(prefix, k), 0), timeout=timeout_s, cached=False)
            except Exception as e:
                err = e.args[0] if e.args else None
                code = err.code() if err is not None and hasattr(err, "code") else None
                raise ClientError(classify_offsets(code, type(e).__name__),
                                  [type(e).__name__, str(e)[:200]]) from e
            return [int(low), int(high)]

        return _offsets_each(keys, self.opts.send_timeout_s, read_one)

    def poll(self) -> dict[str, list[list[int]]]:
        if self._consumer is None:
            raise ClientError("fail", ["not-attached", "poll before assign/subscribe"])
        prefix = self.opts.topic_prefix
        try:
            msgs = self._consumer.consume(num_messages=500, timeout=self.opts.poll_timeout_s)
        except Exception as e:
            raise ClientError("info", [type(e).__name__, str(e)[:200]]) from e
        out: dict[str, list[list[int]]] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == -191:  # _PARTITION_EOF: not an error
                    continue
                raise ClientError("info", [err.name(), err.str()[:200]])
            out.setdefault(key_of(prefix, m.topic()), []).append([m.offset(), int(m.value())])
        self._note_polled(out)
        return out

    def _txn_begin(self) -> None:
        try:
            producer = self._get_producer()
            if not self._txn_ready:
                producer.init_transactions(self.opts.send_timeout_s)
                self._txn_ready = True
            producer.begin_transaction()
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_produce(self, key: str, value: int) -> Any:
        result: list[Any] = []

        def on_delivery(err: Any, msg: Any) -> None:
            result.append((err, msg))

        try:
            self._producer.produce(topic_of(self.opts.topic_prefix, key),
                                   value=str(value).encode(), key=key.encode(), partition=0,
                                   on_delivery=on_delivery)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e
        return result

    def _txn_offsets(self, handles: list[Any]) -> list[int]:
        if not handles:
            return []
        left = self._producer.flush(self.opts.send_timeout_s)
        out = []
        for result in handles:
            if not result:
                raise _TxnFailed(["timeout", f"no delivery report ({left} in queue)"])
            err, msg = result[0]
            if err is not None:
                raise _TxnFailed([err.name(), err.str()[:200]])
            out.append(int(msg.offset()))
        return out

    def _txn_send_offsets(self, offsets: dict[str, int]) -> None:
        from confluent_kafka import TopicPartition

        prefix = self.opts.topic_prefix
        try:
            self._producer.send_offsets_to_transaction(
                [TopicPartition(topic_of(prefix, k), 0, off) for k, off in offsets.items()],
                self._consumer.consumer_group_metadata(), self.opts.send_timeout_s)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_commit(self) -> None:
        try:
            self._producer.commit_transaction(self.opts.send_timeout_s)
        except Exception as e:
            raise _TxnFailed(_err(e)) from e

    def _txn_abort(self) -> list[Any] | None:
        try:
            self._producer.abort_transaction(self.opts.send_timeout_s)
        except Exception as e:
            return _err(e)
        return None

    def _seek(self, key: str, offset: int) -> None:
        from confluent_kafka import TopicPartition

        self._consumer.seek(TopicPartition(topic_of(self.opts.topic_prefix, key), 0, offset))

    def _discard_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.flush(0)
        self._producer = None
        self._txn_ready = False

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.flush(0)
        self._producer = self._consumer = None
        self._txn_ready = False


CLIENTS: dict[str, type[KafkaPythonClient] | type[ConfluentClient]] = {
    "kafka-python": KafkaPythonClient,
    "confluent": ConfluentClient,
}
