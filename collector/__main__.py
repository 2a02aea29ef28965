"""python -m collector run|report|serve|users|tokens|reports|audit: each subcommand lives in the module named for its job."""
from __future__ import annotations

import argparse
import importlib
import sys

from hailong_unshadow import unshadow

unshadow(__package__, __file__)  # first, before anything of our own is imported

# subcommand -> (module with add_arguments(parser) and main(args) -> int, one-line help)
COMMANDS = {
    "run": ("collector.ingest.service", "subscribe to the broker and store every rating exactly once"),
    "report": ("collector.reports.report_cli", "satisfaction report by site, counter, officer, service, time"),
    "serve": ("collector.web.server", "web dashboard for managers and the read-only API"),
    "users": ("collector.accounts.users_cli", "dashboard accounts: add, list, disable, enable, reset-password"),
    "tokens": ("collector.accounts.tokens_cli", "API tokens: add, list, revoke (as on the admin page)"),
    "reports": ("collector.alerting.reports_cli", "e-mail scheduled reports: reports send --period 2026-Q4"),
    "followup": ("collector.followup.cli", "the public form of the thank-you QR and the printed counter QR: followup serve, purge, counter-qr"),
    "audit": ("collector.completeness.audit_cli", "reconcile what each kiosk's outbox created with what arrived (exit 1 if missing)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m collector",
        description="Central collector of the smiley feedback terminals: ingest, reports, dashboard.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        module.add_arguments(p)
    args = parser.parse_args(argv)
    return modules[args.command].main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
