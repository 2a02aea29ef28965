"""python -m collector tokens add|list|revoke: API tokens from the command line, as on the admin page.

The same Store calls as the admin page (accounts.Store.add_token, tokens, revoke_token) and the same audit
entries (token-added, token-revoked); the command line acts with full rights, like ``users``. A new
token's secret is printed once, on standard output, and only its hash is kept.
"""
from __future__ import annotations

import argparse
import sys

from .accounts import AccountError, Scope


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("Scopes: all, province:SLUG, commune:SLUG or centre:SLUG (slugs of 'sites:' in collector.yaml).\n"
                "examples:\n"
                "  python -m collector tokens --config collector.yaml add 'Hệ thống một cửa tỉnh' --scope province:lang-son\n"
                "  python -m collector tokens --config collector.yaml list\n"
                "  python -m collector tokens --config collector.yaml revoke 3f9a0c12d4e5")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a token; its secret is printed once on standard output")
    add.add_argument("name", help="who uses it, e.g. the province's one-stop system (1 to 80 characters)")
    add.add_argument("--scope", required=True, help="all, province:SLUG, commune:SLUG or centre:SLUG")
    sub.add_parser("list", help="every token: id, state, scope, who made it, when, name")
    sub.add_parser("revoke", help="stop a token from working (it stays listed as revoked)").add_argument(
        "id", help="the token's id, as 'list' shows it (12 hex digits)")


def main(args) -> int:
    from datetime import datetime, timezone

    from ..reports.report import _zone
    from .users_cli import open_store

    opened = open_store(args, "tokens")
    if opened is None:
        return 2
    cfg, db, store, actor = opened
    try:
        if args.action == "add":
            token, secret = store.add_token(args.name, Scope.parse(args.scope), by=None)
            store.audit(actor, "token-added", f"{token.id} {token.name}", str(token.scope), "", token.scope)
            print(secret)
            print(f"tokens: đã tạo khóa {token.id} ({token.name}, phạm vi {token.scope}); khóa chỉ hiện một lần, "
                  f"hãy chép ngay / created token {token.id} ({token.name}, scope {token.scope}); the secret above "
                  "is shown once only: copy it now", file=sys.stderr)
        elif args.action == "list":
            zone = _zone(cfg.timezone)
            print(f"{'ID':<12} {'STATE':<8} {'SCOPE':<28} {'CREATED BY':<28} {'CREATED':<16} NAME")
            for tk in store.tokens(Scope("all")):
                when = datetime.fromtimestamp(tk["created_ms"] / 1000, timezone.utc).astimezone(zone)
                print(f"{tk['id']:<12} {'revoked' if tk['revoked'] else 'active':<8} {tk['scope']:<28} "
                      f"{tk['created_by']:<28} {when:%Y-%m-%d %H:%M} {tk['name']}")
        elif args.action == "revoke":
            token = store.revoke_token(args.id, by=None)
            store.audit(actor, "token-revoked", f"{token.id} {token.name}", "", "", token.scope)
            print(f"tokens: đã thu hồi khóa {token.id} ({token.name}) / revoked token {token.id} ({token.name})",
                  file=sys.stderr)
    except AccountError as exc:
        print(f"tokens: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    return 0
