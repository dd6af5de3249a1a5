"""``python -m harness.cluster``: cleanup and a dry check of a run's choices.

- ``cleanup [--prefix lt-]``: reap what dead runs left (what ``logtrial cleanup``
  does); prints the report.
- ``check --target T [--backend B] [--nodes N] [--nemesis a,b] [--bootstrap ...]``:
  validate the names and the fault support without starting anything.

A `LogtrialError` becomes one line on stderr and exit code 2, as in the CLI.
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import LogtrialError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.cluster")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cleanup", help="reap what dead runs left")
    c.add_argument("--prefix", default="lt-")
    k = sub.add_parser("check", help="validate target, backend, nodes and nemesis")
    k.add_argument("--target", required=True)
    k.add_argument("--backend")
    k.add_argument("--nodes", type=int)
    k.add_argument("--nemesis", default="none")
    k.add_argument("--bootstrap")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "cleanup":
            from harness.cluster import cleanup_stale_runs
            print(cleanup_stale_runs(prefix=args.prefix))
            return 0
        from harness.cluster import build_cluster
        from harness.nemesis._faults import BACKEND_FAULTS, parse_nemesis
        cluster = build_cluster(args.target, backend=args.backend, nodes=args.nodes,
                                bootstrap=args.bootstrap)
        faults = parse_nemesis(args.nemesis)
        t = cluster.target
        for f in faults:
            if f.kind not in t.faults:
                raise LogtrialError(f"the {t.name} target does not support the {f.kind!r} "
                                    f"fault (it supports {', '.join(sorted(t.faults)) or 'none'})")
            if f.kind in BACKEND_FAULTS and f.kind not in cluster.backend.supports:
                raise LogtrialError(f"the {cluster.backend.name} backend does not support the "
                                    f"{f.kind!r} fault")
        print(f"ok: {t.name} x {len(cluster.nodes)} node(s)"
              + (f" on {cluster.backend.name}" if t.managed else ""))
        return 0
    except LogtrialError as e:
        print(f"logtrial: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
