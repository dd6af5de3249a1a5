"""The history: the only link between running a test and judging it.

Public surface: the `Op` record, the `History` container, and streaming readers and
writers for JSON Lines (ours) and EDN (Jepsen's ``history.edn``).
"""

from harness.history._edn import Keyword
from harness.history._history import History, Pairer, renumber
from harness.history._io import (
    FORMATS,
    JsonlWriter,
    detect_format,
    iter_edn,
    iter_jsonl,
    iter_ops,
    load,
    op_edn,
    op_line,
    write,
    write_edn,
    write_jsonl,
)
from harness.history._op import OP_TYPES, Op, key_str, normalize_value, op_from_dict

__all__ = [
    "FORMATS",
    "OP_TYPES",
    "History",
    "JsonlWriter",
    "Keyword",
    "Op",
    "Pairer",
    "detect_format",
    "iter_edn",
    "iter_jsonl",
    "iter_ops",
    "key_str",
    "load",
    "normalize_value",
    "op_edn",
    "op_from_dict",
    "op_line",
    "renumber",
    "write",
    "write_edn",
    "write_jsonl",
]
