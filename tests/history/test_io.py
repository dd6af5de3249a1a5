"""JSONL and EDN readers/writers: round trips, key normalisation, extra keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history import (
    Keyword,
    Op,
    iter_jsonl,
    load,
    op_edn,
    write_edn,
    write_jsonl,
)
from harness.history._edn import EdnError, dumps, loads, loads_all

#: a few lines of a Jepsen kafka history.edn (ints as keys, a nemesis op, :error kept)
JEPSEN_LINES = (Path(__file__).parents[1] / "data" / "history" / "jepsen-kafka.edn").read_text()


def test_reads_jepsen_kafka_edn(tmp_path: Path) -> None:
    p = tmp_path / "history.edn"
    p.write_text(JEPSEN_LINES)
    h = load(p)
    assert len(h) == 7
    send_ok = h.ops[1]
    assert (send_ok.type, send_ok.f, send_ok.process) == ("ok", "send", 3)
    assert send_ok.value == [["send", "11", [537, 641]]]  # integer key -> "11"
    assert h.ops[3].value == [["poll", {"11": [[536, 640], [537, 641]]}]]
    assert h.ops[4].process == "nemesis"
    assert h.ops[4].value["grudge"] == {"n1": ["n2", "n3"]}
    assert h.ops[5].value == ["11", "12"]
    assert h.ops[6].extra == {"error": ["timeout", 'x " ] y']}
    assert isinstance(h.ops[6].extra["error"][0], Keyword)
    assert h.partner == [1, 0, 3, 2, -1, 6, 5]


def test_edn_round_trip_keeps_integers_keywords_and_extras(tmp_path: Path) -> None:
    src = tmp_path / "a.edn"
    src.write_text(JEPSEN_LINES)
    h = load(src)
    out = tmp_path / "b.edn"
    write_edn(out, h.ops)
    text = out.read_text()
    assert "[[:send 11 [537 641]]]" in text  # keys back to integers for Jepsen
    assert ":error [:timeout" in text
    assert ":process :nemesis" in text
    assert load(out).ops == h.ops


def test_jsonl_edn_jsonl_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "a.edn"
    src.write_text(JEPSEN_LINES)
    h = load(src)
    j = tmp_path / "h.jsonl"
    write_jsonl(j, h.ops)
    hj = load(j)
    assert hj.ops == h.ops
    e = tmp_path / "h.edn"
    write_edn(e, hj.ops)
    assert load(e).ops == h.ops


def test_multiline_op_tagged_record_and_discard(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text(
        "; a comment line\n"
        "#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0,\n"
        "  :f :send, :value [[:send 1 2]] #_ :ignored-key #_ :ignored-value}\n"
        '{:index 1, :time 6, :type :ok, :process 0, :f :send, :value [[:send 1 [0 2]]],'
        ' :when #inst "2024-01-01T00:00:00Z"}\n')
    h = load(p)
    assert [o.type for o in h] == ["invoke", "ok"]
    assert h.ops[1].extra["when"] == "2024-01-01T00:00:00Z"


def test_whole_history_as_one_vector(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text("[{:type :invoke, :process 0, :f :poll, :value [[:poll]]}\n"
                 " {:type :ok, :process 0, :f :poll, :value [[:poll {}]]}]\n")
    h = load(p)
    assert [o.index for o in h] == [0, 1]  # index defaults to position


def test_edn_scalars() -> None:
    assert loads_all('nil true false 1 -2 3N 1.5 2.5M 1/2 "a\\nb" \\a \\newline :k sym') == [
        None, True, False, 1, -2, 3, 1.5, 2.5, 0.5, "a\nb", "a", "\n", "k", "sym"]
    assert loads("#{1 2 1}") == [1, 2]
    assert loads("{[1 2] :x}") == {(1, 2): "x"}
    assert loads('"\\u00e9"') == "é"


@pytest.mark.parametrize("text, reason", [
    ("{:a 1", "never closed"),
    ("[1 2}", "closed by"),
    ("]", "unmatched"),
    ("{:a}", "even number"),
    ("#_", "no form"),
])
def test_edn_errors_name_the_problem(text: str, reason: str) -> None:
    with pytest.raises(EdnError, match=reason):
        loads_all(text)


def test_streaming_reader_is_lazy(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"invoke","f":"poll","process":0,"value":[["poll"]]}\nnot json\n')
    it = iter_jsonl(p)
    assert next(it).f == "poll"  # the bad second line is not read yet


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=5), children, max_size=4)),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_edn_dump_load_round_trip(value: object) -> None:
    assert loads(dumps(value)) == value


keys = st.one_of(st.integers(0, 10**6).map(str), st.sampled_from(["a", "k-1", "007", "-3"]))


@st.composite
def kafka_histories(draw: st.DrawFn) -> list[Op]:
    ops: list[Op] = []
    t = 0
    for p in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(0, 5))):
            k = draw(keys)
            v = draw(st.integers(0, 10**9))
            kind = draw(st.sampled_from(["send", "poll", "assign"]))
            if kind == "send":
                inv = [["send", k, v]]
                done = [["send", k, [draw(st.integers(0, 10**6)), v]]]
            elif kind == "poll":
                inv = [["poll"]]
                done = [["poll", {k: [[draw(st.integers(0, 99)), v]]}]]
            else:
                inv = done = [k]
            typ = draw(st.sampled_from(["ok", "fail", "info"]))
            extra = {"error": ["timeout", "msg"]} if typ != "ok" else {}
            ops.append(Op(index=len(ops), time=t, process=p, type="invoke", f=kind, value=inv))
            t += draw(st.integers(1, 10**6))
            ops.append(Op(index=len(ops), time=t, process=p, type=typ, f=kind, value=done,
                          extra=extra))
    ops.append(Op(index=len(ops), time=t, process="nemesis", type="info", f="kill",
                  value={"nodes": ["n1"]}))
    return ops


@settings(max_examples=100, deadline=None)
@given(kafka_histories())
def test_jsonl_and_edn_round_trip_generated(tmp_path_factory: pytest.TempPathFactory,
                                            ops: list[Op]) -> None:
    d = tmp_path_factory.mktemp("rt")
    write_jsonl(d / "h.jsonl", ops)
    write_edn(d / "h.edn", ops)
    assert load(d / "h.jsonl").ops == ops
    assert load(d / "h.edn").ops == ops
    for op in ops:
        assert op_edn(op).startswith("{:index ")
