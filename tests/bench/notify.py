"""Benchmark: a scheduled report round for 500 accounts, and alert evaluation for 5,000 kiosks.

1. Report round: the database of tests/bench/reports.py (hourly rollups of N ratings, default 10
   million, 100 kiosks at 20 centres, 12 months), 500 dashboard accounts with an e-mail address whose
   scopes cycle through the whole system, 2 provinces, 10 communes and 20 centres, in Vietnamese and
   English (every 50th account disabled, so 490 receive); the quarter 2026-Q3 is built (PDF + XLSX per
   scope and language), queued and delivered to a local SMTP server (aiosmtpd with STARTTLS and AUTH
   LOGIN). Target: <= 2 minutes.
2. Alert evaluation: 5,000 kiosks (1,000 centres), six rules of every kind, ten simulated minutes in
   which 5 % of the kiosks send a new status and 500 ratings arrive each minute. Target: < 1 s of CPU per evaluation.

    .venv/bin/python tests/bench/notify.py [--rows N] [--db FILE] [--keep] [--skip-round] [--skip-alerts]

Last line: RESULT round_s=<x> round_recipients=<n> alerts_cpu_s=<mean> alerts_cpu_max_s=<x> devices=5000
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from broker.contract import format_ts  # noqa: E402
from collector.storage import records  # noqa: E402
from collector.alerting.evaluate import Evaluator  # noqa: E402
from collector.accounts.accounts import Scope  # noqa: E402
from collector.alerting.recipients import everyone  # noqa: E402
from collector.alerting.reports import run_round  # noqa: E402
from collector.storage.db import connect  # noqa: E402
from config.collector import CollectorConfig  # noqa: E402
from tests.bench import reports as bench_reports  # noqa: E402
from tests.smtp_server import PASSWORD, SmtpServer  # noqa: E402

PERIOD = "2026-Q3"
ROUND_NOW = datetime(2026, 10, 1, 0, 30, tzinfo=timezone.utc)  # 07:30 local on the first working day


# ------------------------------------------------------------------ 1. report round
def round_config(base: CollectorConfig, smtp: SmtpServer) -> CollectorConfig:
    data = base.model_dump(mode="json", exclude_none=True)
    data["notify"] = {"smtp": smtp.smtp_config()}  # no notify.recipients: the accounts receive the reports
    return CollectorConfig.model_validate(data)


def add_accounts(db, cfg: CollectorConfig, n: int) -> int:
    """n accounts of every scope in turn, as `users add --email` stores them (inserted directly: an account
    needs no usable password to receive reports); every 50th is disabled. Returns how many may receive."""
    scopes = [Scope("all")] + [Scope("province", p.slug) for p in cfg.sites] \
        + [Scope("commune", c.slug) for p in cfg.sites for c in p.communes] \
        + [Scope("centre", ce.site) for p in cfg.sites for c in p.communes for ce in c.centres]
    rows = [(f"can-bo-{i:03d}", "!", "viewer", str(scopes[i % len(scopes)]), int(i % 50 == 49), 0,
             f"r{i:03d}@example.vn", "vi" if i % 3 else "en", "month,quarter,6m,9m,year") for i in range(n)]
    with db.transaction():
        db.execute("DELETE FROM accounts")
        db.executemany("INSERT INTO accounts (username, password_hash, role, scope, disabled, created_ms, email, lang, "
                       "reports) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    print(f"  {n} accounts of {len(scopes)} scopes, {sum(r[4] for r in rows)} of them disabled", flush=True)
    return n - sum(r[4] for r in rows)


def bench_round(db, tmp: Path, n: int) -> float:
    os.environ["HAILONG_TEST_SMTP_PASSWORD"] = PASSWORD
    smtp = SmtpServer(tmp).start()
    try:
        cfg = round_config(bench_reports.config(), smtp)
        receiving = add_accounts(db, cfg, n)
        db.execute("DELETE FROM notifications")
        t0 = time.perf_counter()
        res = run_round(db, cfg, PERIOD, everyone(cfg, db), ROUND_NOW)
        dt = time.perf_counter() - t0
        sizes = db.query("SELECT COUNT(*) FROM notifications WHERE status = 'sent'")[0][0]
        print(f"  {PERIOD}: {len(res.queued)} accounts queued, {res.delivery.sent} delivered "
              f"({sizes} marked sent), {len(smtp.inbox.raw)} received over STARTTLS in {dt:.1f} s", flush=True)
        assert len(smtp.inbox.raw) == receiving == res.delivery.sent
        again = run_round(db, cfg, PERIOD, everyone(cfg, db), ROUND_NOW)
        assert not again.queued and len(smtp.inbox.raw) == receiving
        from email import message_from_bytes, policy

        msg = message_from_bytes(smtp.inbox.raw[0][1], policy=policy.default)
        print("  one message: " + ", ".join(f"{p.get_filename()} {len(p.get_content()) // 1024} kB"
                                             for p in msg.iter_attachments()), flush=True)
        return dt
    finally:
        smtp.stop()


# ------------------------------------------------------------------ 2. alert evaluation
PROVINCES, COMMUNES, CENTRES, COUNTERS = 10, 10, 10, 5


def alert_config() -> CollectorConfig:
    sites = [{"slug": f"tinh-{p}", "name": f"Tỉnh {p}", "communes": [
        {"slug": f"xa-{p}-{c}", "name": f"Xã {p}-{c}", "centres": [
            {"site": f"s-{p}-{c}-{e}", "name": f"Bộ phận một cửa {p}-{c}-{e}",
             "counters": [{"device": f"quay-{d}", "name": f"Quầy {d}"} for d in range(COUNTERS)]}
            for e in range(CENTRES)]} for c in range(COMMUNES)]} for p in range(PROVINCES)]
    rules = [
        {"name": "sat-hours", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7, "hours": 4},
        {"name": "sat-last", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7, "last_ratings": 50},
        {"name": "neg-counter", "kind": "negative_share", "per": "counter", "threshold": 0.3, "hours": 2},
        {"name": "offline", "kind": "device_offline", "minutes": 30},
        {"name": "backlog", "kind": "outbox_growing", "statuses": 3, "min_depth": 20},
        {"name": "rejects", "kind": "rejects_spike", "threshold": 100, "minutes": 10},
    ]
    return CollectorConfig.model_validate({
        "timezone": "Asia/Ho_Chi_Minh", "sites": sites, "alerts": {"rules": rules},
        "notify": {"webhooks": [{"name": "chat", "url": "http://127.0.0.1:9/none"}]}})


def fill_alert_db(db, start: datetime) -> list[tuple[str, str]]:
    rnd = random.Random(2)
    devices = [(f"s-{p}-{c}-{e}", f"quay-{d}") for p in range(PROVINCES) for c in range(COMMUNES)
               for e in range(CENTRES) for d in range(COUNTERS)]
    rows = []
    for site, device in devices:
        quality = rnd.random()
        for i in range(12):  # the last three hours, one rating every 15 minutes per counter
            ts = start - timedelta(minutes=15 * i)
            rating = 5 if rnd.random() < quality else rnd.choice((1, 2, 3))
            rows.append(records.RatingRow(f"{site}-{device}-{i}", 1, site, device, format_ts(ts),
                                          int(ts.timestamp() * 1000), rating, 5, None, "vi", None, None, "",
                                          format_ts(ts)))
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
        db.executemany("INSERT INTO devices (site, device, state, status_ts, last_seen, outbox_depth) "
                       "VALUES (?, ?, 'online', ?, ?, 0)",
                       [(s, d, format_ts(start), format_ts(start)) for s, d in devices])
    db.execute("ANALYZE")
    return devices


def bench_alerts(tmp: Path) -> tuple[float, float]:
    db = connect(f"sqlite:///{tmp / 'alerts.db'}")
    cfg = alert_config()
    start = datetime(2026, 10, 6, 3, 0, tzinfo=timezone.utc)  # Tuesday 10:00 local
    devices = fill_alert_db(db, start)
    ev = Evaluator(cfg, db)
    rnd = random.Random(3)
    cpu: list[float] = []
    for minute in range(11):
        now = start + timedelta(minutes=minute)
        with db.transaction():  # 5 % of the kiosks report; some stop reporting for good
            for site, device in rnd.sample(devices[:4500], len(devices) // 20):
                db.execute("UPDATE devices SET status_ts = ?, last_seen = ?, outbox_depth = ? WHERE site = ? "
                           "AND device = ?", (format_ts(now), format_ts(now), rnd.randrange(0, 60), site, device))
            # and 500 new ratings a minute (one per kiosk every 10 minutes), as ingest writes them
            new = [records.RatingRow(f"{site}-{device}-m{minute}", 1, site, device, format_ts(now),
                                     int(now.timestamp() * 1000), rnd.choice((1, 2, 4, 5, 5)), 5, None, "vi", None,
                                     None, "", format_ts(now)) for site, device in rnd.sample(devices, 500)]
            db.executemany(records.INSERT_RATING_SQL, new)
            records.apply(db, records.increments(new))
        c0 = time.process_time()
        events = ev.run(now)
        cpu.append(time.process_time() - c0)
        print(f"  minute {minute:2}: {cpu[-1]:.3f} s CPU, {len(events)} alerts fired/cleared", flush=True)
    db.close()
    steady = cpu[1:]  # the first evaluation creates the state rows of every kiosk
    return sum(steady) / len(steady), max(steady)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="ratings in the report database (default 10,000,000)")
    ap.add_argument("--recipients", type=int, default=500, help="accounts with an e-mail address (default 500)")
    ap.add_argument("--db", help="SQLite file for the report database (reused when it holds --rows already)")
    ap.add_argument("--keep", action="store_true", help="keep the report database")
    ap.add_argument("--skip-round", action="store_true")
    ap.add_argument("--skip-alerts", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    round_s, mean_cpu, max_cpu = float("nan"), float("nan"), float("nan")
    try:
        if not args.skip_round:
            path = Path(args.db) if args.db else tmp / "reports.db"
            db = connect(f"sqlite:///{path}")
            have = db.scalar("SELECT SUM(n) FROM rollup_hour") or 0
            if have != args.rows:
                if have:
                    sys.exit(f"{path} holds {have:,} ratings, not {args.rows:,}: use another --db")
                print(f"generating rollups of {args.rows:,} ratings into {path}", flush=True)
                t0 = time.perf_counter()
                bench_reports.generate(db, args.rows)
                print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
            print(f"report round {PERIOD} for {args.recipients} accounts:", flush=True)
            round_s = bench_round(db, tmp, args.recipients)
            db.close()
            if not args.keep and not args.db:
                path.unlink()
        if not args.skip_alerts:
            print("alert evaluation, 5,000 kiosks, 6 rules, one evaluation per simulated minute:", flush=True)
            mean_cpu, max_cpu = bench_alerts(tmp)
    finally:
        for f in tmp.iterdir():
            if f.is_file():
                f.unlink()
        os.rmdir(tmp) if not any(tmp.iterdir()) else None
    print(f"RESULT round_s={round_s:.1f} round_recipients={args.recipients} alerts_cpu_s={mean_cpu:.3f} "
          f"alerts_cpu_max_s={max_cpu:.3f} devices={PROVINCES * COMMUNES * CENTRES * COUNTERS} rows={args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
