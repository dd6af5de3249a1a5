"""Faults and fault schedules, as data, and the one component that applies them.

Public surface:

- faults (frozen dataclasses): `Partition`, `Kill`, `Pause`, `Loss`, `Slow`,
  `Bandwidth`, `Clock`, `Reset`; `TARGETS` of kills and pauses (``one``, ``leader``,
  ``followers``, ``majority``, ``minority``, ``all``); `Cascade` (faults started one
  after another: `LEADER_LAST`, `STALE_FIRST`); `OPS` (fault kind -> start/stop history op names);
  `NEMESES` (name -> fault templates) and `parse_nemesis("partition,kill")`, which
  raises `UsageError` listing the valid names; `FAULT_KINDS` / `get_fault(kind)`.
- grudges (pure): `grudge_for`, `one`, `majority`, `majorities_ring`, `bridge`,
  `isolate`, `one_way`, `complete_grudge`, `to_data`.
- schedules (pure generators of `Step`): `interval`, `mix`, `explicit`,
  `with_final_heal`, `default_schedule`.
- `Nemesis(cluster, recorder, rng)` with `check`, `start`, `stop`, `heal`, `run`;
  `Recorder` protocol (``record(f, value)``) and `ListRecorder`;
  `leader_finder(cluster, topic, partition)` / `leader_finder(cluster, topics=...)`
  give ``leader_of`` from Metadata (the latter: the node leading the most partitions,
  `busiest_leader`).
"""

from harness.nemesis._faults import (
    FAULT_KINDS,
    LEADER_LAST,
    NEMESES,
    OPS,
    STALE_FIRST,
    TARGETS,
    Bandwidth,
    Cascade,
    Clock,
    Fault,
    Kill,
    Loss,
    Partition,
    Pause,
    Reset,
    Slow,
    get_fault,
    parse_nemesis,
)
from harness.nemesis._grudge import (
    TOPOLOGIES,
    Grudge,
    bridge,
    check_grudge,
    complete_grudge,
    grudge_for,
    is_symmetric,
    isolate,
    majorities_ring,
    majority,
    one,
    one_way,
    to_data,
)
from harness.nemesis._leader import (
    busiest_leader,
    leader_finder,
    metadata_leader,
    partition_leaders,
)
from harness.nemesis._nemesis import ListRecorder, Nemesis, Recorder
from harness.nemesis._schedule import (
    Step,
    default_schedule,
    explicit,
    interval,
    mix,
    with_final_heal,
)

__all__ = [
    "FAULT_KINDS", "LEADER_LAST", "NEMESES", "OPS", "STALE_FIRST", "TARGETS", "TOPOLOGIES",
    "Bandwidth", "Cascade", "Clock", "Fault", "Grudge", "Kill", "ListRecorder", "Loss", "Nemesis",
    "Partition", "Pause", "Recorder", "Reset", "Slow", "Step", "bridge", "busiest_leader",
    "check_grudge", "complete_grudge", "default_schedule", "explicit", "get_fault",
    "grudge_for", "interval", "is_symmetric", "isolate", "leader_finder", "majorities_ring",
    "majority", "metadata_leader", "mix", "one", "one_way", "parse_nemesis",
    "partition_leaders", "to_data", "with_final_heal",
]
