"""Run client code inside a network namespace without a subprocess.

A network namespace belongs to a thread, not to a process: `enter_netns` moves only
the calling thread (``setns(2)``), and threads it creates afterwards (kafka-python's
sender, librdkafka's brokers) inherit it. So the interpreter's worker threads join the
run's client namespace and the main thread stays in the host's, where the cluster and
the nemesis work. Never call `enter_netns` on the main thread.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from harness.errors import LogtrialError

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str, *, allow_main_thread: bool = False) -> None:
    """Move the calling thread into ``/var/run/netns/<name>``; ``allow_main_thread``
    is for a process that is all client (`harness.workload._hosted`)."""
    if not allow_main_thread and threading.current_thread() is threading.main_thread():
        raise LogtrialError("enter_netns must not move the main thread")
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LogtrialError(f"setns into network namespace {name!r} failed: "
                                f"{os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_netns(name: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` run on a fresh thread inside namespace ``name`` (or here when None)."""
    if name is None:
        return fn()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            enter_netns(name)
            box["value"] = fn()
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
