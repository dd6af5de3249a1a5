"""History recording throughput: `Recorder.record` (index, clock, in-memory list and
JSONL stream) against a baseline of bare orjson lines written in the same run.

Target (issue "Harness: workloads, runs ..."): >= 50,000 ops/s.
Usage: python benchmarks/bench_recorder.py [--ops N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

from harness.workload import Recorder

TARGET_OPS_S = 50_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=400_000)
    n = ap.parse_args().ops
    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(Path(d) / "history.jsonl")
        t = time.perf_counter()
        for i in range(n // 2):
            rec.record(i % 20, "invoke", "send", [["send", str(i % 10), i]])
            rec.record(i % 20, "ok", "send", [["send", str(i % 10), [i, i]]])
        rec.close()
        dt_rec = time.perf_counter() - t
        t = time.perf_counter()
        with open(Path(d) / "raw.jsonl", "wb") as fh:
            for i in range(n // 2):
                fh.write(orjson.dumps({"index": 2 * i, "time": i, "process": i % 20,
                                       "type": "invoke", "f": "send",
                                       "value": [["send", str(i % 10), i]]}) + b"\n")
                fh.write(orjson.dumps({"index": 2 * i + 1, "time": i, "process": i % 20,
                                       "type": "ok", "f": "send",
                                       "value": [["send", str(i % 10), [i, i]]]}) + b"\n")
        dt_raw = time.perf_counter() - t
    rec_s, raw_s = n / dt_rec, n / dt_raw
    print(f"recorder: {rec_s:,.0f} ops/s ({n:,} ops in {dt_rec:.2f} s)")
    print(f"baseline (bare orjson lines): {raw_s:,.0f} ops/s")
    print(f"ratio recorder/baseline: {rec_s / raw_s:.2f}")
    print(f"ratio recorder/target ({TARGET_OPS_S:,} ops/s): {rec_s / TARGET_OPS_S:.1f} "
          f"-> {'MET' if rec_s >= TARGET_OPS_S else 'MISSED'}")


if __name__ == "__main__":
    main()
