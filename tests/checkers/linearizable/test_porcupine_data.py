"""Porcupine's recorded histories: every verdict, and the readers' errors.

The etcd verdicts below are the ones Porcupine's own test suite asserts
(``porcupine_test.go``, ``checkJepsen``: true = linearizable); they were also
re-derived for this table with the independent brute-force checker in ``brute.py``
(see ``test_brute_force_agrees_on_some_etcd_logs``). etcd_095 is empty (the etcd
cluster failed to start in that Jepsen run). The kv files carry their verdict in
their names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checkers.linearizable import (
    UNKNOWN,
    check_operations,
    load_operations,
    read_porcupine_etcd,
    read_porcupine_kv,
)
from harness.checkers.linearizable._models import REGISTER_1
from harness.errors import HistoryError, UsageError
from tests.checkers.linearizable.brute import brute_force

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "porcupine"
ETCD = DATA / "jepsen"
KVDIR = DATA / "kv"

#: etcd logs that are linearizable; every other usable log (000-102 but 095) is not.
ETCD_LINEARIZABLE = frozenset({
    2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100,
    101, 102,
})
ETCD_VERDICTS = {n: n in ETCD_LINEARIZABLE for n in range(103) if n != 95}

pytestmark = pytest.mark.skipif(not DATA.is_dir(),
                                reason=f"Porcupine's test data is not at {DATA}")


def etcd_path(n: int) -> Path:
    return ETCD / f"etcd_{n:03d}.log"


def test_the_table_covers_102_logs() -> None:
    assert len(ETCD_VERDICTS) == 102
    assert sum(ETCD_VERDICTS.values()) == 23


@pytest.mark.parametrize("n", sorted(ETCD_VERDICTS))
def test_etcd_verdict(n: int) -> None:
    ops = read_porcupine_etcd(etcd_path(n))
    res = check_operations(ops, "register", timeout_s=60)
    assert res.valid is ETCD_VERDICTS[n], res.error
    if not ETCD_VERDICTS[n]:
        (w,) = res.anomalies["nonlinearizable"]
        assert w["ops"], w
        expl = w["explanation"]
        assert len(expl["linearized"]) == len(expl["states"]) == len(expl["points"])
        assert expl["blocking"] is not None and expl["shortest_failing_prefix"]
        for c in expl["candidates"]:
            assert set(c) == {"id", "index", "description", "legal", "state_after"}
            assert (c["state_after"] is None) == (not c["legal"])


@pytest.mark.parametrize("n", [0, 8, 18, 37, 53, 85, 97, 101])
def test_brute_force_agrees_on_some_etcd_logs(n: int) -> None:
    ops = [op for op in read_porcupine_etcd(etcd_path(n))
           if not (op.ret is None and op.input[0] == "read")]
    assert brute_force(ops, REGISTER_1) is ETCD_VERDICTS[n]


def test_etcd_095_is_empty_and_trivially_linearizable() -> None:
    ops = read_porcupine_etcd(etcd_path(95))
    assert ops == []
    assert check_operations(ops, "register").valid is True


@pytest.mark.parametrize("name", ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok",
                                  "c50-bad"])
def test_kv_verdict(name: str) -> None:
    ops = read_porcupine_kv(KVDIR / f"{name}.txt")
    res = check_operations(ops, "kv", timeout_s=60)
    expected = name.endswith("-ok")
    assert res.valid is expected, res.error
    if not expected:
        ws = res.anomalies["nonlinearizable"]
        assert len(ws) >= 1
        assert res.stats["partitions_illegal"] >= 1


def test_kv_all_partitions_reports_each_key() -> None:
    ops = read_porcupine_kv(KVDIR / "c10-bad.txt")
    first = check_operations(ops, "kv", workers=1)
    every = check_operations(ops, "kv", all_partitions=True, workers=1)
    assert first.valid is every.valid is False
    assert first.stats["partitions_skipped"] > 0
    assert every.stats["partitions_skipped"] == 0
    assert every.stats["partitions_checked"] == every.stats["partitions"] == 10
    assert len(every.anomalies["nonlinearizable"]) == every.stats["partitions_illegal"]


def test_etcd_reader_semantics(tmp_path: Path) -> None:
    p = tmp_path / "e.log"
    p.write_text(
        "INFO  jepsen.util - 0\t:invoke\t:write\t4\n"
        "INFO  jepsen.util - 1\t:invoke\t:cas\t[4 5]\n"
        "INFO  jepsen.util - 0\t:ok\t:write\t4\n"
        "INFO  jepsen.util - 1\t:fail\t:cas\t[4 5]\n"
        "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n"
        "INFO  jepsen.util - 3\t:invoke\t:write\t7\n"
        "INFO  jepsen.util - 3\t:info\t:write\t:timed-out\n"
        "some other log line\n"
        "INFO  jepsen.util - 4\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 4\t:ok\t:read\t7\n"
        "INFO  jepsen.util - 5\t:invoke\t:cas\t[7 8]\n")
    ops = read_porcupine_etcd(p)
    got = [(op.client, op.input, op.output, op.call, op.ret) for op in ops]
    assert got == [
        (0, ("write", None, 4), None, 1, 3),
        (1, ("cas", None, 4, 5), False, 2, 4),
        (2, ("read", None), UNKNOWN, 5, 6),
        (3, ("write", None, 7), UNKNOWN, 7, None),
        (4, ("read", None), 7, 10, 11),
        (5, ("cas", None, 7, 8), UNKNOWN, 12, None),
    ]
    # the failed cas overlaps the write, so it may go first (nil != 4): linearizable
    assert check_operations(ops, "register").valid is True
    # ...but a cas that fails its compare after the write returned is not
    later = p.read_text().replace(
        "1\t:invoke\t:cas\t[4 5]\nINFO  jepsen.util - 0\t:ok\t:write\t4\n",
        "0\t:ok\t:write\t4\nINFO  jepsen.util - 1\t:invoke\t:cas\t[4 5]\n")
    assert later != p.read_text()
    p.write_text(later)
    res = check_operations(read_porcupine_etcd(p), "register")
    assert res.valid is False
    (w,) = res.anomalies["nonlinearizable"]
    assert w["explanation"]["blocking"] is not None
    assert "cas(4, 5) -> fail" in w["message"]


@pytest.mark.parametrize(("text", "needle"), [
    ("INFO  jepsen.util - 0\t:ok\t:write\t4\n", "without an open invocation"),
    ("INFO  jepsen.util - 0\t:invoke\t:write\tfour\n", "cannot read the value"),
    ("INFO  jepsen.util - 0\t:invoke\t:frob\t4\n", "unknown operation :frob"),
    ("INFO  jepsen.util - 0\t:invoke\t:write\t4\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n",
     "invokes again"),
    ("INFO  jepsen.util - x :invoke :write 4\n", "cannot read this event"),
])
def test_etcd_reader_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.log"
    p.write_text(text)
    with pytest.raises(HistoryError, match=needle) as ei:
        read_porcupine_etcd(p)
    assert str(p) in str(ei.value)


def test_kv_reader_semantics(tmp_path: Path) -> None:
    p = tmp_path / "kv.txt"
    p.write_text(
        '{:process 0, :type :invoke, :f :put, :key "a", :value "x"}\n'
        '{:process 1, :type :invoke, :f :get, :key "a", :value nil}\n'
        '{:process 0, :type :ok, :f :put, :key "a", :value "x"}\n'
        '{:process 1, :type :ok, :f :get, :key "a", :value "x"}\n'
        '{:process 2, :type :invoke, :f :append, :key "b", :value "q \\"z\\""}\n'
        '{:process 2, :type :fail, :f :append, :key "b", :value "q \\"z\\""}\n'
        '{:process 3, :type :invoke, :f :append, :key "b", :value "y"}\n')
    ops = read_porcupine_kv(p)
    got = [(op.client, op.key, op.input, op.output, op.call, op.ret) for op in ops]
    assert got == [
        (0, "a", ("put", "a", "x"), None, 1, 3),
        (1, "a", ("get", "a"), "x", 2, 4),
        (3, "b", ("append", "b", "y"), UNKNOWN, 7, None),
    ]
    assert check_operations(ops, "kv").valid is True


@pytest.mark.parametrize(("text", "needle"), [
    ('{:process 0, :type :ok, :f :get, :key "a", :value "x"}', "without an open invocation"),
    ('{:process 0, :type :invoke, :f :get, :key "a"}', "missing :value"),
    ('{:process 0, :type :invoke, :f :cas, :key "a", :value nil}', "unknown operation :cas"),
    ('{:process 0, :type :invoke, :f :put, :key "a", :value 3}', "needs a string"),
    ("[1 2 3]", "cannot read this line"),
    ('{:process 0, :type :invoke, :f :get, :key "a", :value nil', "cannot read this line"),
])
def test_kv_reader_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text + "\n")
    with pytest.raises(HistoryError, match=needle) as ei:
        read_porcupine_kv(p)
    assert ":1:" in str(ei.value)


def test_missing_file_is_a_history_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="cannot read history"):
        read_porcupine_etcd(tmp_path / "nope.log")


def test_load_operations_formats() -> None:
    assert len(load_operations(etcd_path(0), "etcd")) == len(read_porcupine_etcd(etcd_path(0)))
    assert load_operations(KVDIR / "c01-ok.txt", "porcupine-kv", "kv")
    with pytest.raises(UsageError, match="--model register"):
        load_operations(etcd_path(0), "etcd", "kv")
    with pytest.raises(UsageError, match="unknown format"):
        load_operations(etcd_path(0), "csv")
    with pytest.raises(UsageError, match="needs a model"):
        load_operations(etcd_path(0), "jsonl")
    with pytest.raises(UsageError, match="unknown linearizability model"):
        load_operations(etcd_path(0), "etcd", "queue")
