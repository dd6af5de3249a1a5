"""``python -m harness.report RUN_DIR... [--index] [--root DIR]``: regenerate reports.

The same as ``logtrial report`` (which calls `harness.report.regenerate`); usable
without the CLI. Prints each file written; a bad run directory is one line on stderr
and exit code 2, as for every `LogtrialError`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import LogtrialError
from harness.report import regenerate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.report",
                                 description="Write report.html and junit.xml for run "
                                             "directories, and optionally the index.")
    ap.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR")
    ap.add_argument("--index", action="store_true",
                    help="also write index.html over every run under --root")
    ap.add_argument("--root", type=Path, default=None,
                    help="folder holding the runs (default: the deepest common parent)")
    args = ap.parse_args(argv)
    try:
        for p in regenerate(args.run_dirs, index=args.index, reports_root=args.root):
            print(p)
    except LogtrialError as e:
        print(f"logtrial report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
