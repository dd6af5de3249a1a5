"""Crash recovery: SIGKILL then restart with log.flush.policy=always."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ._wire import Wire, create_topic, make_batch, produce
from .conftest import BrokerProcess

N = 3000


def _consume_all(bs: str, topic: str, partitions: int, want: int) -> dict[Any, Any]:
    c = Consumer({"bootstrap.servers": bs, "group.id": "r", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, i, 0) for i in range(partitions)])
    got: dict[Any, Any] = {}
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            assert not m.error(), m.error()
            got[(m.partition(), m.offset())] = m.value()
    c.close()
    return got


def test_sigkill_keeps_every_acked_record_and_retries_do_not_duplicate(
        broker: BrokerProcess) -> None:
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic("crash", 2, 1)]).values():
        f.result(10)
    p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 2, "batch.num.messages": 50, "message.timeout.ms": 60000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
    acked: dict[bytes, tuple[int, int]] = {}
    failed: list[Any] = []
    lock = threading.Lock()

    def on_delivery(err: Any, msg: Any) -> None:
        with lock:
            if err is not None:
                failed.append(err)
            else:
                acked[msg.value()] = (msg.partition(), msg.offset())

    for i in range(N):
        p.produce("crash", value=b"m%06d" % i, on_delivery=on_delivery)
        if i == N // 3:
            p.flush(30)
            before_kill = dict(acked)
            broker.kill()
            broker.start()
        if i % 100 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    assert not failed
    assert len(acked) == N
    # the records acked before the crash survived it at the same offsets ...
    for value, pos in before_kill.items():
        assert acked[value] == pos
    # ... and after the crash every acked record is where its ack said, exactly once
    got = _consume_all(broker.bootstrap, "crash", 2, N)
    assert len(got) == N, f"{len(got)} records in the log for {N} acked"
    assert {v: pos for pos, v in got.items()} == acked
    # a second crash changes nothing
    broker.restart()
    assert _consume_all(broker.bootstrap, "crash", 2, N) == got


def test_producer_state_survives_restart(broker: BrokerProcess) -> None:
    from kafka.protocol.producer import InitProducerIdRequest

    with Wire(broker.address) as w:
        create_topic(w, "ps")
        r = w.call(InitProducerIdRequest(version=4, transactional_id=None,
                                         transaction_timeout_ms=60000, producer_id=-1,
                                         producer_epoch=-1))
        pid = r.producer_id
        b0 = make_batch(5, pid=pid, epoch=0, seq=0)
        assert produce(w, "ps", b0) == (0, 0)
    broker.restart()
    with Wire(broker.address) as w:
        # a retry that reaches the restarted broker is still recognised
        assert produce(w, "ps", b0) == (0, 0)
        assert produce(w, "ps", make_batch(2, pid=pid, epoch=0, seq=9))[0] == 45
        assert produce(w, "ps", make_batch(2, pid=pid, epoch=0, seq=5)) == (0, 5)
        # producer ids are never handed out twice, even across a SIGKILL
        r = w.call(InitProducerIdRequest(version=4, transactional_id=None,
                                         transaction_timeout_ms=60000, producer_id=-1,
                                         producer_epoch=-1))
        assert r.producer_id != pid
