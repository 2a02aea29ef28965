"""python -m collector followup serve|purge: the public form, and the clean-up a cron job may run."""
from __future__ import annotations

import argparse
import sys
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="followup_command", required=True, metavar="ACTION")
    s = sub.add_parser("serve", help="serve the public form the thank-you QR opens (its own listener)",
                       description="Serve only the public form (/f/<rating id>.<token>) on its own address; put it "
                                   "behind a reverse proxy with TLS (docs/followup.md). Example: python -m collector "
                                   "followup serve --config collector.yaml")
    for q in (s, sub.add_parser("purge", help="delete expired pending answers, and comments and contacts past "
                                              "followup_form.retention_days")):
        q.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
        q.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    s.add_argument("--host", help="address to listen on (default: followup_form.host, 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: followup_form.port, 8090)")


def main(args) -> int:
    from ..cli_setup import collector_config, database
    from . import answers
    from .form import FollowupApp, make_server

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    db = database(cfg, args.db, f"followup {args.followup_command}")
    if db is None:
        return 2
    form = cfg.followup_form
    try:
        if args.followup_command == "purge":
            now_ms = int(time.time() * 1000)
            expired = answers.expire(db, now_ms, int(form.pending_hours * 3_600_000))
            purged = answers.purge(db, now_ms, form.retention_days)
            print(f"followup purge: {expired} câu trả lời chờ đã hết hạn / expired pending answers deleted; "
                  f"{purged} ý kiến, liên hệ đã xóa / comments and contacts deleted")
            return 0
        host, port = args.host or form.host, args.port or form.port
        app = FollowupApp(form, db)
        try:
            server = make_server(app, host, port)
        except OSError as exc:
            print(f"followup serve: cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port",
                  file=sys.stderr)
            return 2
        server.start()
        print(f"followup form on http://{host}:{server.server_address[1]}/f/... (Ctrl+C stops)", file=sys.stderr,
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
        return 0
    finally:
        db.close()
