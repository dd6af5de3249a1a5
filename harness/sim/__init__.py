"""Deterministic simulation of the reference broker's Raft core.

N `reference_broker.raft.RaftNode`s run in one process on a simulated clock, a
simulated network (delay, reordering, loss, duplication, partitions) and
simulated disks (fsync latency; a crash loses unsynced writes; compaction), all
driven by one seed. `run_simulation` runs a schedule (pure data, `_schedule`) through a safety
phase checked by `SafetyChecker` and then a liveness phase; a failure raises
`SimFailure` whose ``replay`` is the ``python -m harness.sim ...`` command that
reproduces it. ``harness.sim.strategies`` has hypothesis strategies for schedules.
"""

from ._checks import SafetyChecker, SafetyViolation
from ._disk import SimDisk
from ._network import NetworkStats, SimNetwork
from ._schedule import (
    Command,
    Compact,
    Crash,
    CrashLeader,
    Heal,
    IsolateLeader,
    Network,
    Partition,
    Propose,
    Restart,
    Run,
    Schedule,
    Transfer,
    random_schedule,
    schedule_from_json,
    schedule_to_json,
)
from ._sim import (
    EXIT_CODES,
    SimFailure,
    SimOptions,
    SimResult,
    Simulation,
    replay_command,
    run_simulation,
)

__all__ = [
    "EXIT_CODES",
    "Command",
    "Compact",
    "Crash",
    "CrashLeader",
    "Heal",
    "IsolateLeader",
    "Network",
    "NetworkStats",
    "Partition",
    "Propose",
    "Restart",
    "Run",
    "SafetyChecker",
    "SafetyViolation",
    "Schedule",
    "SimDisk",
    "SimFailure",
    "SimNetwork",
    "SimOptions",
    "SimResult",
    "Simulation",
    "Transfer",
    "random_schedule",
    "replay_command",
    "run_simulation",
    "schedule_from_json",
    "schedule_to_json",
]
