"""The definite/indefinite table for client errors."""

from __future__ import annotations

from harness.workload._errors import classify_read, classify_send

NOT_LEADER, TIMED_OUT, TOO_LARGE, AFTER_APPEND = 6, 7, 10, 20


def test_without_retries_a_broker_rejection_is_definite() -> None:
    assert classify_send(NOT_LEADER) == "fail"
    assert classify_send(TOO_LARGE) == "fail"


def test_with_retries_only_deterministic_rejections_stay_definite() -> None:
    # an earlier attempt may have timed out after the append: NOT_LEADER proves nothing
    assert classify_send(NOT_LEADER, retries=3) == "info"
    assert classify_send(TOO_LARGE, retries=3) == "fail"


def test_timeouts_and_unknown_errors_are_indefinite() -> None:
    assert classify_send(TIMED_OUT) == "info"
    assert classify_send(AFTER_APPEND) == "info"
    assert classify_send(12345) == "info"
    assert classify_send(exception="KafkaTimeoutError") == "info"


def test_nothing_sent_is_definite() -> None:
    assert classify_send(exception="NoBrokersAvailable") == "fail"
    assert classify_read(exception="NoBrokersAvailable") == "fail"
    assert classify_read(exception="KafkaConnectionError") == "info"
