"""Planted bug early-retention on one node: a closed segment whose first record is
old but whose last record is young is deleted with the bug, kept without it
(records younger than retention.ms stay readable)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reference_broker.protocol import errors

from ._wire import Wire, create_topic, fetch, list_offset, make_batch, produce

RETENTION_MS = 3000
CONFIG = {"log.retention.check.interval.ms": "100", "log.flush.policy": "never"}


@pytest.mark.parametrize("bug", [False, True], ids=["correct", "early-retention"])
def test_young_records_in_an_old_segment(broker_factory: Any, bug: bool) -> None:
    b = broker_factory({**CONFIG, **({"logtrial.bugs": "early-retention"} if bug else {})})
    with Wire(b.address) as w:
        create_topic(w, "er", configs={"segment.bytes": "1024",
                                       "retention.ms": str(RETENTION_MS)})
        now = int(time.time() * 1000)
        # The segment's first record is almost expired, the next one brand new...
        assert produce(w, "er", make_batch(1, ts=now - RETENTION_MS + 200))[0] == 0
        young = produce(w, "er", make_batch(2, ts=now, value=b"young"))[1]
        # ...and a batch too big for what is left of it rolls the segment.
        assert produce(w, "er", make_batch(1, value=b"z" * 900))[0] == 0
        assert list_offset(w, "er", -1) == 4
        # Wait well past the first record's expiry, but not the young one's.
        time.sleep(1.2)
        start = list_offset(w, "er", -2)
        got = fetch(w, "er", young)
        assert time.time() * 1000 - now < RETENTION_MS - 500  # the young are still young
        if bug:
            assert start > young, "the bug should have deleted the young records"
            assert got.error_code == errors.OFFSET_OUT_OF_RANGE
        else:
            assert start == 0
            assert got.error_code == 0 and got.records
