"""The ``retention`` checker: nothing younger than ``retention.ms`` is deleted, and a
partition's log start never moves back.

Ops it reads (the kafka workload's ``offsets`` op, see `harness.workload`): an
invocation whose value is a list of keys and an ``ok`` completion whose value is
``{key: [log_start, end_offset]}`` (ListOffsets earliest and latest). ``fail`` and
``info`` completions observed nothing and are ignored. Records are placed by the
``send`` ops (an ``ok`` send's ``[offset, value]``) and by polls (``[offset, value]``);
a record's send time is the invocation time of the op that sent its value.

Types, and the module that defines each (definitions in the module docstrings):

- `_early`: ``early-deletion``: an ``offsets`` op reported a log start above a record
  that was sent less than ``retention.ms`` (minus a tolerance) before the op
  completed: the record was deleted while younger than ``retention.ms``;
- `_regression`: ``log-start-regression``: a key's log start reported by one
  ``offsets`` op is below the log start reported by an op that completed before it
  was invoked.

Not judged, and why:

- ``retention.bytes``: whether a deletion by size was allowed depends on the bytes
  each segment holds on disk (batch headers, compression, segment rolls), which a
  history does not record; a run that sets ``retention.bytes`` must not pass
  ``retention_ms`` either, since a lawful deletion by size would look early;
- reads below the log start (DESIGN: they get OFFSET_OUT_OF_RANGE): client libraries
  prefetch, so a poll may return a record the broker served before a concurrent
  deletion; no interval in the history proves when the fetch itself ran.

`observed_log_starts` gives, per key, the highest log start any ``offsets`` op
reported: the log checker's ``deleted_below`` (records below it may have been deleted
by retention, so the log checker does not call them lost or unseen; this checker
judges whether their deletion was allowed). `_options` holds the classification
(both bad; ``early-deletion`` is allowed when the run skewed clocks, since retention
ages records by the broker's wall clock) and which guarantee each type breaks.
Witnesses name op indices (``ops``), ``process``, ``key``, ``offsets``, ``values`` and a
``message``.
"""

from harness.checkers.retention._check import CHECKER, check
from harness.checkers.retention._index import observed_log_starts
from harness.checkers.retention._options import (
    ANOMALY_TYPES,
    GUARANTEES,
    RetentionCheckOptions,
)

__all__ = ["ANOMALY_TYPES", "CHECKER", "GUARANTEES", "RetentionCheckOptions", "check",
           "observed_log_starts"]
