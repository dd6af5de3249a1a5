"""The ``groups`` checker: what a Kafka consumer group promises, from one history.

Ops it reads (written by the kafka workload with ``sub_via="subscribe"``, see
`harness.workload`): ``committed`` completions (``{key: offset | None}``, the group's
committed offsets as the coordinator returned them), ``commit`` completions, whose
value is ``{key: offset}`` (the offsets the process committed for its group: the
offset after the last record it polled of each key it owns, Kafka's "next offset to
read"), ``send`` and ``poll`` completions, ``txn`` completions (Jepsen's transactions:
their send and poll micro-ops, and ``extra["offsets"]``, ``{key: offset}``, the
positions a member added to the transaction with ``send_offsets_to_transaction``: an
``ok`` txn committed them, like an ``ok`` commit; ``info`` ones may or may not have),
and the ``extra["membership"]`` of ``poll``, ``commit`` and ``txn`` completions:
``{"generation": int | None, "member": str | None, "keys": [...], "epoch": n}``, what
the group had assigned to the consumer when the op ended (``epoch`` counts the
assignments the consumer received; each one restarts its positions from the committed
offsets). A history holds one group (the workload's). Histories without these fields
have nothing to judge (``unknown``).

Transactions (`_index` says exactly what counts): an aborted (``fail``) txn's reads
were rewound by the client and count for nothing; its records are never delivered to
read_committed consumers and are not acknowledged. The premise for txn offsets: once
EndTxn answers, every later OffsetFetch of a read_committed member sees them (the
reference broker applies them before answering; Kafka answers a fetch that requires
stable offsets, KIP-447, which both clients send when reading committed, only once the
transaction's offsets are written).

Types, and the module that defines each (definitions in the module docstrings):

- `_commits`: ``commit-regression``: an acknowledged commit of a key is below one
  acknowledged before it was invoked (committed offsets never go back);
- `_owners`: ``double-owner``: two members report one key in the same generation (per
  generation no partition has two owners); needs the generation (kafka-python);
- `_resets`: ``offset-reset-below-commit``: a consumer newly assigned a key first reads
  it below an offset the group had acknowledged committing before the consumer joined
  (a fresh member resumes from the committed offset);
- `_delivery`: ``commit-skip``: the group committed past an acknowledged record that
  no member of the group ever polled (with commit-after-process every acknowledged
  record below the committed offset was delivered at least once);
- `_fetches`: ``lost-commit``: a fetch of the group's committed offsets (``committed``
  op, OffsetFetch) returned less than a commit acknowledged before it was invoked (an
  acknowledged commit is durable).

`_index` gathers the facts in one pass; `_options` holds the classification (all are
bad; with ``acks`` 0 or 1 a lost write may truncate the log and legitimately reset
positions, so the three types that follows from are allowed) and which guarantee each
breaks. Witnesses name op indices (``ops``), ``process``, ``key``, ``offsets`` and a ``message``.
"""

from harness.checkers.groups._check import CHECKER, check
from harness.checkers.groups._options import ANOMALY_TYPES, GUARANTEES, GroupsCheckOptions

__all__ = ["ANOMALY_TYPES", "CHECKER", "GUARANTEES", "GroupsCheckOptions", "check"]
