"""One base error for everything logtrial raises on purpose.

Errors say what was given, what was expected and how to fix it. The CLI turns any
`LogtrialError` into a one-line message and exit code 2; anything else is a bug.
"""

from __future__ import annotations


class LogtrialError(Exception):
    """Base class of every deliberate logtrial error."""


class UsageError(LogtrialError):
    """Bad arguments or configuration given by the user."""


class HistoryError(LogtrialError):
    """A history file that cannot be read: names the file, line and problem."""

    def __init__(self, reason: str, *, line: int | None = None, path: str | None = None,
                 expected: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.path = path
        self.expected = expected
        where = ""
        if path is not None:
            where = f"{path}:"
        if line is not None:
            where += f"{line}:"
        msg = f"{where} {reason}" if where else reason
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg.strip())
