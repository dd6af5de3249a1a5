"""The kafka workload: pure generators, client adapters and the interpreter."""

from harness.workload._admin import create_topics
from harness.workload._clients import (
    CLIENTS,
    Client,
    ClientError,
    ClientOptions,
    ConfluentClient,
    KafkaPythonClient,
    call_bounded,
)
from harness.workload._errors import classify_read, classify_send
from harness.workload._generator import (
    Context,
    Invocation,
    KafkaGenerator,
    KafkaWorkload,
    Pending,
    derive_seed,
)
from harness.workload._interpreter import Interpreter, Recorder, apply, final_reads

__all__ = [
    "CLIENTS",
    "Client",
    "ClientError",
    "ClientOptions",
    "ConfluentClient",
    "Context",
    "Interpreter",
    "Invocation",
    "KafkaGenerator",
    "KafkaPythonClient",
    "KafkaWorkload",
    "Pending",
    "Recorder",
    "apply",
    "call_bounded",
    "classify_read",
    "classify_send",
    "create_topics",
    "derive_seed",
    "final_reads",
]
