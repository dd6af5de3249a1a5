"""File names and the few whole-file writes of a partition directory (thin I/O).

A partition directory holds, for each segment with base offset B (20 digits, zero
padded, Kafka's convention): ``B.log`` (the batches, back to back, exactly as
appended but for the base offset), and for closed segments ``B.index`` and
``B.timeindex`` (see `index`). ``log-start-offset`` holds the log start offset as
text, ``"1\\n<offset>\\n"`` (format version, then the value). Whole files are
written atomically: temp file, fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TEMP_SUFFIX = ".tmp"
CHECKPOINT_NAME = "log-start-offset"
CHECKPOINT_VERSION = 1


def segment_name(base_offset: int, suffix: str = LOG_SUFFIX) -> str:
    return f"{base_offset:020d}{suffix}"


def parse_segment_name(name: str, suffix: str = LOG_SUFFIX) -> int | None:
    """Base offset of a file called ``<20 digits><suffix>``, else None."""
    if not name.endswith(suffix):
        return None
    stem = name[: -len(suffix)]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file."""
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        fsync_dir(path.parent)


def write_log_start_offset(directory: Path, offset: int) -> None:
    atomic_write(directory / CHECKPOINT_NAME, f"{CHECKPOINT_VERSION}\n{offset}\n".encode())


def read_log_start_offset(directory: Path) -> tuple[int | None, str | None]:
    """``(offset, None)``, ``(None, None)`` if there is no checkpoint, or
    ``(None, problem)`` if it cannot be parsed."""
    path = directory / CHECKPOINT_NAME
    try:
        text = path.read_bytes().decode("ascii")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{path}: unreadable log start offset checkpoint: {e}"
    lines = text.split("\n")
    if (len(lines) != 3 or lines[2] != "" or lines[0] != str(CHECKPOINT_VERSION)
            or not lines[1].isdigit()):
        return None, f"{path}: malformed log start offset checkpoint {text[:40]!r}"
    return int(lines[1]), None
