"""python -m collector reports send: e-mail the scheduled reports of one period (or of those due today)."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("examples (see 'reports send --help'):\n"
                "  python -m collector reports send --config collector.yaml --period 2026-Q4 --dry-run\n"
                "  python -m collector reports send --config collector.yaml --period 2026-Q4 --dry-run --output-dir out/\n"
                "  python -m collector reports send --config collector.yaml")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("send", help="send one round of scheduled reports by e-mail",
                       description="Send one round of scheduled reports (PDF and XLSX) to the dashboard accounts "
                                   "with an e-mail address, and to notify.recipients, that take this kind of "
                                   "period. A recipient that already received this period's report is skipped.")
    s.formatter_class = argparse.RawDescriptionHelpFormatter
    s.epilog = ("Without --period, sends the periods whose first working day after closing is today (or was in\n"
                "the last 7 days): what the schedule inside 'collector serve' does every morning.\n"
                "examples:\n"
                "  python -m collector reports send --config collector.yaml --period 2026-Q4 --dry-run\n"
                "  python -m collector reports send --config collector.yaml --period 2026-10\n"
                "  python -m collector reports send --config collector.yaml --period 2026-6M --dry-run --output-dir out/")
    s.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    s.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    s.add_argument("--period", metavar="P",
                   help="2026-10 (month), 2026-Q4 (quarter), 2026-6M, 2026-9M (since January) or 2026 (year)")
    s.add_argument("--dry-run", action="store_true", help="list who would receive what; send and record nothing")
    s.add_argument("--output-dir", type=Path, metavar="DIR", help="also write each PDF and XLSX into DIR")


def main(args) -> int:
    from ..cli_setup import collector_config, database
    from .calendar import Calendar, due_periods
    from .outbox import pending_count
    from .recipients import everyone
    from .reports import run_round

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    now = datetime.now(timezone.utc)
    cal = Calendar.from_config(cfg)
    labels = [args.period] if args.period else [label for _, label in due_periods(now.astimezone(cal.zone).date(), cal)]
    db = database(cfg, args.db, "reports")
    if db is None:
        return 2
    code = 0
    try:
        if not labels:
            print("reports: no period is due today", file=sys.stderr)
        for label in labels:
            try:
                res = run_round(db, cfg, label, everyone(cfg, db), now, dry_run=args.dry_run,
                                outdir=args.output_dir)
            except ValueError as exc:
                print(f"reports: {exc}", file=sys.stderr)
                code = 2
                continue
            verb = "would send" if args.dry_run else "queued"
            print(f"{res.label}: {verb} {len(res.queued)}, already sent {len(res.already)}"
                  + (f": {', '.join(res.queued)}" if res.queued and len(res.queued) <= 20 else ""))
            for path in res.files:
                print(f"  wrote {path}")
            if res.delivery is not None:
                d = res.delivery
                print(f"  delivered {d.sent}, to retry {d.retry + d.left}, failed {d.failed}")
                if d.retry or d.left:
                    code = code or 1
        if not args.dry_run:
            left = pending_count(db)
            if left:
                print(f"reports: {left} messages wait in the queue; 'collector serve' retries them "
                      "(or run this command again)", file=sys.stderr)
    finally:
        db.close()
    return code
