"""Runs: options -> cluster + workload + nemesis -> history -> verdict -> report."""

from harness.runner._options import RunOptions
from harness.runner._run import RunOutcome, check_history, execute

__all__ = ["RunOptions", "RunOutcome", "check_history", "execute"]
