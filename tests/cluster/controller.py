"""A controlling process for the cleanup tests: starts a faulted cluster and waits.

``controller.py BACKEND``: starts 2 probe nodes, partitions them, pauses n2 and adds
loss, prints ``RUN <run-id>`` then sleeps until interrupted (SIGINT, SIGTERM) or killed.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.cluster import Cluster, NetnsBackend, ProxyBackend, sigterm_as_interrupt
from harness.nemesis import ListRecorder, Loss, Nemesis, Partition, Pause
from tests.cluster.conftest import ProbeTarget


def main() -> None:
    backend = NetnsBackend() if sys.argv[1] == "netns" else ProxyBackend()
    with sigterm_as_interrupt(), Cluster(ProbeTarget(), backend, 2, reap_stale=False) as c:
        nem = Nemesis(c, ListRecorder(now_ns=time.monotonic_ns), random.Random(1))
        nem.start(Partition(grudge={"n1": ("n2",), "n2": ("n1",)}))
        nem.start(Loss(probability=0.1))
        nem.start(Pause(nodes=("n2",)))
        print(f"RUN {c.run_id}", flush=True)
        while True:
            time.sleep(0.1)


if __name__ == "__main__":
    main()
