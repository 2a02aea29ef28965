"""python -m collector users add|list|set|disable|enable|reset-password|remove|recover-admin: dashboard
accounts from the command line.

The command line acts with full rights (whoever can run it can read the database anyway); admins on the
dashboard manage only accounts within their own scope. The bootstrap admin's name (dashboard.username)
is reserved: no account may take it. ``recover-admin`` is the way back when the system admin cannot log
in. Every change is written to the audit log.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from .accounts import (LANGS, REPORT_KINDS, ROLES, AccountError, Scope, Store, delivery_detail, parse_email,
                       parse_reports, reports_text)
from ..reports.hierarchy import Hierarchy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("Scopes: all, province:SLUG, commune:SLUG or centre:SLUG (slugs of 'sites:' in collector.yaml). "
                "Example: python -m collector users add chu-tich-tan-lap --role viewer --scope commune:xa-tan-lap "
                "--email chu-tich@tanlap.gov.vn --lang vi --config collector.yaml")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="viewer", help="viewer (default) or admin")
    add.add_argument("--scope", required=True, help="all, province:SLUG, commune:SLUG or centre:SLUG")
    _delivery_options(add, "")
    _password_options(add)
    sub.add_parser("list", help="every account with its role, scope, state and where its reports go")
    change = sub.add_parser("set", help="change where an account's scheduled reports go, their language and periods")
    change.add_argument("username")
    _delivery_options(change, " (unchanged when not given)")
    for name, text in (("disable", "lock an account out and end its sessions"), ("enable", "let it log in again")):
        sub.add_parser(name, help=text).add_argument("username")
    reset = sub.add_parser("reset-password", help="set a new password and end the account's sessions")
    reset.add_argument("username")
    _password_options(reset)
    sub.add_parser("remove", help="delete an account and end its sessions (its audit entries stay)").add_argument(
        "username")
    recover = sub.add_parser(
        "recover-admin", help="get the system admin back: remove any account that took the bootstrap admin's "
                              "name and, with --name, make that account an admin of scope all with a new password")
    recover.add_argument("--name", metavar="USERNAME",
                         help="a stored account to make (or reset as) an enabled admin of scope all")
    _password_options(recover)


def _delivery_options(p: argparse.ArgumentParser, unchanged: str) -> None:
    kinds = ", ".join(REPORT_KINDS)
    p.add_argument("--email", metavar="ADDRESS", help="where its scheduled reports go; '' removes the address "
                   "(no address: no report)" + unchanged)
    p.add_argument("--lang", choices=LANGS, default=None if unchanged else "vi",
                   help="language of its reports: vi (default) or en" + unchanged)
    p.add_argument("--reports", metavar="PERIODS", default=None if unchanged else "all",
                   help=f"which periods it receives: all (default), none, or a comma list of {kinds}" + unchanged)


def _password_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-env", metavar="NAME",
                   help="read the password from this environment variable instead of asking")


def _password(args) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise AccountError(f"environment variable {args.password_env} is empty or not set")
        return value
    first = getpass.getpass("Password (10 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ; nothing was changed")
    return first


def open_store(args, command: str):
    """(config, database, accounts store, actor) the command line acts with, with full rights; None when the
    config or the database cannot be opened (said already)."""
    from ..cli_setup import collector_config, database

    cfg = collector_config(args.config)
    db = database(cfg, args.db, command) if cfg is not None else None
    if db is None:
        return None
    store = Store(db, Hierarchy.from_config(cfg.sites, cfg.labels), reserved=cfg.dashboard.username)
    return cfg, db, store, f"(command line: {getpass.getuser()})"


def main(args) -> int:
    opened = open_store(args, "users")
    if opened is None:
        return 2
    cfg, db, store, actor = opened
    try:
        if args.action == "list":
            accounts = store.list()
            print(f"{'USER':<24} {'ROLE':<7} {'STATE':<9} {'SCOPE':<28} {'LANG':<4} {'REPORTS':<24} E-MAIL")
            for a in accounts:
                print(f"{a.username:<24} {a.role:<7} {'disabled' if a.disabled else 'active':<9} {str(a.scope):<28} "
                      f"{a.lang:<4} {reports_text(a.reports):<24} {a.email or '-'}")
            print(f"bootstrap admin (scope all): {cfg.dashboard.username!r} with dashboard.password of "
                  f"{args.config}" + ("" if cfg.dashboard.password else " (not set: disabled)"))
            for a in store.shadowed():
                print(f"warning: the account {a.username!r} ({a.role}, scope {a.scope}) has the bootstrap admin's "
                      f"name and cannot log in; remove it: python -m collector users --config {args.config} "
                      "recover-admin", file=sys.stderr)
        elif args.action == "add":
            scope = Scope.parse(args.scope)
            parse_email(args.email), parse_reports(args.reports)  # a typo is told before the password is asked
            account = store.add(args.username, _password(args), args.role, scope, email=args.email,
                                lang=args.lang, reports=args.reports)
            store.audit(actor, "account-added", account.username, f"{account.role} {account.scope}"
                        + delivery_detail(account), "", account.scope)
            print(f"users: added {account.username} ({account.role}, scope {account.scope})", file=sys.stderr)
        elif args.action == "set":
            if args.email is None and args.lang is None and args.reports is None:
                raise AccountError("nothing to change: give --email, --lang or --reports")
            account, changed = store.set_delivery(args.username, email=args.email, lang=args.lang,
                                                  reports=args.reports)
            if changed:
                store.audit(actor, "account-changed", account.username, changed, "", account.scope)
            print(f"users: {account.username}: {changed or 'nothing changed'}", file=sys.stderr)
        elif args.action in ("disable", "enable"):
            account = store.set_disabled(args.username, args.action == "disable")
            store.audit(actor, f"account-{args.action}d", account.username, "", "", account.scope)
            print(f"users: {args.action}d {account.username}", file=sys.stderr)
        elif args.action == "reset-password":
            account = store.reset_password(args.username, _password(args))
            store.audit(actor, "password-reset", account.username, "", "", account.scope)
            print(f"users: new password set for {account.username}; its sessions were ended", file=sys.stderr)
        elif args.action == "remove":
            account = store.remove(args.username)
            store.audit(actor, "account-removed", account.username, f"{account.role} {account.scope}", "",
                        account.scope)
            print(f"users: removed {account.username} ({account.role}, scope {account.scope}); its sessions were "
                  "ended", file=sys.stderr)
        elif args.action == "recover-admin":
            _recover(store, cfg, args, actor)
    except AccountError as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    return 0


def _recover(store: Store, cfg, args, actor: str) -> None:
    if not args.name and not cfg.dashboard.password:
        raise AccountError(f"no dashboard.password in {args.config}, so the bootstrap admin cannot log in: give "
                           "--name NAME to make a stored admin of scope all, or set dashboard.password")
    if args.name and store.is_reserved(args.name):
        raise AccountError(f"{args.name!r} is the bootstrap admin: it logs in with dashboard.password of "
                           f"{args.config}; run recover-admin without --name, or give another name")
    password = _password(args) if args.name else None
    removed, account = store.recover_admin(args.name, password)
    for a in removed:
        store.audit(actor, "account-removed", a.username, f"{a.role} {a.scope}: it had the bootstrap admin's name",
                    "", a.scope)
        print(f"users: removed {a.username} ({a.role}, scope {a.scope}), which had the bootstrap admin's name",
              file=sys.stderr)
    if account is not None:
        store.audit(actor, "admin-recovered", account.username, "admin all; password set, sessions ended", "",
                    account.scope)
        print(f"users: {account.username} is an enabled admin of scope all with the new password", file=sys.stderr)
    if cfg.dashboard.password:
        print(f"users: the bootstrap admin {cfg.dashboard.username!r} logs in with dashboard.password of "
              f"{args.config}", file=sys.stderr)
