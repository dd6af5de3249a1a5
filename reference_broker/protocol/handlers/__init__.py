"""Handler registry and the broker context handed to every request handler.

A handler serves one API key over a range of versions::

    @handler(ApiKey.HEARTBEAT, 0, 4)
    async def heartbeat(ctx: BrokerContext, header: RequestHeader, request: Any) -> Any:
        return HeartbeatResponse(version=header.api_version, error_code=0)

- `request` is the decoded request body: an instance of kafka-python's
  `kafka.protocol` request class for that API (see `reference_broker.protocol.codec`,
  which owns every codec decision; Produce and Fetch may use faster private types).
- The handler returns the response body, an instance of kafka-python's response class
  for the same API built with `version=header.api_version`, or None when the protocol
  says no response is sent (Produce with acks=0). The server adds the response header,
  encodes and frames it, and answers pipelined requests in arrival order.
- Handlers may await (long polls, group joins); the server keeps order per connection.
- A handler must not block the event loop on I/O for long, must not read the wall clock
  itself (use `ctx.now_ms()`), and must not raise for bad client input: it answers with a
  Kafka error code, or raises `CloseConnection` where Kafka closes the connection. Any
  other exception is a broker bug: the server logs it and closes that connection only.

Modules plug in by registering at import time; `load_handlers()` imports the known
handler modules once (a module absent from the tree, e.g. groups before it lands, is
skipped). Long-lived parts (the group coordinator) hook the broker's lifetime with
`on_startup` / `on_shutdown`, and keep their state on the context (e.g. `ctx.groups`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reference_broker.config import BrokerConfig

log = logging.getLogger(__name__)


class ApiKey:
    """Kafka API keys used by this broker (Kafka's numbering)."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    TXN_OFFSET_COMMIT = 28
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    INCREMENTAL_ALTER_CONFIGS = 44
    OFFSET_DELETE = 47
    DESCRIBE_CLUSTER = 60
    DESCRIBE_PRODUCERS = 61


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeader:
    """The parsed request header (v0-v2; tagged header fields are skipped)."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    peer: str = ""


class BrokerContext:
    """What handlers may reach: config, topics, partitions, the coordinator, the clock.

    One per broker process, built by the server before it listens. Attributes:
    `config` (BrokerConfig, Kafka names), `node_id`, `advertised_host`,
    `advertised_port`, `data_dir`, `topics` (the topic store, see
    `reference_broker.topics`), `groups` (the group coordinator, set by the groups
    plug-in's startup hook; None until then), `extras` (free slots for plug-ins).
    """

    def __init__(
        self,
        *,
        config: BrokerConfig,
        node_id: int,
        advertised_host: str,
        advertised_port: int,
        data_dir: Path,
        clock_ms: Callable[[], int],
        topics: Any = None,
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.advertised_host = advertised_host
        self.advertised_port = advertised_port
        self.data_dir = data_dir
        self._clock_ms = clock_ms
        self.topics: Any = topics
        self.groups: Any = None
        self.extras: dict[str, Any] = {}

    def now_ms(self) -> int:
        """Wall-clock milliseconds (the only clock handlers may use)."""
        return self._clock_ms()


class CloseConnection(Exception):
    """Raised by a handler to make the server close the connection without answering
    (Kafka does this for a failed acks=0 produce, so that the producer notices)."""


Handler = Callable[[BrokerContext, RequestHeader, Any], Awaitable[Any]]
Hook = Callable[[BrokerContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HandlerEntry:
    """A registered handler and the versions it serves (advertised in ApiVersions)."""

    api_key: int
    min_version: int
    max_version: int
    fn: Handler


@dataclass(slots=True)
class Registry:
    """api_key -> handler, plus lifetime hooks. One global instance: `REGISTRY`."""

    handlers: dict[int, HandlerEntry] = field(default_factory=dict)
    startup: list[Hook] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)

    def add(self, api_key: int, min_version: int, max_version: int, fn: Handler) -> None:
        if api_key in self.handlers:
            raise ValueError(f"a handler for api key {api_key} is already registered")
        self.handlers[api_key] = HandlerEntry(api_key, min_version, max_version, fn)


REGISTRY = Registry()


def handler(api_key: int, min_version: int, max_version: int) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as the handler of `api_key` for those versions."""

    def register(fn: Handler) -> Handler:
        REGISTRY.add(api_key, min_version, max_version, fn)
        return fn

    return register


def on_startup(fn: Hook) -> Hook:
    """Run `fn(ctx)` once after the stores are open and before the broker listens."""
    REGISTRY.startup.append(fn)
    return fn


def on_shutdown(fn: Hook) -> Hook:
    """Run `fn(ctx)` once on clean shutdown, after the listener has closed."""
    REGISTRY.shutdown.append(fn)
    return fn


# Modules imported by load_handlers(); each registers its handlers at import time.
HANDLER_MODULES = (
    "reference_broker.protocol.handlers.core",
    "reference_broker.protocol.handlers.produce",
    "reference_broker.protocol.handlers.fetch",
    "reference_broker.protocol.handlers.admin",
    "reference_broker.protocol.handlers.groups",
    "reference_broker.protocol.handlers.txn",  # after groups: commits offsets to them
)

_loaded = False


def load_handlers() -> Registry:
    """Import every handler module once; modules not (yet) in the tree are skipped."""
    global _loaded
    if not _loaded:
        _loaded = True
        for name in HANDLER_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                log.info("handler module %s not present; its APIs are not served", name)
    return REGISTRY
