"""The target protocol: how to install-check, start and reach one broker implementation.

A target is small: it turns a `NodeSpec` (the node's name and id, data dir, and the
addresses the backend chose) into a command line and environment, says how to tell
the node is ready, and declares what it supports. Starting, signalling and placing
the process belong to `Cluster` and the backend, so every target gets kill, pause,
clock skew and cleanup the same way.

A target must not pick ports or addresses itself (the backend does), must keep all
of its files under ``spec.data_dir`` and must write its log to stdout/stderr.
"""

from __future__ import annotations

import abc
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.errors import LogtrialError

#: Every fault a nemesis knows; targets and backends declare subsets.
ALL_FAULTS = frozenset({"partition", "kill", "pause", "loss", "bandwidth", "slow", "reset",
                        "clock"})


class TargetNotInstalled(LogtrialError):
    """The broker a target needs is absent; the message says how to get it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """Everything a target needs to start one node."""

    name: str                                  # "n1"
    node_id: int                               # 1
    data_dir: Path
    listen: tuple[str, int]                    # bind address of the kafka listener
    advertise: tuple[str, int]                 # what clients are told to connect to
    #: per service other than "kafka": this node's bind address
    service_listen: Mapping[str, tuple[str, int]]
    #: per service, peer node name -> the address *this* node uses to reach it
    peers: Mapping[str, Mapping[str, tuple[str, int]]]
    #: node name -> node id, for every node of the cluster
    ids: Mapping[str, int]
    config: Mapping[str, str]


class Target(abc.ABC):
    """One broker implementation."""

    name: ClassVar[str]
    #: faults whose process side the target supports (network faults depend on the
    #: backend only): kill, pause, clock, plus partition/loss/... when it has nodes.
    faults: ClassVar[frozenset[str]]
    min_nodes: ClassVar[int] = 1
    max_nodes: ClassVar[int] = 1
    #: services each node listens on; the first is the Kafka listener.
    services: ClassVar[tuple[str, ...]] = ("kafka",)
    #: a SIGKILL may lose acknowledged data by design (e.g. in-memory storage).
    loses_data_on_kill: ClassVar[bool] = False
    #: a waiting Fetch is answered as soon as data arrives (Kafka's fetch.min.bytes=1),
    #: so consumers can wait long (Kafka's 500 ms) without delaying reads; a target
    #: that holds every fetch for the whole wait needs short waits instead.
    answers_fetch_on_data: ClassVar[bool] = False
    #: the first signal of a graceful stop.
    stop_signal: ClassVar[int] = signal.SIGTERM
    #: whether the harness manages processes at all (False for `external`).
    managed: ClassVar[bool] = True
    start_timeout_s: ClassVar[float] = 30.0

    def __init__(self, config: Mapping[str, str] | None = None) -> None:
        self.config = dict(config or {})

    @classmethod
    @abc.abstractmethod
    def check_installed(cls) -> None:
        """Raise `TargetNotInstalled` saying what is missing and how to install it."""

    def prepare(self, specs: Sequence[NodeSpec]) -> None:  # noqa: B027 - optional hook
        """One-time setup before the first start (e.g. formatting storage)."""

    @abc.abstractmethod
    def command(self, spec: NodeSpec) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment that start ``spec``'s node in the foreground."""

    def ready_line(self, spec: NodeSpec) -> str | None:
        """A string the node's log prints once it serves; None: wait for the port."""
        return None
