"""python -m broker: the wire contract and the Mosquitto set-up."""
from __future__ import annotations

import argparse
import json
import sys

from . import contract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker", description="Wire contract and broker tooling.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("schema", help="print the JSON Schema of wire contract v1")
    args = parser.parse_args(argv)
    if args.command == "schema":
        print(json.dumps(contract.json_schema(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
