"""``offsets`` key by key (`_offsets_each`): a key whose lookup fails is left out, so
one partition without a known leader does not hide what the others observed (seen
under ``stale-leader-read``: a cut-off node's Metadata names no leader for the
partitions it follows, and the whole op used to fail)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.workload._clients import ClientError, _offsets_each


def _reader(fail: set[str], seen: list[tuple[str, float]]) -> Callable[[str, float], list[int]]:
    def read_one(k: str, timeout_s: float) -> list[int]:
        seen.append((k, timeout_s))
        if k in fail:
            raise ClientError("fail", ["no-leader", f"no leader known for key {k}"])
        return [0, int(k) * 10]
    return read_one


def test_a_failed_key_is_left_out() -> None:
    seen: list[tuple[str, float]] = []
    got = _offsets_each(["1", "2", "3"], 6.0, _reader({"2"}, seen))
    assert got == {"1": [0, 10], "3": [0, 30]}
    assert [k for k, _ in seen] == ["1", "2", "3"]
    assert 1.9 < seen[0][1] <= 2.0  # the timeout is shared among the keys left


def test_the_op_fails_only_when_every_key_does() -> None:
    with pytest.raises(ClientError, match="key 2") as e:
        _offsets_each(["1", "2"], 1.0, _reader({"1", "2"}, []))
    assert e.value.outcome == "fail"


def test_no_time_left_is_a_failure() -> None:
    with pytest.raises(ClientError, match="no time left"):
        _offsets_each(["1"], 0.0, _reader(set(), []))
