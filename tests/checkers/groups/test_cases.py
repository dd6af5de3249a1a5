"""Property tests: a simulated correct consumer group is always valid; the same group
whose coordinator forgets its commits at a rebalance is caught; bad input is a clear
error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checkers.groups import GroupsCheckOptions, check
from harness.errors import HistoryError, UsageError
from harness.history import History, op_from_dict

N_RECORDS = 30
#: one generation: (owner process, steps); a step reads that many records (>= 1),
#: commits (0) or fetches the committed offset (-1)
generations = st.lists(
    st.tuples(st.integers(0, 3), st.lists(st.integers(-1, 4), min_size=1, max_size=6)),
    min_size=1, max_size=6)


def simulate(gens: list[tuple[int, list[int]]], forget_at: int | None = None) -> History:
    """One key, records 0..N-1; each generation's owner resumes from the committed
    offset, reads contiguously, commits its position and fetches the committed offset.
    At generation ``forget_at`` the coordinator has lost its commits: fetches return
    none and the owner resumes from 0 (until the next commit)."""
    ops: list[dict[str, Any]] = []

    def add(p: int, typ: str, f: str, value: Any, mem: Any = None) -> None:
        d: dict[str, Any] = {"index": len(ops), "time": len(ops), "process": p, "type": typ,
                             "f": f, "value": value}
        if mem is not None:
            d["membership"] = mem
        ops.append(d)

    for o in range(N_RECORDS):
        add(9, "invoke", "send", [["send", "k", 100 + o]])
        add(9, "ok", "send", [["send", "k", [o, 100 + o]]])
    for p in range(4):
        add(p, "invoke", "subscribe", ["k"])
        add(p, "ok", "subscribe", ["k"])
    committed: int | None = None
    epochs = [0] * 4
    for g, (owner, steps) in enumerate(gens, start=1):
        epochs[owner] += 1
        mem = {"generation": g, "member": f"m{owner}", "keys": ["k"], "epoch": epochs[owner]}
        if forget_at == g:
            committed = None
        pos = committed or 0
        for n in steps:
            if n == -1:
                add(owner, "invoke", "committed", ["k"])
                add(owner, "ok", "committed", {"k": committed}, mem)
            elif n == 0:
                add(owner, "invoke", "commit", None)
                add(owner, "ok", "commit", {"k": pos}, mem)
                committed = pos
            else:
                got = [[o, 100 + o] for o in range(pos, min(pos + n, N_RECORDS))]
                add(owner, "invoke", "poll", [["poll"]])
                add(owner, "ok", "poll", [["poll", {"k": got} if got else {}]], mem)
                pos += len(got)
    return History.of(op_from_dict(d, i) for i, d in enumerate(ops))


@given(generations)
def test_a_correct_group_is_valid(gens: list[tuple[int, list[int]]]) -> None:
    r = check(simulate(gens))
    assert r.anomalies == {}, r.to_json()
    assert r.valid is True


@given(generations, st.data())
def test_forgotten_commits_are_caught(gens: list[tuple[int, list[int]]],
                                      data: st.DataObject) -> None:
    g = data.draw(st.integers(1, len(gens)))
    committed_before = 0
    any_commit = False
    pos = 0
    for owner_steps in gens[:g - 1]:
        for n in owner_steps[1]:
            if n == 0:
                committed_before = pos
                any_commit = True
            elif n > 0:
                pos = min(pos + n, N_RECORDS)
        pos = committed_before
    steps = gens[g - 1][1]
    # before the generation's first commit, the loss shows in its reads and fetches
    before = steps[:steps.index(0)] if 0 in steps else steps
    r = check(simulate(gens, forget_at=g))
    if committed_before > 0 and any(n > 0 for n in before):
        assert "offset-reset-below-commit" in r.anomalies, r.to_json()
        w = r.anomalies["offset-reset-below-commit"][0]
        assert w["offsets"] == [committed_before, 0]
        assert r.valid is False
    if any_commit and -1 in before:
        assert "lost-commit" in r.anomalies, r.to_json()
        assert r.anomalies["lost-commit"][0]["offsets"] == [committed_before, -1]
    if not any_commit:
        assert r.anomalies == {}


def test_an_assign_history_is_unknown() -> None:
    h = History.of([op_from_dict({"process": 0, "type": "invoke", "f": "poll",
                                  "value": [["poll"]]}, 0),
                    op_from_dict({"process": 0, "type": "ok", "f": "poll",
                                  "value": [["poll", {}]]}, 1)])
    r = check(h)
    assert r.valid == "unknown" and r.error and "nothing to check" in r.error


@pytest.mark.parametrize("value, membership, match", [
    (["k", 1], None, "must be a map"),
    ({"k": "1"}, None, "must be an integer"),
    ({"k": 1}, "gen-1", "membership must be a map"),
    ({"k": 1}, {"generation": "1", "keys": []}, "generation must be an integer"),
])
def test_malformed_commits_are_clear_errors(value: Any, membership: Any, match: str) -> None:
    ops = [{"process": 0, "type": "invoke", "f": "commit", "value": None},
           {"process": 0, "type": "ok", "f": "commit", "value": value,
            "membership": membership}]
    with pytest.raises(HistoryError, match=match):
        check(History.of(op_from_dict(d, i) for i, d in enumerate(ops)))


def test_bad_options_say_what_is_expected() -> None:
    with pytest.raises(UsageError, match="expected some of"):
        GroupsCheckOptions(allow=frozenset({"lost-write"}))
    with pytest.raises(UsageError, match="acks"):
        GroupsCheckOptions(acks="2")
    assert GroupsCheckOptions(allow=frozenset({"double-owner"})).classify("double-owner") \
        == "allowed"
