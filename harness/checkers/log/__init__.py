"""The ``log`` checker: Jepsen's Kafka log anomalies, from offsets, in one pass.

Version orders come from offsets (a dense index per key), so the whole check is a
single indexing pass plus work proportional to the candidates it finds. Types, in
report order, and the module that defines each:

- `_offsets`: ``inconsistent-offsets``, ``duplicate``
- `_writes`: ``lost-write``, ``G1a``, ``precommitted-read``, ``unseen``
- `_polls`: ``poll-skip``, ``nonmonotonic-poll``, ``int-poll-skip``,
  ``int-nonmonotonic-poll``
- `_sends`: ``int-send-skip``, ``int-nonmonotonic-send``, ``nonmonotonic-send``
- `_cycles`: ``G0``, ``G1c``

`_index` holds the version-order and sequencing rules; `_options` which types a run's
configuration allows and which Kafka guarantee each type breaks (`GUARANTEES`).
Witnesses name op indices (``ops``), ``process``, ``key``, ``offsets``, ``values`` and a
``message``; at most ``max_witnesses`` per type, with full counts in ``counts``.
"""

from harness.checkers.log._check import CHECKER, check
from harness.checkers.log._options import ANOMALY_TYPES, GUARANTEES, LogCheckOptions

__all__ = ["ANOMALY_TYPES", "CHECKER", "GUARANTEES", "LogCheckOptions", "check"]
