"""python -m collector run|report|serve|users|tokens|reports|audit: each subcommand lives in the module named for its job."""
from __future__ import annotations

import argparse
import importlib
import os
import sys


def _unshadow() -> None:
    """`python -m` puts the working directory first on sys.path, and a folder there named like one of our
    packages (a broker folder called broker/, a config/ of YAML files) is imported instead of the installed
    package, whose commands then fail with an AttributeError. Unless run from the source tree, forget the
    working directory and import the real package again. The same block is in each package's __main__.py
    (tests/integration/test_cli_small.py)."""
    real = os.path.realpath
    here = os.path.dirname(real(__file__))
    cwd = real(os.getcwd())
    if not __package__ or os.path.dirname(here) == cwd:
        return
    sys.path[:] = [p for p in sys.path if real(p or ".") != cwd]
    pkg = sys.modules.get(__package__)
    if pkg is not None and os.path.dirname(real(getattr(pkg, "__file__", None) or cwd)) != here:
        for name in [m for m in sys.modules if m.split(".")[0] in ("broker", "collector", "config", "kiosk")]:
            del sys.modules[name]
        try:
            __import__(__package__)
        except ImportError:
            sys.exit(f"{__package__}: thư mục {__package__}/ ở thư mục hiện tại che mất gói cài đặt / a folder named "
                     f"{__package__}/ in the working directory hides the installed package: run from another folder, "
                     f"or use hailong-{__package__}")


_unshadow()

# subcommand -> (module with add_arguments(parser) and main(args) -> int, one-line help)
COMMANDS = {
    "run": ("collector.ingest.service", "subscribe to the broker and store every rating exactly once"),
    "report": ("collector.reports.report_cli", "satisfaction report by site, counter, officer, service, time"),
    "serve": ("collector.web.server", "web dashboard for managers and the read-only API"),
    "users": ("collector.accounts.users_cli", "dashboard accounts: add, list, disable, enable, reset-password"),
    "tokens": ("collector.accounts.tokens_cli", "API tokens: add, list, revoke (as on the admin page)"),
    "reports": ("collector.alerting.reports_cli", "e-mail scheduled reports: reports send --period 2026-Q4"),
    "followup": ("collector.followup.cli", "the public form of the thank-you QR: followup serve, followup purge"),
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
