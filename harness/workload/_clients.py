"""Client adapters: the only code that talks to a broker during a run.

Each adapter turns workload ops into Kafka client calls and back:
``send(key, value) -> offset``, ``poll() -> {key: [[offset, value], ...]}``,
``assign(keys)``, ``subscribe(keys)``, ``close()``. A failure raises `ClientError`
carrying the definite/indefinite outcome from `harness.workload._errors`.

Key mapping: key ``k`` is partition 0 of topic ``<prefix><k>``, so that a consumer can
subscribe to any subset of keys (Jepsen maps keys to topics for the same reason).
Record keys and values are the decimal strings of the key and the value.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from harness.workload._errors import Outcome, classify_read, classify_send, error_name


class ClientError(Exception):
    """A client op failed; ``outcome`` says whether it may have happened."""

    def __init__(self, outcome: Outcome, error: list[Any]) -> None:
        self.outcome = outcome
        self.error = error
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
    isolation_level: str = "read_uncommitted"
    group_id: str = "logtrial"


class Client(Protocol):
    def send(self, key: str, value: int) -> int: ...
    def poll(self) -> dict[str, list[list[int]]]: ...
    def assign(self, keys: list[str]) -> None: ...
    def subscribe(self, keys: list[str]) -> None: ...
    def close(self) -> None: ...


def topic_of(prefix: str, key: str) -> str:
    return f"{prefix}{key}"


def key_of(prefix: str, topic: str) -> str:
    return topic[len(prefix):]


def _acks(acks: str) -> int | str:
    return "all" if acks in ("all", "-1") else int(acks)


class _ClientBase:
    """One producer and one consumer per process, created on first use."""

    def __init__(self, opts: ClientOptions, process: int) -> None:
        self.opts = opts
        self.process = process
        self._producer: Any = None
        self._consumer: Any = None



class KafkaPythonClient(_ClientBase):
    """kafka-python 3.x; the default client."""

    def _get_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            o = self.opts
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
                    fetch_max_wait_ms=20,
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
            outcome = classify_send(code if isinstance(code, int) else None, type(e).__name__)
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
        consumer = self._get_consumer(group=True)
        try:
            consumer.subscribe(topics=[topic_of(self.opts.topic_prefix, k) for k in keys])
        except Exception as e:
            raise ClientError(classify_read(exception=type(e).__name__),
                              [type(e).__name__, str(e)[:200]]) from e

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
        return out

    def close(self) -> None:
        for c in (self._producer, self._consumer):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close(timeout=1) if c is self._producer else c.close()
        self._producer = self._consumer = None


class ConfluentClient(_ClientBase):
    """confluent-kafka (librdkafka)."""

    def _get_producer(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            o = self.opts
            self._producer = Producer({
                "bootstrap.servers": o.bootstrap,
                "acks": str(_acks(o.acks)),
                "enable.idempotence": o.idempotence,
                "linger.ms": o.linger_ms,
                "message.timeout.ms": int(o.send_timeout_s * 1000),
                "client.id": f"logtrial-p{self.process}",
                "log_level": 3,
            })
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
                "fetch.wait.max.ms": 20,
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
            outcome = classify_send(code) if code >= 0 else "info"
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
        consumer.subscribe([topic_of(self.opts.topic_prefix, k) for k in keys])

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
        return out

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.flush(0)
        self._producer = self._consumer = None


CLIENTS: dict[str, type[KafkaPythonClient] | type[ConfluentClient]] = {
    "kafka-python": KafkaPythonClient,
    "confluent": ConfluentClient,
}
