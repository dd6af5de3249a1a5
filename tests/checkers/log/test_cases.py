"""Small hand-written cases per anomaly family, most after Jepsen's own kafka tests,
checking the witnesses' details (ops, deltas, skipped values), not only the type."""

from __future__ import annotations

from typing import Any

from harness.checkers.log import check
from tests.checkers.log._build import hist

X, Y = "x", "y"


def snd(k: str, o: int | None, v: Any) -> list[Any]:
    return ["send", k, [o, v]] if o is not None else ["send", k, v]


def pol(d: dict[str, Any]) -> list[Any]:
    return ["poll", d]


def types(h: Any) -> dict[str, int]:
    return dict(check(h).counts)


# ---------------------------------------------------------------- offsets
def test_info_send_conflict_counts_only_when_proven_committed() -> None:
    base = [(0, "info", "send", [snd(X, 0, 1), snd(Y, None, 1)]),
            (1, "ok", "send", [snd(X, 0, 2)]),
            (1, "ok", "poll", [pol({X: [[0, 2]]})])]
    assert "inconsistent-offsets" not in types(hist(*base))
    # a read of the info op's other value proves it committed: now offset 0 diverges
    r = check(hist(*base, (2, "ok", "poll", [pol({Y: [[5, 1]]})])))
    [w] = r.anomalies["inconsistent-offsets"]
    assert w["key"] == X and w["offsets"] == [0] and sorted(w["values"]) == [1, 2]
    assert r.valid is False


def test_two_acks_at_one_offset() -> None:
    # Jepsen's real-world example: two sends both acknowledged at offset 537.
    h = hist((379, "ok", "send", [snd("11", 537, 641)]),
             (363, "ok", "send", [snd("11", 537, 645)]))
    w = check(h).anomalies["inconsistent-offsets"][0]
    assert w["offsets"] == [537] and w["values"] == [641, 645] and w["index"] == 0
    assert w["ops"] == [1, 3]


def test_duplicate_basic_and_aborted_poll() -> None:
    h = hist((0, "ok", "send", [snd(X, 1, "a")]),
             (1, "info", "send", [snd(X, None, "b")]),
             (2, "ok", "poll", [pol({X: [[2, "b"], [3, "a"]]})]))
    [w] = check(h).anomalies["duplicate"]
    assert w["values"] == ["a"] and w["offsets"] == [1, 3] and w["count"] == 2
    # a failed poll still counts (consumers must never return bad data); a failed
    # send's offset does not
    h = hist((0, "ok", "send", [snd(X, 1, 0)]),
             (0, "fail", "send", [snd(X, 2, 1)]),
             (1, "fail", "poll", [pol({X: [[11, 0], [12, 1]]})]))
    dups = check(h).anomalies["duplicate"]
    assert [(w["values"], w["offsets"]) for w in dups] == [([0], [1, 11])]


def test_duplicates_are_found_whatever_the_order() -> None:
    specs = []
    for v in range(10):
        specs += [(0, "ok", "send", [snd(X, 0, v)]), (1, "ok", "poll", [pol({X: [[1, v]]})])]
    r = check(hist(*specs))
    assert sorted(w["values"][0] for w in r.anomalies["duplicate"]) == list(range(10))
    assert [w["offsets"] for w in r.anomalies["inconsistent-offsets"]] == [[0], [1]]


# ---------------------------------------------------------------- writes
def test_lost_write_consistent() -> None:
    h = hist((0, "ok", "send", [snd(X, 0, "a")]),
             (0, "ok", "send", [snd(X, 1, "b"), snd(X, 3, "d")]),
             (1, "info", "send", [snd(X, None, "c")]),
             (0, "ok", "poll", [pol({X: [[2, "c"]]})]))
    r = check(h)
    lost = r.anomalies["lost-write"]
    assert [(w["values"], w["index"], w["max_read_index"]) for w in lost] == [
        (["a"], 0, 2), (["b"], 1, 2)]
    assert lost[0]["ops"] == [1, 7]  # the writer, then the op that read past it
    assert "d" not in [w["values"][0] for w in lost]  # above the bound: merely unseen


def test_lost_write_with_inconsistent_offsets() -> None:
    h = hist((0, "ok", "send", [snd(X, 0, "a")]),
             (0, "ok", "send", [snd(X, 0, "b"), snd(X, 2, "c")]),
             (0, "ok", "poll", [pol({X: [[0, "b"], [2, "c"]]})]))
    [w] = check(h).anomalies["lost-write"]
    assert w["values"] == ["a"] and w["max_read_index"] == 1


def test_lost_write_of_info_op_needs_proof_it_committed() -> None:
    send_ab = (0, "info", "send", [snd(X, None, "a"), snd(Y, 0, "b")])
    send_c = (1, "info", "send", [snd(Y, None, "c")])
    poll_a = (2, "ok", "poll", [pol({X: [[0, "a"]]})])
    poll_c = (3, "ok", "poll", [pol({Y: [[1, "c"]]})])
    assert "lost-write" not in types(hist(send_ab, send_c, poll_c))
    [w] = check(hist(send_ab, send_c, poll_a, poll_c)).anomalies["lost-write"]
    assert w["key"] == Y and w["values"] == ["b"] and w["max_read_index"] == 1


def test_g1a_names_writer_and_reader() -> None:
    h = hist((0, "fail", "send", [snd(X, None, 2), snd(Y, None, 3)]),
             (1, "ok", "poll", [pol({X: [[0, 2]]})]))
    [w] = check(h).anomalies["G1a"]
    assert w["ops"] == [1, 3] and w["key"] == X and w["values"] == [2]


def test_failed_poll_of_failed_write_is_not_g1a() -> None:
    h = hist((0, "fail", "send", [snd(X, None, 2)]),
             (1, "fail", "poll", [pol({X: [[0, 2]]})]))
    assert "G1a" not in types(h)


def test_precommitted_read() -> None:
    h = hist((0, "ok", "txn", [snd(X, 0, "a"), pol({X: [[0, "a"]]})]))
    [w] = check(h).anomalies["precommitted-read"]
    assert w["ops"] == [1] and w["values"] == ["a"]


def test_unseen_counts_ok_sends_never_read_by_ok_ops() -> None:
    h = hist((0, "ok", "poll", [pol({})]),
             (0, "ok", "send", [snd(X, 0, "a"), snd(X, 1, "b")]),
             (0, "ok", "poll", [pol({X: [[0, "a"]]})]),
             (1, "fail", "poll", [pol({X: [[1, "b"]]})]))
    r = check(h)
    assert r.counts["unseen"] == 1 and r.anomalies["unseen"][0]["values"] == ["b"]
    assert r.stats["keys"][X]["unseen"] == 1


# ---------------------------------------------------------------- polls
POLL_SKIP = [
    (0, "ok", "poll", [pol({X: [[1, "a"], [2, "b"]]})]),
    (1, "ok", "poll", [pol({X: [[3, "c"]]})]),
    (0, "ok", "poll", [pol({X: [[4, "d"]]})]),
    (2, "ok", "send", [snd(X, 6, "f")]),
    (0, "ok", "poll", [pol({X: [[7, "g"]]})]),
    (3, "info", "send", [snd(X, None, v) for v in "abcdg"]),
]


def test_poll_skip() -> None:
    r = check(hist(*POLL_SKIP))
    ws = r.anomalies["poll-skip"]
    assert [(w["delta"], w["skipped"], w["ops"]) for w in ws] == [
        (2, ["c"], [1, 5]), (2, ["f"], [5, 9])]


def test_poll_skip_forgotten_by_assign_without_the_key() -> None:
    h = hist(*POLL_SKIP[:2], (0, "ok", "subscribe", [Y]), *POLL_SKIP[2:3],
             (0, "info", "assign", [Y]), *POLL_SKIP[3:])
    assert "poll-skip" not in types(h)
    h = hist(*POLL_SKIP[:2], (0, "ok", "subscribe", [X, Y]), *POLL_SKIP[2:3],
             (0, "ok", "assign", [X, Y]), *POLL_SKIP[3:])
    assert check(h).counts["poll-skip"] == 2


def test_aborted_polls_must_rewind() -> None:
    sends = (0, "ok", "send", [snd(X, i, i) for i in range(6)])
    good = hist(sends,
                (1, "ok", "txn", [pol({X: [[0, 0]]})]),
                (1, "fail", "txn", [pol({X: [[1, 1], [2, 2]]})]),
                (1, "ok", "txn", [pol({X: [[1, 1], [2, 2]]})]),
                (1, "ok", "txn", [pol({X: [[3, 3], [4, 4], [5, 5]]})]))
    assert check(good).anomalies == {}
    bad = hist(sends,
               (1, "ok", "txn", [pol({X: [[0, 0]]})]),
               (1, "fail", "txn", [pol({X: [[1, 1], [2, 2]]})]),
               (1, "fail", "txn", [pol({X: [[3, 3], [4, 4]]})]),
               (1, "ok", "txn", [pol({X: [[5, 5]]})]))
    ws = check(bad).anomalies["poll-skip"]
    assert [(w["delta"], w["skipped"], w["ops"]) for w in ws] == [
        (3, [1, 2], [3, 7]), (5, [1, 2, 3, 4], [3, 9])]


def test_info_poll_is_checked_then_forgets_the_process() -> None:
    sends = (0, "ok", "send", [snd(X, i, i) for i in range(6)])
    h = hist(sends,
             (1, "ok", "txn", [pol({X: [[0, 0]]})]),
             (1, "info", "txn", [pol({X: [[3, 3], [4, 4]]})]),
             (1, "ok", "txn", [pol({X: [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]})]))
    ws = check(h).anomalies["poll-skip"]
    assert [(w["delta"], w["ops"]) for w in ws] == [(3, [3, 5])]


def test_nonmonotonic_poll() -> None:
    sends = (0, "ok", "send", [snd(X, i, v) for i, v in enumerate("abcde")])
    h = hist(sends,
             (0, "ok", "poll", [pol({X: [[1, "b"], [2, "c"], [3, "d"]]})]),
             (0, "ok", "poll", [pol({X: [[2, "c"], [3, "d"], [4, "e"]]})]))
    [w] = check(h).anomalies["nonmonotonic-poll"]
    assert w["values"] == ["d", "c"] and w["delta"] == -1 and w["ops"] == [3, 5]
    h2 = hist(sends,
              (0, "ok", "poll", [pol({X: [[1, "b"], [2, "c"], [3, "d"]]})]),
              (0, "ok", "assign", [Y]),
              (0, "ok", "poll", [pol({X: [[2, "c"], [3, "d"], [4, "e"]]})]))
    assert "nonmonotonic-poll" not in types(h2)


def test_crash_forgets_the_process() -> None:
    sends = (0, "ok", "send", [snd(X, i, i) for i in range(3)])
    h = hist(sends,
             (1, "ok", "poll", [pol({X: [[0, 0], [1, 1], [2, 2]]})]),
             (1, "info", "crash", None),
             (1, "ok", "poll", [pol({X: [[0, 0], [1, 1], [2, 2]]})]))
    assert check(h).anomalies == {}


def test_seek_to_beginning_forgets_reads() -> None:
    sends = (0, "ok", "send", [snd(X, i, i) for i in range(3)])
    read = (1, "ok", "poll", [pol({X: [[0, 0], [1, 1], [2, 2]]})])
    assert "nonmonotonic-poll" in types(hist(sends, read, (1, "ok", "assign", [X]), read))
    h = hist(sends, read, (1, "ok", "assign", [X], {"seek-to-beginning?": True}), read)
    assert check(h).anomalies == {}


def test_int_poll_skip_within_and_across_poll_mops() -> None:
    h = hist((1, "info", "send", [snd(X, None, v) for v in "abd"]),
             (0, "ok", "poll", [pol({X: [[1, "a"], [4, "d"]]})]),
             (2, "ok", "poll", [pol({X: [[1, "a"]]}), pol({X: [[4, "d"]]})]),
             (3, "ok", "poll", [pol({X: [[2, "b"]]})]))
    ws = check(h).anomalies["int-poll-skip"]
    assert [(w["values"], w["skipped"], w["delta"], w["ops"]) for w in ws] == [
        (["a", "d"], ["b"], 2, [3]), (["a", "d"], ["b"], 2, [5])]


def test_int_poll_skip_excused_by_rebalance_log() -> None:
    h = hist((1, "info", "send", [snd(X, None, v) for v in "abd"]),
             (0, "ok", "poll", [pol({X: [[1, "a"], [4, "d"]]})],
              {"rebalance-log": [{"keys": [X]}]}),
             (3, "ok", "poll", [pol({X: [[2, "b"]]})]))
    assert "int-poll-skip" not in types(h)


def test_gaps_in_offsets_are_not_skips() -> None:
    # transaction markers take offsets no poll ever returns
    h = hist((0, "ok", "txn", [snd(X, 0, "a"), snd(X, 1, "b")]),
             (0, "ok", "txn", [snd(X, 3, "c")]),
             (1, "ok", "poll", [pol({X: [[0, "a"], [1, "b"]]})]),
             (1, "ok", "poll", [pol({X: [[3, "c"]]})]),
             (2, "ok", "poll", [pol({X: [[0, "a"], [1, "b"], [3, "c"]]})]))
    assert check(h).anomalies == {}


def test_int_nonmonotonic_poll() -> None:
    h = hist((0, "info", "send", [snd(X, None, v) for v in "abc"]),
             (0, "ok", "poll", [pol({X: [[3, "c"], [1, "a"]]})]),
             (0, "ok", "poll", [pol({X: [[2, "b"], [3, "c"]]}), pol({X: [[3, "c"]]})]))
    ws = check(h).anomalies["int-nonmonotonic-poll"]
    assert [(w["values"], w["delta"], w["ops"]) for w in ws] == [
        (["c", "a"], -2, [3]), (["c", "c"], 0, [5])]


# ---------------------------------------------------------------- sends
def test_int_send_skip_places_sends_by_polled_offsets() -> None:
    h = hist((0, "ok", "send", [snd(X, 1, "a"), snd(X, None, "c")]),
             (1, "info", "send", [snd(X, None, "b")]),
             (2, "ok", "poll", [pol({X: [[1, "a"], [2, "b"], [3, "c"]]})]))
    r = check(h)
    [w] = r.anomalies["int-send-skip"]
    assert (w["values"], w["skipped"], w["delta"], w["ops"]) == (["a", "c"], ["b"], 2, [1])
    assert r.classification["int-send-skip"] == "allowed" and r.valid is True


def test_int_nonmonotonic_send() -> None:
    h = hist((0, "ok", "send", [snd(X, 3, "c"), snd(X, 1, "a")]),
             (0, "info", "send", [snd(Y, None, "d"), snd(Y, None, "b")]),
             (1, "info", "send", [snd(Y, None, "c")]),
             (0, "ok", "poll", [pol({Y: [[2, "b"], [3, "c"], [4, "d"]]})]))
    ws = check(h).anomalies["int-nonmonotonic-send"]
    assert [(w["key"], w["values"], w["delta"], w["ops"]) for w in ws] == [
        (X, ["c", "a"], -1, [1]), (Y, ["d", "b"], -2, [3])]


def test_nonmonotonic_send() -> None:
    s34 = (0, "ok", "send", [snd(X, 3, "c"), snd(X, 4, "d")])
    s12 = (0, "ok", "send", [snd(X, 1, "a"), snd(X, 2, "b")])
    [w] = check(hist(s34, s12)).anomalies["nonmonotonic-send"]
    assert (w["values"], w["delta"], w["ops"]) == (["d", "a"], -3, [1, 3])
    assert "nonmonotonic-send" not in types(hist(s34, (0, "ok", "assign", [Y]), s12))
    assert "nonmonotonic-send" in types(hist(s34, (0, "ok", "subscribe", [X, Y]), s12))


# ---------------------------------------------------------------- cycles
def test_g0_write_cycle() -> None:
    h = hist((0, "invoke", "send", [["send", X, "a"], ["send", Y, "a"]]),
             (1, "invoke", "send", [["send", X, "b"], ["send", Y, "b"]]),
             (0, "ok", "send", [snd(X, 0, "a"), snd(Y, 1, "a")]),
             (1, "ok", "send", [snd(X, 1, "b"), snd(Y, 0, "b")]))
    r = check(h)
    [w] = r.anomalies["G0"]
    assert sorted(w["ops"][:-1]) == [2, 3] and w["ops"][0] == w["ops"][-1]
    assert {s["type"] for s in w["steps"]} == {"ww"}
    assert r.classification["G0"] == "allowed"


def test_g1c_pure_wr_cycle() -> None:
    h = hist((0, "invoke", "txn", [["send", X, "a"], ["poll"]]),
             (1, "invoke", "txn", [["send", Y, "b"], ["poll"]]),
             (0, "ok", "txn", [snd(X, 0, "a"), pol({Y: [[0, "b"]]})]),
             (1, "ok", "txn", [snd(Y, 0, "b"), pol({X: [[0, "a"]]})]))
    r = check(h)
    [w] = r.anomalies["G1c"]
    assert {s["type"] for s in w["steps"]} == {"wr"} and r.valid is False


def test_ww_wr_cycles_are_not_g1c() -> None:
    # Jepsen: without write isolation, cycles mixing ww and wr edges are normal
    h = hist((0, "invoke", "txn", [["send", X, "a"], ["send", Y, "c"]]),
             (1, "invoke", "txn", [["poll"], ["send", Y, "b"]]),
             (0, "ok", "txn", [snd(X, 0, "a"), snd(Y, 2, "c")]),
             (1, "ok", "txn", [pol({X: [[0, "a"]]}), snd(Y, 1, "b")]),
             (2, "ok", "poll", [pol({Y: [[1, "b"], [2, "c"]]})]))
    assert check(h).anomalies == {}


def test_single_offset_skip_revealed_only_later_is_found() -> None:
    # the first pass takes an unknown single offset for a transaction marker; a
    # record that shows up there later must still make the skip an anomaly
    sends = [(0, "ok", "send", [snd(X, 0, 10)]), (0, "ok", "send", [snd(X, 2, 12)])]
    late_ack = [(3, "invoke", "send", [["send", X, 11]])]
    within = hist(*sends, *late_ack, (1, "ok", "poll", [pol({X: [[0, 10], [2, 12]]})]),
                  (3, "ok", "send", [snd(X, 1, 11)]),
                  (2, "ok", "poll", [pol({X: [[0, 10], [1, 11], [2, 12]]})]))
    [w] = check(within).anomalies["int-poll-skip"]
    assert w["skipped"] == [11] and w["offsets"] == [0, 2]
    across = hist(*sends, (1, "ok", "poll", [pol({X: [[0, 10]]})]),
                  (1, "ok", "poll", [pol({X: [[2, 12]]})]),
                  (2, "ok", "poll", [pol({X: [[1, 11]]})]),
                  (3, "ok", "send", [snd(X, 1, 11)]))
    r = check(across)
    [w] = r.anomalies["poll-skip"]
    assert w["skipped"] == [11] and w["ops"] == [5, 7]
    # and a marker nobody ever fills stays a gap
    marker = hist(*sends, (1, "ok", "poll", [pol({X: [[0, 10]]})]),
                  (1, "ok", "poll", [pol({X: [[2, 12]]}), pol({})]))
    assert check(marker).anomalies == {}
