"""python -m config check FILE...: validate kiosk.yaml, collector.yaml and broker.yaml files."""
from __future__ import annotations

import argparse
import sys

from .loader import KINDS, ConfigError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config",
        description="Check the YAML files of the smiley feedback terminal (kiosk, collector, broker).",
        epilog="Example: python -m config check config/examples/*.yaml")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate files; prints 'ok' per file or one line per problem",
                           description="Validate YAML files. Exit 0 when all are valid, 1 otherwise.")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--kind", choices=sorted(KINDS), help="kind of file (default: detected from content)")
    args = parser.parse_args(argv)

    failed = False
    for f in args.files:
        try:
            load(f, kind=args.kind)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{f}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
