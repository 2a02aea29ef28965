"""python -m config check FILE...: validate kiosk.yaml, collector.yaml and broker.yaml files."""
from __future__ import annotations

import argparse
import sys

from .loader import KINDS, ConfigError, load_checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config",
        description="Check the YAML files of the smiley feedback terminal (kiosk, collector, broker).",
        epilog="Example: python -m config check config/examples/*.yaml")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate files; prints 'ok' per file or one line per problem",
                           description="Validate YAML files and check that the files they name (CA, client "
                                       "certificate and key, password files, sounds) exist and can be read "
                                       "by this user. Exit 0 when all are valid, 1 otherwise.")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--kind", choices=sorted(KINDS), help="kind of file (default: detected from content)")
    args = parser.parse_args(argv)

    failed = False
    for f in args.files:
        try:
            _cfg, warnings = load_checked(f, kind=args.kind)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            for problem in warnings:
                print(problem, file=sys.stderr)
            failed = failed or bool(warnings)
            if not warnings:
                print(f"{f}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
