"""A small EDN reader and writer for Jepsen's ``history.edn``.

Why our own: the maintained Python EDN library (``edn_format`` 0.8, a PLY grammar)
reads a typical kafka op line in about 450 us; Jepsen kafka histories have millions
of ops, which would take many minutes. This reader covers the EDN that Jepsen writes
(nil, booleans, integers incl. ``N``, floats incl. ``M``, ratios, strings, characters,
keywords, symbols, lists, vectors, maps, sets, tagged literals such as
``#jepsen.history.Op{...}`` or ``#inst "..."``, ``#_`` discards and comments) with
one compiled regular expression and an explicit stack: about 10 us a line.

Mapping: keywords become `Keyword` (a ``str`` subclass, so ``Keyword("ok") == "ok"``
and JSON writers treat it as a string) so that an EDN -> EDN round trip keeps
``:error :timeout`` a keyword; symbols become plain strings; vectors and lists become
``list``; sets become ``list`` (JSON has no sets); a tagged literal becomes its value.
Map keys that are vectors become tuples so they stay hashable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any


class Keyword(str):
    """An EDN keyword, without its colon. Compares and hashes as the plain string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{self!s}"


class EdnError(ValueError):
    """Malformed EDN; ``column`` is 1-based within the text given to the reader."""

    def __init__(self, reason: str, column: int) -> None:
        self.reason = reason
        self.column = column
        super().__init__(f"{reason} at column {column}")


_DELIM = r"\s,\[\]\{\}\(\)\"';"
_TOKEN = re.compile(
    r"(?P<ws>[\s,]+|;[^\n]*)"
    r"|(?P<open>\#\{|[\[\{\(])"
    r"|(?P<close>[\]\}\)])"
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[NM]?(?:/\d+)?)(?=[" + _DELIM + r"]|$)"
    r"|(?P<kw>:[^" + _DELIM + r"]+)"
    r"|(?P<discard>\#_)"
    r"|(?P<tag>\#[^" + _DELIM + r"\#_\{][^" + _DELIM + r"\{]*)"
    r"|(?P<char>\\(?:newline|space|tab|return|formfeed|backspace|u[0-9a-fA-F]{4}|\S))"
    r"|(?P<sym>[^" + _DELIM + r"]+)",
    re.DOTALL,
)
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "formfeed": "\f",
          "backspace": "\b"}
_SYMBOLS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_STR_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_kw_cache: dict[str, Keyword] = {}


def _unescape(m: re.Match[str]) -> str:
    e = m.group(1)
    if e[0] == "u" and len(e) == 5:
        return chr(int(e[1:], 16))
    try:
        return _ESC[e]
    except KeyError:
        raise ValueError(f"unknown string escape \\{e}") from None


def _number(tok: str) -> int | float:
    if "/" in tok:
        return float(Fraction(tok))
    if tok[-1] == "N":
        return int(tok[:-1])
    if tok[-1] == "M":
        return float(tok[:-1])
    if "." in tok or "e" in tok or "E" in tok:
        return float(tok)
    return int(tok)


def _hashable(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_hashable(i) for i in x)
    if isinstance(x, dict):
        return tuple(sorted((repr(k), _hashable(v)) for k, v in x.items()))
    return x


def _build(kind: str, items: list[Any], col: int) -> Any:
    if kind == "{":
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms", col)
        it = iter(items)
        out: dict[Any, Any] = {}
        for k in it:
            v = next(it)
            try:
                out[k] = v
            except TypeError:
                out[_hashable(k)] = v
        return out
    if kind == "#{":
        seen: list[Any] = []
        for i in items:
            if i not in seen:
                seen.append(i)
        return seen
    return items


def loads_all(text: str) -> list[Any]:
    """Every top-level form in ``text``."""
    out: list[Any] = []
    # stack of (opener, items, column, pending-prefix-count)
    stack: list[tuple[str, list[Any], int]] = []
    cur = out
    prefixes: list[list[str]] = [[]]  # per nesting level: pending "#_" / tag markers
    pos = 0
    n = len(text)
    match = _TOKEN.match

    def emit(value: Any) -> None:
        pend = prefixes[-1]
        while pend:
            p = pend.pop()
            if p == "#_":
                return  # discarded
            # a tag: the value passes through unchanged
        cur.append(value)

    while pos < n:
        m = match(text, pos)
        if m is None:
            raise EdnError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = m.lastgroup
        tok = m.group()
        start = pos
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "open":
            stack.append((tok, cur, start + 1))
            cur = []
            prefixes.append([])
            continue
        if kind == "close":
            if not stack:
                raise EdnError(f"unmatched {tok!r}", start + 1)
            opener, parent, col = stack.pop()
            if _CLOSER[opener] != tok:
                raise EdnError(f"{opener!r} opened at column {col} closed by {tok!r}", start + 1)
            if prefixes.pop():
                raise EdnError("a tag or #_ is followed by no form", start + 1)
            value = _build(opener, cur, col)
            cur = parent
            emit(value)
            continue
        if kind == "num":
            emit(_number(tok))
        elif kind == "kw":
            kw = _kw_cache.get(tok)
            if kw is None:
                kw = _kw_cache[tok] = Keyword(tok[1:])
            emit(kw)
        elif kind == "str":
            body = tok[1:-1]
            if "\\" in body:
                try:
                    body = _STR_ESC.sub(_unescape, body)
                except ValueError as e:
                    raise EdnError(str(e), start + 1) from None
            emit(body)
        elif kind == "sym":
            emit(_SYMBOLS.get(tok, tok))
        elif kind == "discard":
            prefixes[-1].append("#_")
        elif kind == "tag":
            prefixes[-1].append(tok)
        elif kind == "char":
            c = tok[1:]
            if len(c) == 1:
                emit(c)
            elif c[0] == "u" and len(c) == 5:
                emit(chr(int(c[1:], 16)))
            else:
                emit(_CHARS[c])
    if stack:
        opener, _, col = stack[-1]
        raise EdnError(f"{opener!r} opened at column {col} is never closed", n + 1)
    if prefixes[-1]:
        raise EdnError("a tag or #_ is followed by no form", n + 1)
    return out


def loads(text: str) -> Any:
    """The single form in ``text``."""
    forms = loads_all(text)
    if len(forms) != 1:
        raise EdnError(f"expected one form, found {len(forms)}", 1)
    return forms[0]


def is_open(text: str) -> bool:
    """True when ``text`` ends inside an unclosed collection or string (multi-line op)."""
    if '"' not in text:
        opens = text.count("[") + text.count("{") + text.count("(")
        return opens > text.count("]") + text.count("}") + text.count(")")
    depth = 0
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
    return in_str or depth > 0


# --------------------------------------------------------------------------- writer

_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")


def key_form(key: Any) -> Any:
    """A key as Jepsen writes it: canonical integer strings become integers."""
    if isinstance(key, str) and not isinstance(key, Keyword) and _INT_RE.match(key):
        return int(key)
    return key


def dumps(x: Any) -> str:
    """EDN text for a JSON-like value (`Keyword` becomes ``:kw``)."""
    parts: list[str] = []
    _dump(x, parts.append)
    return "".join(parts)


def _dump(x: Any, w: Any) -> None:
    if x is None:
        w("nil")
    elif x is True:
        w("true")
    elif x is False:
        w("false")
    elif isinstance(x, Keyword):
        w(":" + x)
    elif isinstance(x, str):
        w(json.dumps(x, ensure_ascii=False))
    elif isinstance(x, int):
        w(str(x))
    elif isinstance(x, float):
        w(repr(x))
    elif isinstance(x, (list, tuple)):
        w("[")
        for i, v in enumerate(x):
            if i:
                w(" ")
            _dump(v, w)
        w("]")
    elif isinstance(x, dict):
        w("{")
        for i, (k, v) in enumerate(x.items()):
            if i:
                w(", ")
            _dump(k, w)
            w(" ")
            _dump(v, w)
        w("}")
    elif isinstance(x, (set, frozenset)):
        w("#{")
        for i, v in enumerate(sorted(x, key=repr)):
            if i:
                w(" ")
            _dump(v, w)
        w("}")
    else:
        raise TypeError(f"cannot write {type(x).__name__} as EDN: {x!r}")


def iter_forms_by_line(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """Group physical lines into op texts: ``(first line number, text)``; an op that
    spans lines (an unclosed form) is joined with the following lines."""
    buf: list[str] = []
    first = 0
    for lineno, line in enumerate(lines, 1):
        if not buf:
            if not line.strip():
                continue
            first = lineno
        buf.append(line)
        text = "".join(buf)
        if is_open(text):
            continue
        buf = []
        yield first, text
    if buf:
        yield first, "".join(buf)
