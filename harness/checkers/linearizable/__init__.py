"""A Porcupine-style linearizability checker.

Given a history of operations (each an interval from call to return, with its input
and output) and a model (a sequential specification as pure functions), decide
whether some total order of the operations respects real time (an operation that
returned before another was called comes first) and is accepted by the model.

How: Wing & Gong's search with Lowe's just-in-time linearization and memoization of
(linearized set, state), P-compositionality (partition by key; partitions checked
independently, in worker processes when that pays), plus sound pruning: dominance
for operations of unknown outcome, greedy reads, and dead-end detection of reads no
state can satisfy any more (with a look-ahead over reads still to come). See
`_search`.

Results, per partition: ``ok``, ``illegal`` or ``unknown`` (the per-partition
``timeout_s`` or ``memory_cap`` was reached: never a guess). Overall: invalid if any
partition is illegal, unknown if any is unknown, else valid. An illegal partition is
explained (`_explain`): the longest linearizable prefix found, with linearization
points and the state after each operation, the operation whose return came before
it could take effect, and the candidates that could not be placed next; the
witness's ``explanation`` is JSON-ready data for a Porcupine-like drawing (one row
per client, operations as intervals).

Operations with an unknown outcome (``info``, or never completed) may take effect at
any time after their call, or never. ``fail`` operations did not happen.

Models (`_models`): ``register`` (read / write / cas), ``kv`` (get / put / append
of strings), ``log`` (per key an append-only Kafka partition: a send returns its
offset, a poll returns offset/value pairs; checks per-key order and durability).

Our history encoding per model (details in `_from_history`):

- register: f ``read`` / ``write`` / ``cas``, value ``[key, v]`` or, for cas,
  ``[key, [old, new]]``; a read's completion carries ``[key, value-read]``; a cas
  whose compare failed is a ``fail``.
- kv: f ``get`` / ``put`` / ``append``, value ``[key, string]``.
- log: Jepsen's kafka ``send`` / ``poll`` / ``txn`` ops (`harness.history._op`),
  ``["send", k, v]`` -> ``["send", k, [offset, v]]``, ``["poll"]`` ->
  ``["poll", {k: [[offset, v], ...]}]``, split per key.

Public API: `check_history` (a `History`), `check_operations` (`Operation`
records), `check_file` (a path; what the CLI calls), `load_operations` (a file in
``etcd``, ``porcupine-kv``, ``jsonl`` or ``edn`` format), `read_porcupine_etcd` /
`read_porcupine_kv`, and `Model` / `Operation` / `UNKNOWN` / `ILLEGAL` for custom
models.
"""

from harness.checkers.linearizable._check import (
    ANOMALY,
    CHECKER,
    DEFAULT_MEMORY_CAP,
    check_file,
    check_history,
    check_operations,
)
from harness.checkers.linearizable._from_history import (
    FORMATS,
    default_model_for,
    from_history,
    load_operations,
)
from harness.checkers.linearizable._model import ILLEGAL, UNKNOWN, Model, Operation
from harness.checkers.linearizable._models import KV, LOG, MODELS, REGISTER, get_model
from harness.checkers.linearizable._porcupine_data import (
    read_porcupine_etcd,
    read_porcupine_kv,
)

__all__ = [
    "ANOMALY",
    "CHECKER",
    "DEFAULT_MEMORY_CAP",
    "FORMATS",
    "ILLEGAL",
    "KV",
    "LOG",
    "MODELS",
    "REGISTER",
    "UNKNOWN",
    "Model",
    "Operation",
    "check_file",
    "check_history",
    "check_operations",
    "default_model_for",
    "from_history",
    "get_model",
    "load_operations",
    "read_porcupine_etcd",
    "read_porcupine_kv",
]
