"""The log checker's ``deleted_below`` exemption: records retention may have deleted
are not lost, unseen or skipped; everything at or above the mark still is."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.log import LogCheckOptions, check
from harness.checkers.retention import observed_log_starts
from harness.errors import UsageError
from tests.checkers.log._build import hist

SENDS: list[tuple[Any, ...]] = [(0, "ok", "send", [["send", "k", [i, 10 + i]]])
                                for i in range(4)]


def test_unread_records_below_the_log_start_are_neither_lost_nor_unseen() -> None:
    h = hist(*SENDS, (1, "ok", "poll", [["poll", {"k": [[2, 12], [3, 13]]}]]))
    assert check(h).counts == {"lost-write": 2, "unseen": 2}
    assert check(h, LogCheckOptions(deleted_below={"k": 2})).anomalies == {}
    r = check(h, LogCheckOptions(deleted_below={"k": 1}))
    assert r.counts == {"lost-write": 1, "unseen": 1} and r.valid is False
    assert r.anomalies["lost-write"][0]["offsets"] == [1]
    assert check(h, LogCheckOptions(deleted_below={"other": 9})).counts == {
        "lost-write": 2, "unseen": 2}
    assert "deleted_below" in r.stats["notes"][0]


def test_a_skip_over_deleted_records_is_a_reset_not_a_poll_skip() -> None:
    h = hist(*SENDS, (1, "ok", "poll", [["poll", {"k": [[0, 10]]}]]),
             (1, "ok", "poll", [["poll", {"k": [[3, 13]]}]]))
    assert "poll-skip" in check(h).anomalies
    assert check(h, LogCheckOptions(deleted_below={"k": 3})).anomalies == {}
    r = check(h, LogCheckOptions(deleted_below={"k": 2}))  # record 2 was skipped, not gone
    assert "poll-skip" in r.anomalies and r.valid is False


def test_runs_pass_the_highest_observed_log_start() -> None:
    h = hist(*SENDS, (2, "ok", "offsets", {"k": [1, 4]}), (2, "ok", "offsets", {"k": [2, 4]}),
             (1, "ok", "poll", [["poll", {"k": [[2, 12], [3, 13]]}]]))
    below = observed_log_starts(h)
    assert below == {"k": 2}
    assert check(h, LogCheckOptions(deleted_below=below)).valid is True


@pytest.mark.parametrize("below", [{"k": -1}, {"k": "3"}, {"k": True}])
def test_bad_deleted_below_is_a_usage_error(below: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="deleted_below"):
        LogCheckOptions(deleted_below=below)
