"""The history: the only link between running a test and judging it.

Public surface: the `Op` record, the `History` container, and readers/writers for
JSON Lines (ours) and EDN (Jepsen's ``history.edn``).
"""

from harness.history._history import History, Pairer, renumber
from harness.history._op import OP_TYPES, Op, key_str, normalize_value, op_from_dict

__all__ = [
    "OP_TYPES",
    "History",
    "Op",
    "Pairer",
    "key_str",
    "normalize_value",
    "op_from_dict",
    "renumber",
]
