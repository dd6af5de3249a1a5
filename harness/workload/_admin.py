"""Topic set-up before a run (kafka-python's admin client)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

from harness.errors import LogtrialError
from harness.workload._clients import topic_of


def create_topics(bootstrap: str, prefix: str, keys: list[str], replication_factor: int,
                  timeout_s: float = 30.0, configs: Mapping[str, str] | None = None) -> None:
    """Create one single-partition topic per key, with topic ``configs`` (e.g.
    ``retention.ms``, ``segment.bytes``); existing topics are fine (and keep theirs)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    end = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","),
                                     request_timeout_ms=5000, client_id="logtrial-admin")
        except Exception as e:  # broker not up yet: retry until the deadline
            last = e
            time.sleep(0.3)
            continue
        try:
            topics = [NewTopic(topic_of(prefix, k), num_partitions=1,
                               replication_factor=replication_factor,
                               topic_configs=dict(configs or {})) for k in keys]
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(topics, timeout_ms=int(timeout_s * 1000))
            return
        except Exception as e:
            last = e
            time.sleep(0.3)
        finally:
            admin.close()
    raise LogtrialError(f"could not create the workload's topics on {bootstrap} within "
                        f"{timeout_s:.0f} s: {last!r}")
