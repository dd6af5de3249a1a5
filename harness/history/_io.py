"""Reading and writing histories: JSON Lines (ours) and EDN (Jepsen's ``history.edn``).

Readers stream: each line is decoded, turned into an `Op` and checked against the
invocation/completion discipline as it arrives, so the first bad line is reported
with its number and what was expected, and nothing after it is trusted.
Writers stream too; `JsonlWriter` is what a run records into.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from harness.errors import HistoryError, UsageError
from harness.history import _edn
from harness.history._history import History, Pairer
from harness.history._op import KEY_LIST_FS, MOP_FS, Op, op_from_dict

Format = Literal["jsonl", "edn"]
FORMATS: tuple[str, ...] = ("jsonl", "edn")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".edn": "edn"}


def detect_format(path: str | Path, fmt: str | None = None) -> Format:
    """The format named, or the one the file's extension implies."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown history format {fmt!r} (expected one of: jsonl, edn)")
        return fmt  # type: ignore[return-value]
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]  # type: ignore[return-value]
    except KeyError:
        raise UsageError(
            f"cannot tell the format of {str(path)!r} from its extension {suffix!r} "
            "(expected .jsonl or .edn; or pass --format jsonl|edn)") from None


def _open(path: str | Path) -> IO[bytes]:
    try:
        return open(path, "rb")  # closed by the callers' with-blocks
    except FileNotFoundError:
        raise HistoryError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise HistoryError("is a directory, not a history file", path=str(path)) from None
    except PermissionError:
        raise HistoryError("permission denied", path=str(path)) from None


def iter_jsonl(path: str | Path, pairer: Pairer | None = None) -> Iterator[Op]:
    """Stream the ops of a JSON Lines history, validating each line."""
    p = str(path)
    pairer = pairer if pairer is not None else Pairer()
    add = pairer.add
    loads = orjson.loads
    position = 0
    with _open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = loads(line)
            except orjson.JSONDecodeError as e:
                raise HistoryError(f"bad JSON: {e}", line=lineno, path=p,
                                   expected="one JSON object per line") from None
            if type(d) is not dict:
                raise HistoryError(f"a line must be a JSON object, got {type(d).__name__}",
                                   line=lineno, path=p, expected="an op object") from None
            try:
                op = op_from_dict(d, position)
                add(op)
            except ValueError as e:
                raise HistoryError(str(e), line=lineno, path=p) from None
            position += 1
            yield op


def _edn_record(form: Any) -> dict[str, Any]:
    if not isinstance(form, dict):
        raise ValueError(f"an op must be an EDN map, got {_edn.dumps(form)[:80]}")
    return {str(k): v for k, v in form.items()}


def iter_edn(path: str | Path, pairer: Pairer | None = None) -> Iterator[Op]:
    """Stream the ops of a Jepsen ``history.edn`` (one op map per line; an op may span
    lines; a file holding one vector of op maps is accepted too)."""
    p = str(path)
    pairer = pairer if pairer is not None else Pairer()
    position = 0
    with _open(path) as fh:
        lines = (raw.decode("utf-8", errors="replace") for raw in fh)
        for lineno, text in _edn.iter_forms_by_line(lines):
            try:
                forms = _edn.loads_all(text)
            except _edn.EdnError as e:
                raise HistoryError(f"bad EDN: {e}", line=lineno, path=p,
                                   expected="one op map per line") from None
            if len(forms) == 1 and isinstance(forms[0], list):
                forms = forms[0]  # the whole history as one vector
            for form in forms:
                try:
                    op = op_from_dict(_edn_record(form), position)
                    pairer.add(op)
                except ValueError as e:
                    raise HistoryError(str(e), line=lineno, path=p) from None
                position += 1
                yield op


def iter_ops(path: str | Path, fmt: str | None = None,
             pairer: Pairer | None = None) -> Iterator[Op]:
    if detect_format(path, fmt) == "edn":
        return iter_edn(path, pairer)
    return iter_jsonl(path, pairer)


def load(path: str | Path, fmt: str | None = None) -> History:
    """Read and validate a whole history (format from the extension unless given).

    The cyclic GC is paused while loading: ops hold no cycles, and a million-op load
    spends two thirds of its time in needless collections otherwise."""
    pairer = Pairer()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ops = list(iter_ops(path, fmt, pairer))
    finally:
        if was_enabled:
            gc.enable()
    return History(ops, pairer.partner)


# --------------------------------------------------------------------------- writers

_OPT = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def op_line(op: Op) -> bytes:
    """One JSONL line (with newline) for ``op``."""
    return orjson.dumps(op.to_dict(), option=_OPT)


class JsonlWriter:
    """Appends ops to a JSONL file as they happen; `flush` makes them visible."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self.count = 0

    def write(self, op: Op) -> None:
        self._fh.write(orjson.dumps(op.to_dict(), option=_OPT))
        self.count += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | Path, ops: Iterable[Op]) -> int:
    """Write ``ops`` as JSON Lines; returns how many were written."""
    n = 0
    with open(path, "wb") as fh:
        for op in ops:
            fh.write(orjson.dumps(op.to_dict(), option=_OPT))
            n += 1
    return n


def _kw(x: Any) -> Any:
    return _edn.Keyword(x) if isinstance(x, str) else x


def _edn_value(f: str, value: Any) -> Any:
    """The op value as Jepsen writes it: micro-op names as keywords, integer keys."""
    key_form = _edn.key_form
    if f in MOP_FS and isinstance(value, list):
        out = []
        for mop in value:
            if not isinstance(mop, list) or not mop:
                out.append(mop)
                continue
            kind = mop[0]
            if kind == "send" and len(mop) == 3:
                out.append([_edn.Keyword("send"), key_form(mop[1]), mop[2]])
            elif kind == "poll" and len(mop) == 2 and isinstance(mop[1], dict):
                out.append([_edn.Keyword("poll"),
                            {key_form(k): v for k, v in mop[1].items()}])
            else:
                out.append([_kw(kind), *mop[1:]])
        return out
    if f in KEY_LIST_FS and isinstance(value, list):
        return [key_form(k) for k in value]
    return value


def op_edn(op: Op) -> str:
    """One EDN line (without newline) for ``op``, as Jepsen's history.edn has it."""
    d: dict[Any, Any] = {
        _edn.Keyword("index"): op.index,
        _edn.Keyword("time"): op.time,
        _edn.Keyword("type"): _edn.Keyword(op.type),
        _edn.Keyword("process"): _kw(op.process),
        _edn.Keyword("f"): _edn.Keyword(op.f),
        _edn.Keyword("value"): _edn_value(op.f, op.value),
    }
    for k, v in op.extra.items():
        d[_edn.Keyword(k)] = v
    return _edn.dumps(d)


def write_edn(path: str | Path, ops: Iterable[Op]) -> int:
    """Write ``ops`` as a Jepsen ``history.edn``; returns how many were written."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(op_edn(op))
            fh.write("\n")
            n += 1
    return n


def write(path: str | Path, ops: Iterable[Op], fmt: str | None = None) -> int:
    if detect_format(path, fmt) == "edn":
        return write_edn(path, ops)
    return write_jsonl(path, ops)
