"""Retention end to end with tiny segments and short retention."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from reference_broker.protocol import errors

from ._wire import Wire, create_topic, fetch, list_offset, make_batch, produce

SEGMENT = 1024
CHECK = {"log.retention.check.interval.ms": "100", "log.flush.policy": "never"}


def _segments_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.glob("*.log"))


def test_time_retention(broker_factory: Any) -> None:
    b = broker_factory(CHECK)
    retention_ms = 1500
    with Wire(b.address) as w:
        create_topic(w, "rt", configs={"segment.bytes": str(SEGMENT),
                                       "retention.ms": str(retention_ms)})
        t0 = time.time()
        for _ in range(20):
            assert produce(w, "rt", make_batch(4, value=b"x" * 40, ts=int(t0 * 1000)))[0] == 0
        end = list_offset(w, "rt", -1)
        assert end == 80
        # nothing is deleted while the records are younger than retention.ms
        time.sleep(0.6)
        assert list_offset(w, "rt", -2) == 0
        assert fetch(w, "rt", 0).error_code == 0
        # once they are older, whole closed segments go and the start moves forward
        starts = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            starts.append(list_offset(w, "rt", -2))
            if starts[-1] > 0:
                break
            time.sleep(0.1)
        assert time.time() - t0 >= retention_ms / 1000
        start = starts[-1]
        assert 0 < start <= end
        assert starts == sorted(starts)  # never moves back
        p = fetch(w, "rt", 0)
        assert p.error_code == errors.OFFSET_OUT_OF_RANGE
        assert p.log_start_offset == start
        assert fetch(w, "rt", start).error_code == 0
        # new records after the old ones still count from the end: offsets never reused
        assert produce(w, "rt", make_batch(1))[1] == end
    # the log start offset survives a restart
    b.restart()
    with Wire(b.address) as w:
        assert list_offset(w, "rt", -2) >= start
        assert list_offset(w, "rt", -1) == end + 1


def test_size_retention_keeps_within_bytes_plus_one_segment(broker_factory: Any) -> None:
    b = broker_factory(CHECK)
    retention_bytes = 4 * SEGMENT
    with Wire(b.address) as w:
        create_topic(w, "rs", configs={"segment.bytes": str(SEGMENT),
                                       "retention.bytes": str(retention_bytes)})
        for _ in range(60):
            assert produce(w, "rs", make_batch(3, value=b"y" * 60))[0] == 0
        d = b.data_dir / "rs-0"
        assert _segments_bytes(d) > retention_bytes + SEGMENT
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _segments_bytes(d) > retention_bytes + SEGMENT:
            time.sleep(0.1)
        assert _segments_bytes(d) <= retention_bytes + SEGMENT
        start = list_offset(w, "rs", -2)
        assert start > 0
        assert fetch(w, "rs", start - 1).error_code == errors.OFFSET_OUT_OF_RANGE
        assert list_offset(w, "rs", -1) == 180


def test_alter_retention_applies_to_a_live_topic(broker_factory: Any) -> None:
    from kafka.protocol.admin import IncrementalAlterConfigsRequest

    b = broker_factory(CHECK)
    with Wire(b.address) as w:
        create_topic(w, "ra", configs={"segment.bytes": str(SEGMENT)})
        for _ in range(30):
            assert produce(w, "ra", make_batch(3, value=b"z" * 60,
                                               ts=int(time.time() * 1000) - 60_000))[0] == 0
        time.sleep(0.4)
        assert list_offset(w, "ra", -2) == 0  # default retention: 7 days
        R = IncrementalAlterConfigsRequest.AlterConfigsResource
        resp = w.call(IncrementalAlterConfigsRequest(version=1, validate_only=False, resources=[
            R(resource_type=2, resource_name="ra", configs=[R.AlterableConfig(
                name="retention.ms", config_operation=0, value="1000")])]))
        assert resp.responses[0].error_code == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and list_offset(w, "ra", -2) == 0:
            time.sleep(0.1)
        assert list_offset(w, "ra", -2) > 0
