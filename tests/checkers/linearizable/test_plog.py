"""The persistent log agrees with a plain list of records."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from harness.checkers.linearizable._plog import EMPTY, PLog, from_records


@given(st.lists(st.integers(1, 3), max_size=60), st.lists(st.integers(-2, 200), max_size=20))
def test_find_matches_a_list(gaps: list[int], probes: list[int]) -> None:
    recs: list[tuple[int, int]] = []
    log: PLog = EMPTY
    off = -1
    for i, g in enumerate(gaps):
        off += g
        recs.append((off, i))
        log = log.append(off, i)
    assert log.records() == recs
    assert len(log) == len(recs)
    assert log.last == (recs[-1][0] if recs else -1)
    table = dict(recs)
    for p in [*probes, *table]:
        assert log.get(p, "none") == table.get(p, "none")


@given(st.lists(st.integers(0, 3), max_size=30))
def test_equal_logs_built_apart_are_equal(vals: list[int]) -> None:
    a = from_records([(i, v) for i, v in enumerate(vals)])
    b = from_records([(i, v) for i, v in enumerate(vals)])
    assert a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    if vals:
        c = from_records([(i, v) for i, v in enumerate(vals[:-1])]).append(len(vals) - 1, 99)
        assert c != a
        assert a != from_records([(i, v) for i, v in enumerate(vals[:-1])])
