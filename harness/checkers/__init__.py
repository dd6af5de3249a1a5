"""Checkers: pure functions from a `History` to a `CheckResult`."""

from harness.checkers._result import CheckResult, Validity, Witness, compose, guarded, worst

__all__ = ["CheckResult", "Validity", "Witness", "compose", "guarded", "worst"]
