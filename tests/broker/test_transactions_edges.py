"""Transactions at the edges, against a real single-node broker: retention moving the
log start past an open transaction, idempotent sequences across the epoch bump of a
fence, and what read_committed readers are told there. Raw wire calls (kafka-python's
message classes) where the exact offsets and codes matter, real clients where the
problem is what a consumer sees."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka.protocol.producer import (
    AddPartitionsToTxnRequest,
    InitProducerIdRequest,
    ProduceRequest,
)

from reference_broker import records

from ._reading import WAIT_S, read_values, wait_for
from ._wire import Wire, create_topic, fetch, make_batch, produce
from ._wire import list_offset as wire_list_offset
from .conftest import BrokerProcess

AP = AddPartitionsToTxnRequest.AddPartitionsToTxnTopic


def init(w: Wire, tid: str) -> Any:
    r = w.call(InitProducerIdRequest(version=4, transactional_id=tid,
                                     transaction_timeout_ms=60000, producer_id=-1,
                                     producer_epoch=-1))
    assert r.error_code == 0, r
    return r


def add(w: Wire, tid: str, pid: int, epoch: int, topic: str) -> int:
    resp = w.call(AddPartitionsToTxnRequest(
        version=3, v3_and_below_transactional_id=tid, v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch, v3_and_below_topics=[AP(name=topic, partitions=[0])]))
    return int(resp.results_by_topic_v3_and_below[0].results_by_partition[0]
               .partition_error_code)


def produce_txn(w: Wire, tid: str, topic: str, pid: int, epoch: int, seq: int,
                n: int = 2) -> tuple[int, int]:
    """(error code, base offset) of a transactional batch of ``n`` records."""
    batch = make_batch(n, pid=pid, epoch=epoch, seq=seq, value=b"t", transactional=True)
    return produce(w, topic, batch, transactional_id=tid)


def list_offset(w: Wire, topic: str, ts: int, *, committed: bool) -> int:
    return wire_list_offset(w, topic, ts, isolation_level=int(committed))


def fetch_committed(w: Wire, topic: str, offset: int) -> Any:
    return fetch(w, topic, offset, min_bytes=0, isolation_level=1)


def test_retention_past_an_open_transaction_keeps_the_lso_at_or_above_the_log_start(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    # Kafka clamps the first unstable offset to the log start offset: retention (bounded
    # by the high watermark, not by the LSO) may delete the start of a transaction that
    # is still open, and a read_committed reader must never be sent below the log start.
    b = broker_factory({"log.flush.policy": "always", "log.retention.check.interval.ms": "50"})
    with Wire(b.address) as w:
        create_topic(w, "r", configs={"segment.bytes": "200", "retention.bytes": "1"})
        r = init(w, "open")
        assert add(w, "open", r.producer_id, r.producer_epoch, "r") == 0
        assert produce_txn(w, "open", "r", r.producer_id, r.producer_epoch, 0) == (0, 0)
        for _ in range(6):  # roll segments past the transaction's first batch
            assert produce(w, "r", make_batch(3, value=b"x" * 60))[0] == 0
        wait_for("retention moves the log start", lambda: list_offset(
            w, "r", -2, committed=False) > 0)
        start = list_offset(w, "r", -2, committed=False)
        latest = list_offset(w, "r", -1, committed=True)
        assert latest >= start, f"read_committed latest {latest} < log start {start}"
        part = fetch_committed(w, "r", start)
        assert part.error_code == 0
        assert start <= part.last_stable_offset <= part.high_watermark, (
            start, part.last_stable_offset, part.high_watermark)


def end_txn(w: Wire, tid: str, pid: int, epoch: int, commit: bool) -> int:
    from kafka.protocol.producer import EndTxnRequest

    return int(w.call(EndTxnRequest(version=3, transactional_id=tid, producer_id=pid,
                                    producer_epoch=epoch, committed=commit)).error_code)


def test_read_committed_from_anywhere_across_rolls_and_a_restart(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    # Three transactional producers interleave on one partition (plus plain batches),
    # committing and aborting; segments roll every few batches. From every start
    # offset, with fetches small enough to stop inside transactions, a read_committed
    # reader must get exactly the committed and plain values at or after it, below the
    # LSO (one transaction is left open); the same after a SIGKILL and restart, which
    # rebuilds the open transactions and the aborted index from the log.
    import random

    rnd = random.Random(48771705)
    b = broker_factory({"log.flush.policy": "always"})
    fate: dict[bytes, tuple[int, str]] = {}  # value -> (offset, "plain" | tid)
    decided: dict[str, list[bool]] = {}  # tid -> outcome of each of its transactions
    with Wire(b.address) as w:
        create_topic(w, "mix", configs={"segment.bytes": "400"})
        prods = {}
        for tid in ("a", "b", "c"):
            r = init(w, tid)
            prods[tid] = {"pid": r.producer_id, "epoch": r.producer_epoch, "seq": 0,
                          "open": False, "values": []}
            decided[tid] = []
        n = 0
        for _ in range(60):
            tid = rnd.choice(["a", "b", "c", "plain"])
            if tid == "plain":
                batch = records.build_batch([records.Record(None, b"p%d" % n, 1000)])
                code, off = produce(w, "mix", batch)
                assert code == 0
                fate[b"p%d" % n] = (off, "plain")
                n += 1
                continue
            st = prods[tid]
            if st["open"] and rnd.random() < 0.3:
                commit = rnd.random() < 0.5
                assert end_txn(w, tid, st["pid"], st["epoch"], commit) == 0
                decided[tid].append(commit)
                st["open"] = False
                continue
            if not st["open"]:
                assert add(w, tid, st["pid"], st["epoch"], "mix") == 0
                st["open"] = True
            k = rnd.randint(1, 3)
            values = [b"%s%d" % (tid.encode(), n + i) for i in range(k)]
            batch = records.build_batch([records.Record(None, v, 1000) for v in values],
                                        producer_id=st["pid"], producer_epoch=st["epoch"],
                                        base_sequence=st["seq"], transactional=True)
            TD = ProduceRequest.TopicProduceData
            resp = w.call(ProduceRequest(version=9, transactional_id=tid, acks=-1,
                                         timeout_ms=5000, topic_data=[TD(
                                             name="mix", partition_data=[
                                                 TD.PartitionProduceData(index=0,
                                                                         records=batch)])]))
            pr = resp.responses[0].partition_responses[0]
            assert pr.error_code == 0
            for i, v in enumerate(values):
                fate[v] = (pr.base_offset + i, f"{tid}#{len(decided[tid])}")
            st["seq"] += k
            n += k
        # close all but one transaction, which stays open (the LSO stops at it)
        still_open = [t for t in ("a", "b", "c") if prods[t]["open"]]
        for tid in still_open[1:]:
            st = prods[tid]
            assert end_txn(w, tid, st["pid"], st["epoch"], False) == 0
            decided[tid].append(False)
    open_txn = {f"{t}#{len(decided[t])}" for t in still_open[:1]}
    open_first = min((off for off, who in fate.values() if who in open_txn),
                     default=None)

    def visible(who: str) -> bool:
        if who == "plain":
            return True
        t, i = who.split("#")
        return int(i) < len(decided[t]) and decided[t][int(i)]

    def expected(start: int) -> list[bytes]:
        return [v for v, (off, who) in sorted(fate.items(), key=lambda kv: kv[1][0])
                if off >= start and visible(who)
                and (open_first is None or off < open_first)]

    offsets = sorted(off for off, _ in fate.values())
    starts = [0, *rnd.sample(offsets, 8)]
    for round_ in ("before", "after a restart"):
        for start in starts:
            got, _ = read_values(b.bootstrap, "mix", start=start, fetch_bytes=150)
            assert got == expected(start), f"{round_}, from offset {start}"
        if round_ == "before":
            b.restart()


def test_offset_fetch_require_stable_waits_for_a_transaction_with_staged_offsets(
        broker: BrokerProcess) -> None:
    # KIP-447: a read_committed consumer (kafka-python and librdkafka send
    # require_stable) must not resume from an offset a transaction is about to replace,
    # else the records it processed are processed twice (exactly-once broken after a
    # rebalance). Kafka answers UNSTABLE_OFFSET_COMMIT (88, retriable) until it ends.
    from kafka.protocol.consumer import OffsetFetchRequest
    from kafka.protocol.producer import AddOffsetsToTxnRequest, TxnOffsetCommitRequest

    with Wire(broker.address) as w:
        create_topic(w, "in")
        r = init(w, "eos")
        pid, epoch = r.producer_id, r.producer_epoch
        assert w.call(AddOffsetsToTxnRequest(version=3, transactional_id="eos",
                                             producer_id=pid, producer_epoch=epoch,
                                             group_id="g")).error_code == 0
        TT = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
        staged = w.call(TxnOffsetCommitRequest(
            version=3, transactional_id="eos", group_id="g", producer_id=pid,
            producer_epoch=epoch, generation_id=-1, member_id="", group_instance_id=None,
            topics=[TT(name="in", partitions=[TT.TxnOffsetCommitRequestPartition(
                partition_index=0, committed_offset=10, committed_leader_epoch=-1,
                committed_metadata="")])]))
        assert [p.error_code for t in staged.topics for p in t.partitions] == [0]

        def offset_fetch() -> tuple[int, int]:
            OT = OffsetFetchRequest.OffsetFetchRequestTopic
            resp = w.call(OffsetFetchRequest(version=7, group_id="g", require_stable=True,
                                             topics=[OT(name="in", partition_indexes=[0])]))
            part = resp.topics[0].partitions[0]
            return int(part.error_code), int(part.committed_offset)

        assert offset_fetch()[0] == 88  # UNSTABLE_OFFSET_COMMIT while it is open
        assert end_txn(w, "eos", pid, epoch, True) == 0
        assert offset_fetch() == (0, 10)


def test_txn_offset_commit_refuses_metadata_the_group_would_refuse(
        broker: BrokerProcess) -> None:
    # Kafka checks offset.metadata.max.bytes when TxnOffsetCommit stages an offset
    # (OFFSET_METADATA_TOO_LARGE, per partition). Accepted there, the offset would be
    # refused by the group at commit time, after the transaction's records were made
    # visible: a committed transaction without its offsets.
    from kafka.protocol.consumer import OffsetFetchRequest
    from kafka.protocol.producer import AddOffsetsToTxnRequest, TxnOffsetCommitRequest

    with Wire(broker.address) as w:
        create_topic(w, "in", partitions=2)
        r = init(w, "meta")
        pid, epoch = r.producer_id, r.producer_epoch
        assert w.call(AddOffsetsToTxnRequest(version=3, transactional_id="meta",
                                             producer_id=pid, producer_epoch=epoch,
                                             group_id="g")).error_code == 0
        TT = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
        TP_ = TT.TxnOffsetCommitRequestPartition
        staged = w.call(TxnOffsetCommitRequest(
            version=3, transactional_id="meta", group_id="g", producer_id=pid,
            producer_epoch=epoch, generation_id=-1, member_id="", group_instance_id=None,
            topics=[TT(name="in", partitions=[
                TP_(partition_index=0, committed_offset=5, committed_leader_epoch=-1,
                    committed_metadata="m" * 5000),
                TP_(partition_index=1, committed_offset=7, committed_leader_epoch=-1,
                    committed_metadata="ok")])]))
        codes = {p.partition_index: p.error_code for t in staged.topics for p in t.partitions}
        assert codes == {0: 12, 1: 0}  # OFFSET_METADATA_TOO_LARGE for partition 0 only
        assert end_txn(w, "meta", pid, epoch, True) == 0
        OT = OffsetFetchRequest.OffsetFetchRequestTopic
        resp = w.call(OffsetFetchRequest(version=7, group_id="g", require_stable=False,
                                         topics=[OT(name="in", partition_indexes=[0, 1])]))
        got = {p.partition_index: p.committed_offset for p in resp.topics[0].partitions}
        assert got == {0: -1, 1: 7}


def bounded(fn: Callable[[], Any], timeout_s: float) -> str:
    """Run a client call with a bound: "ok", "error" or "hung". Both clients can wait
    forever across coordinator restarts (kafka-python 3.0.12 loses a transactional
    request when the coordinator reconnects; librdkafka's send_offsets_to_transaction
    ignores its timeout, confluentinc/librdkafka#5456); a hung call is left behind in a
    daemon thread and its producer abandoned (the next instance fences it)."""
    import threading

    result: list[str] = []

    def run() -> None:
        try:
            fn()
            result.append("ok")
        except Exception:
            result.append("error")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    return result[0] if result else "hung"


def test_transactions_under_kills_and_restarts_are_atomic(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    # Jepsen-style: kafka-python transactions, each writing one value to two partitions
    # and committing the offset ``i + 1`` of a source partition for group "g", run
    # while the broker is SIGKILLed or stopped (SIGTERM: the group coordinator closes
    # before the ends in flight finish) and restarted at random moments. Afterwards a
    # read_committed reader must find every acknowledged commit on both partitions, no
    # acknowledged abort anywhere, every transaction of unknown outcome on both or
    # neither, and the group's offset must be that of the last visible transaction.
    import random
    import threading
    from functools import partial

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    rnd = random.Random(20261206)
    b = broker_factory({"log.flush.policy": "always"})
    with Wire(b.address) as w:
        create_topic(w, "out", partitions=2)
        create_topic(w, "src")
    faults_done = threading.Event()
    fault_log: list[str] = []

    def nemesis() -> None:
        try:
            for k in range(6):
                time.sleep(rnd.uniform(0.3, 1.0))
                if k % 2:
                    b.stop()
                    fault_log.append("stop")
                else:
                    b.kill()
                    fault_log.append("kill")
                b.start()
        finally:
            faults_done.set()

    def new_producer() -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="jepsen",
                             request_timeout_ms=2000, max_block_ms=4000,
                             reconnect_backoff_ms=50, retry_backoff_ms=50)

    outcome: dict[int, str] = {}
    producers: list[KafkaProducer] = []
    thread = threading.Thread(target=nemesis, daemon=True)
    thread.start()
    i = 0
    deadline = time.monotonic() + 5 * WAIT_S
    producer: KafkaProducer | None = None
    while not faults_done.is_set() or i < 40:
        assert time.monotonic() < deadline, f"only {i} transactions tried"
        if producer is None:
            made: list[KafkaProducer] = []

            def make(made: list[KafkaProducer] = made) -> None:
                made.append(new_producer())

            if bounded(make, 10) != "ok":
                time.sleep(0.2)
                continue
            producer = made[0]
            producers.append(producer)
            if bounded(producer.init_transactions, 10) != "ok":
                producer = None
                continue
        abort = rnd.random() < 0.2

        def body(n: int = i, txn: KafkaProducer = producer, abort: bool = abort) -> None:
            txn.begin_transaction()
            txn.send("out", b"%d" % n, partition=0)
            txn.send("out", b"%d" % n, partition=1)
            txn.send_offsets_to_transaction(
                {TopicPartition("src", 0): OffsetAndMetadata(n + 1, "", -1)}, "g")
            if abort:
                txn.abort_transaction()
            else:
                txn.commit_transaction()

        result = bounded(body, 10)
        outcome[i] = ("aborted" if abort else "committed") if result == "ok" else "unknown"
        if result != "ok":
            producer = None  # a new instance fences this one and ends its transaction
        i += 1
    thread.join()
    assert "kill" in fault_log and "stop" in fault_log
    last = new_producer()
    last.init_transactions()  # ends whatever an earlier instance left open
    last.close()
    for old in producers:
        bounded(partial(old.close, timeout=0), 5)

    def read(partition: int) -> list[int]:
        tp = TopicPartition("out", partition)
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, enable_auto_commit=False,
                          isolation_level="read_committed")
        try:
            c.assign([tp])
            plain = KafkaConsumer(bootstrap_servers=b.bootstrap)
            try:
                hw = plain.end_offsets([tp])[tp]
            finally:
                plain.close()
            wait_for("every transaction decided (LSO = HW)",
                     lambda: c.end_offsets([tp])[tp] >= hw)
            c.seek_to_beginning(tp)
            out: list[int] = []
            end = c.end_offsets([tp])[tp]
            limit = time.monotonic() + WAIT_S
            while c.position(tp) < end:
                assert time.monotonic() < limit, f"stuck at {c.position(tp)} < {end}"
                for msgs in c.poll(timeout_ms=200).values():
                    out.extend(int(m.value) for m in msgs)
            return out
        finally:
            c.close()

    p0, p1 = read(0), read(1)
    assert len(p0) == len(set(p0)), "a transaction's record appears twice"
    assert set(p0) == set(p1), f"partial transactions: {set(p0) ^ set(p1)}"
    visible = set(p0)
    lost = [k for k, o in outcome.items() if o == "committed" and k not in visible]
    aborted_read = [k for k, o in outcome.items() if o == "aborted" and k in visible]
    assert not lost and not aborted_read, (lost, aborted_read)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="g", enable_auto_commit=False)
    try:
        committed = c.committed(TopicPartition("src", 0))
    finally:
        c.close()
    expected = max(visible) + 1 if visible else None
    assert committed == expected, f"group offset {committed}, last visible txn {expected}"


def test_fencing_an_open_transaction_hands_out_a_fresh_epoch(broker: BrokerProcess) -> None:
    # The abort markers of a fenced transaction carry the bumped epoch; the new
    # producer gets the epoch after it (Kafka never hands out the fencing epoch), and
    # starts its sequences at 0 there.
    from kafka.protocol.admin import DescribeProducersRequest

    with Wire(broker.address) as w:
        create_topic(w, "fz")
        r = init(w, "fz")
        pid = r.producer_id
        assert add(w, "fz", pid, 0, "fz") == 0
        assert produce_txn(w, "fz", "fz", pid, 0, 0) == (0, 0)
        again = init(w, "fz")  # a new instance: the open transaction is aborted
        assert (again.producer_id, again.producer_epoch) == (pid, 2)
        described = w.call(DescribeProducersRequest(version=0, topics=[
            DescribeProducersRequest.TopicRequest(name="fz", partition_indexes=[0])]))
        states = described.topics[0].partitions[0].active_producers
        assert [(s.producer_id, s.producer_epoch, s.current_txn_start_offset)
                for s in states] == [(pid, 1, -1)]  # aborted by a marker of epoch 1
        assert produce_txn(w, "fz", "fz", pid, 1, 2)[0] == 47  # the fence epoch: fenced
        assert add(w, "fz", pid, 2, "fz") == 0
        assert produce_txn(w, "fz", "fz", pid, 2, 1)[0] == 45  # OUT_OF_ORDER: not 0
        assert produce_txn(w, "fz", "fz", pid, 2, 0) == (0, 3)
        assert end_txn(w, "fz", pid, 2, True) == 0
        part = fetch_committed(w, "fz", 0)
        assert [(a.producer_id, a.first_offset) for a in part.aborted_transactions] == [
            (pid, 0)]
        assert part.last_stable_offset == part.high_watermark == 6
