"""Readers for the recorded histories Porcupine tests itself with.

``jepsen/etcd_NNN.log``: Jepsen's etcd cas-register test, one logged event per line::

    INFO  jepsen.util - 3	:invoke	:cas	[3 0]
    INFO  jepsen.util - 3	:fail	:cas	[3 0]

They become `register` operations on one anonymous register (key None), read as
Porcupine reads them: a ``:fail`` cas is a cas whose compare failed (output False;
etcd answers a failed compare so), a ``:fail :read :timed-out`` is a read with an
unknown result, an ``:info`` (timed out) write or cas has an unknown outcome, and an
invocation that never completes has an unknown outcome too. The line number is the
time. Lines that are not ``jepsen.util`` events are skipped.

``kv/cNN-{ok,bad}.txt``: Jepsen EDN maps, one per line::

    {:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}

They become `kv` operations (get / put / append of strings, keyed by ``:key``).
``:fail`` operations did not happen and are dropped; ``:info`` ones have an unknown
outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.checkers.linearizable._model import UNKNOWN, Operation
from harness.errors import HistoryError

_ETCD_LINE = re.compile(
    r"^\S+\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(\w+)\s*(.*?)\s*$")
_ETCD_CAS = re.compile(r"^\[\s*(-?\d+)\s+(-?\d+)\s*\]$")


def _read_lines(path: str | Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError as e:
        raise HistoryError(f"cannot read history: {e.strerror or e}", path=str(path)) from None
    except UnicodeDecodeError as e:
        raise HistoryError(f"not UTF-8 text: {e}", path=str(path)) from None


def _etcd_arg(f: str, text: str, lineno: int, path: str) -> Any:
    if f == "read":
        if text == "nil":
            return None
        if text.lstrip("-").isdigit():
            return int(text)
    elif f == "write":
        if text.lstrip("-").isdigit():
            return int(text)
    elif f == "cas":
        m = _ETCD_CAS.match(text)
        if m:
            return (int(m.group(1)), int(m.group(2)))
    raise HistoryError(f"cannot read the value {text!r} of a {f}", line=lineno, path=path,
                       expected="nil or an integer for read, an integer for write, "
                                "[from to] for cas")


def read_porcupine_etcd(path: str | Path) -> list[Operation]:
    """Operations of a Jepsen etcd log (see the module docstring)."""
    spath = str(path)
    return parse_porcupine_etcd(_read_lines(path), path=spath)


def parse_porcupine_etcd(lines: Iterable[str], *, path: str = "<etcd log>") -> list[Operation]:
    open_: dict[int, tuple[int, str, Any]] = {}  # process -> (line, f, arg)
    done: list[tuple[int, Operation]] = []
    for lineno, line in enumerate(lines, 1):
        if "jepsen.util" not in line:
            continue
        m = _ETCD_LINE.match(line)
        if m is None:
            raise HistoryError(f"cannot read this event: {line.strip()!r}", line=lineno,
                               path=path, expected="'INFO jepsen.util - PROCESS :TYPE :F VALUE'")
        proc = int(m.group(1))
        typ, f, text = m.group(2), m.group(3), m.group(4)
        if f not in ("read", "write", "cas"):
            raise HistoryError(f"unknown operation :{f}", line=lineno, path=path,
                               expected=":read, :write or :cas")
        if typ == "invoke":
            if proc in open_:
                raise HistoryError(f"process {proc} invokes again before its previous "
                                   f"operation (line {open_[proc][0]}) completed",
                                   line=lineno, path=path)
            open_[proc] = (lineno, f, None if f == "read" else _etcd_arg(f, text, lineno, path))
            continue
        start = open_.pop(proc, None)
        if start is None:
            raise HistoryError(f"a :{typ} completion for process {proc} without an open "
                               f"invocation", line=lineno, path=path)
        call, f0, arg = start
        if f0 != f:
            raise HistoryError(f"process {proc} invoked :{f0} (line {call}) but completes "
                               f":{f}", line=lineno, path=path)
        inp: tuple[Any, ...]
        if f == "read":
            inp = ("read", None)
        elif f == "write":
            inp = ("write", None, arg)
        else:
            inp = ("cas", None, arg[0], arg[1])
        out: Any
        ret: int | None = lineno
        if typ == "info":
            out, ret = UNKNOWN, None
        elif f == "read":
            out = UNKNOWN if typ == "fail" else _etcd_arg("read", text, lineno, path)
        elif f == "write":
            if typ == "fail":
                continue  # a write that certainly did not happen
            out = None
        else:
            out = typ == "ok"
        done.append((call, Operation(client=proc, input=inp, output=out, call=call, ret=ret,
                                     key=None, index=call - 1)))
    for proc, (call, f, arg) in open_.items():
        if f == "read":
            inp = ("read", None)
        elif f == "write":
            inp = ("write", None, arg)
        else:
            inp = ("cas", None, arg[0], arg[1])
        done.append((call, Operation(client=proc, input=inp, output=UNKNOWN, call=call,
                                     ret=None, key=None, index=call - 1)))
    done.sort(key=lambda x: x[0])
    return [op for _, op in done]


_EDN_PAIR = re.compile(r':([\w.*+!?-]+)\s+("(?:[^"\\]|\\.)*"|nil|true|false|-?\d+|:[\w.*+!?-]+)')
_EDN_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _edn_atom(text: str) -> Any:
    if text.startswith('"'):
        body = text[1:-1]
        if "\\" in body:
            body = re.sub(r"\\(.)", lambda m: _EDN_ESCAPES.get(m.group(1), m.group(1)), body)
        return body
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith(":"):
        return text[1:]
    return int(text)


def parse_flat_edn_map(line: str) -> dict[str, Any]:
    """A one-line EDN map of keyword keys to atoms (strings, ints, keywords, nil)."""
    s = line.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise ValueError("not an EDN map {...}")
    out: dict[str, Any] = {}
    pos = 1
    body_end = len(s) - 1
    for m in _EDN_PAIR.finditer(s, 1, body_end):
        gap = s[pos:m.start()].strip(" ,\t")
        if gap:
            raise ValueError(f"cannot read {gap!r}")
        out[m.group(1)] = _edn_atom(m.group(2))
        pos = m.end()
    if s[pos:body_end].strip(" ,\t"):
        raise ValueError(f"cannot read {s[pos:body_end].strip()!r}")
    return out


def read_porcupine_kv(path: str | Path) -> list[Operation]:
    """Operations of a Porcupine kv history (see the module docstring)."""
    return parse_porcupine_kv(_read_lines(path), path=str(path))


def parse_porcupine_kv(lines: Iterable[str], *, path: str = "<kv history>") -> list[Operation]:
    open_: dict[Any, tuple[int, str, str, Any]] = {}  # process -> (line, f, key, value)
    done: list[tuple[int, Operation]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = parse_flat_edn_map(line)
        except ValueError as e:
            raise HistoryError(f"cannot read this line: {e}", line=lineno, path=path,
                               expected="{:process N, :type :invoke, :f :get, :key \"k\", "
                                        ":value nil}") from None
        try:
            proc, typ, f, key, value = d["process"], d["type"], d["f"], d["key"], d["value"]
        except KeyError as e:
            raise HistoryError(f"missing :{e.args[0]}", line=lineno, path=path) from None
        if f not in ("get", "put", "append"):
            raise HistoryError(f"unknown operation :{f}", line=lineno, path=path,
                               expected=":get, :put or :append")
        if not isinstance(key, str):
            key = str(key)
        if typ == "invoke":
            if proc in open_:
                raise HistoryError(f"process {proc} invokes again before its previous "
                                   f"operation (line {open_[proc][0]}) completed",
                                   line=lineno, path=path)
            if f != "get" and not isinstance(value, str):
                raise HistoryError(f"a :{f} needs a string :value, got {value!r}",
                                   line=lineno, path=path)
            open_[proc] = (lineno, f, key, value)
            continue
        if typ not in ("ok", "fail", "info"):
            raise HistoryError(f"unknown :type :{typ}", line=lineno, path=path,
                               expected=":invoke, :ok, :fail or :info")
        start = open_.pop(proc, None)
        if start is None:
            raise HistoryError(f"a :{typ} completion for process {proc} without an open "
                               f"invocation", line=lineno, path=path)
        call, f0, key0, arg = start
        if f0 != f or key0 != key:
            raise HistoryError(f"process {proc} invoked :{f0} on {key0!r} (line {call}) but "
                               f"completes :{f} on {key!r}", line=lineno, path=path)
        if typ == "fail":
            continue
        inp = ("get", key) if f == "get" else (f, key, arg)
        out: Any = None
        ret: int | None = lineno
        if typ == "info":
            out, ret = UNKNOWN, None
        elif f == "get":
            out = "" if value is None else value
            if not isinstance(out, str):
                raise HistoryError(f"a :get returns a string :value, got {value!r}",
                                   line=lineno, path=path)
        done.append((call, Operation(client=proc, input=inp, output=out, call=call, ret=ret,
                                     key=key, index=call - 1)))
    for proc, (call, f, key, arg) in open_.items():
        inp = ("get", key) if f == "get" else (f, key, arg)
        done.append((call, Operation(client=proc, input=inp, output=UNKNOWN, call=call,
                                     ret=None, key=key, index=call - 1)))
    done.sort(key=lambda x: x[0])
    return [op for _, op in done]
