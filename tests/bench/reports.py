"""Benchmark: a month's report and the dashboard pages over a year of N ratings (default 10 million).

The database gets hourly rollup rows consistent with N ratings (100 kiosks at 20 centres, 12 months,
working hours) written directly, the same rows ingest would have built one rating at a time; the raw
ratings table stays empty because reports never read it in a whole-hour time zone.

    .venv/bin/python tests/bench/reports.py [--rows N] [--db FILE] [--keep]

Last line: RESULT month_report_s=<x> dashboard_p95_ms=<x> rows=<n>
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.db import connect  # noqa: E402
from collector.report import parse_period  # noqa: E402
from collector.report_queries import ReportSpec, run_report  # noqa: E402
from collector.web.server import Dashboard, start_in_thread  # noqa: E402
from config.collector import CollectorConfig  # noqa: E402

TZ = "Asia/Ho_Chi_Minh"
FIRST_DAY = date(2025, 12, 1)  # local; 12 months up to 2026-11-30
DAYS = 365
OPEN_HOURS = range(7, 17)  # local working hours with ratings
SITES = 20
DEVICES_PER_SITE = 5
SERVICES = ["ho-tich", "dat-dai", "chung-thuc", "tu-phap", "lao-dong"]
REASONS = ["cho-lau", "thai-do", "huong-dan", "giay-to"]
MONTH = "2026-10"
NOW = datetime(2026, 11, 30, 4, 0, tzinfo=timezone.utc)  # dashboard clock: 11:00 local, last day of the data
PASSWORD = "bench-password"


def config() -> CollectorConfig:
    communes = [{"slug": f"xa-{c:02d}", "name": f"Xã số {c}", "centres": [
        {"site": f"site-{s:02d}", "name": f"Bộ phận một cửa {s}",
         "counters": [{"device": f"quay-{d}", "name": f"Quầy {d}"} for d in range(1, DEVICES_PER_SITE + 1)]}
        for s in range(c * 2, c * 2 + 2)]} for c in range(SITES // 2)]
    return CollectorConfig.model_validate({
        "timezone": TZ, "dashboard": {"min_ratings": 30},
        "sites": [{"slug": "tinh-a", "name": "Tỉnh A", "communes": communes[:5]},
                  {"slug": "tinh-b", "name": "Tỉnh B", "communes": communes[5:]}]})


def rollup_rows(n_ratings: int):
    """Yield rollup_hour rows whose counts add up to exactly n_ratings."""
    rnd = random.Random(1)
    devices = [(f"site-{s:02d}", f"quay-{d}") for s in range(SITES) for d in range(1, DEVICES_PER_SITE + 1)]
    slots = len(devices) * DAYS * len(OPEN_HOURS)
    base, extra = divmod(n_ratings, slots)
    first_hour = int(datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=timezone(timedelta(hours=7)))
                     .timestamp()) // 3600
    slot = 0
    for i, (site, device) in enumerate(devices):
        quality = 0.55 + 0.4 * rnd.random()
        weights = [(1 - quality) * 0.5, (1 - quality) * 0.3, (1 - quality) * 0.2, quality * 0.45, quality * 0.55]
        officers = [f"can-bo-{i:03d}-a", f"can-bo-{i:03d}-b"]
        for day in range(DAYS):
            for h in OPEN_HOURS:
                n = base + (1 if slot < extra else 0)
                slot += 1
                if n == 0:
                    continue
                counts = [int(n * w) for w in weights]
                for k in rnd.choices(range(5), weights, k=n - sum(counts)):
                    counts[k] += 1
                hour = first_hour + day * 24 + h
                officer = officers[(day + h) % 2]
                if counts[0] and rnd.random() < 0.2:  # one repeated press, flagged by the kiosk
                    counts[0] -= 1
                    yield (hour, site, device, officer, SERVICES[0], "", 5, 1, 1, 1)
                for rating, c in enumerate(counts, start=1):
                    if c:
                        reason = REASONS[(day + h + rating) % 4] if rating <= 2 else ""
                        yield (hour, site, device, officer, SERVICES[rnd.randrange(5)], reason, 5, rating, 0, c)


def generate(db, n_ratings: int) -> int:
    db.execute("PRAGMA synchronous=OFF")  # bulk load of a throw-away benchmark database
    sql = ("INSERT INTO rollup_hour (hour, site, device, officer, service, reason, scale, rating, flagged, n) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    batch, written, started = [], 0, time.perf_counter()
    for row in rollup_rows(n_ratings):
        batch.append(row)
        if len(batch) == 200_000:
            with db.transaction():
                db.executemany(sql, batch)
            written += len(batch)
            batch = []
            print(f"  {written:,} rollup rows written ({time.perf_counter() - started:.0f} s)", flush=True)
    with db.transaction():
        db.executemany(sql, batch)
        for s in range(SITES):
            for d in range(1, DEVICES_PER_SITE + 1):
                seen = (NOW - timedelta(minutes=5 if (s + d) % 17 else 60 * 30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                db.execute("INSERT INTO devices (site, device, state, status_ts, last_seen, app_version, outbox_depth,"
                           " last_rating_ts, config_hash, clock_skew_s) VALUES (?, ?, 'online', ?, ?, '0.1.0', 0, ?,"
                           " 'x', 0.5)", (f"site-{s:02d}", f"quay-{d}", seen, seen, seen))
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # measure reads of the database file, not of a fresh WAL
    return written + len(batch)


def time_month_report(db, cfg) -> float:
    period = parse_period(MONTH, TZ)
    total = 0.0
    for by in ((), ("site",), ("device",), ("hour",)):
        t0 = time.perf_counter()
        rows = run_report(db, cfg, ReportSpec(period, by))
        dt = time.perf_counter() - t0
        total += dt
        print(f"  {MONTH} by {by[0] if by else 'total':6}: {len(rows):4} groups, "
              f"{sum(r.count + r.flagged for r in rows):,} ratings, {dt * 1000:.0f} ms", flush=True)
    return total


def time_dashboard(db, cfg) -> float:
    app = Dashboard(cfg, db, PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "next": "/devices"}).encode()
        opener.open(url + "/login", data=form).read()
        assert any(c.name == "hl_session" for c in jar), "login failed"
        paths = ["/", "/ranking", "/ranking?dim=counter", "/ranking?dim=officer", "/ranking?dim=service",
                 "/patterns", "/devices", "/alerts", f"/report?period={MONTH}"]
        times: list[float] = []
        for round_ in range(3):
            for path in paths:
                t0 = time.perf_counter()
                with opener.open(url + path) as resp:
                    body = resp.read()
                    assert resp.status == 200 and b"<main>" in body, path
                times.append(time.perf_counter() - t0)
                if round_ == 0:
                    print(f"  {path:24} {times[-1] * 1000:6.0f} ms", flush=True)
        cold = sorted(times[:len(paths)])
        print(f"  first visits (nothing cached): max {cold[-1] * 1000:.0f} ms; "
              f"visits 2 and 3 reuse rows cached for 30 s", flush=True)
        times.sort()
        return times[max(0, int(len(times) * 0.95 + 0.5) - 1)] * 1000
    finally:
        server.shutdown()
        server.server_close()
        app.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="ratings to represent (default 10,000,000)")
    ap.add_argument("--db", help="SQLite file to use (default: a temporary file, deleted afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the database (reused when --db holds --rows already)")
    args = ap.parse_args()
    tmp = None
    if args.db:
        path = Path(args.db)
    else:
        tmp = tempfile.mkdtemp(prefix="bench-reports-")
        path = Path(tmp) / "reports.db"
    db = connect(f"sqlite:///{path}")
    cfg = config()
    try:
        have = db.scalar("SELECT SUM(n) FROM rollup_hour") or 0
        if have == args.rows:
            print(f"reusing {path}: rollups of {have:,} ratings", flush=True)
        else:
            if have:
                sys.exit(f"{path} holds {have:,} ratings, not {args.rows:,}: use another --db")
            print(f"generating rollup rows for {args.rows:,} ratings (100 kiosks, 12 months) directly into {path}; "
                  "the ratings table is left empty", flush=True)
            t0 = time.perf_counter()
            n = generate(db, args.rows)
            print(f"  {n:,} rollup rows in {time.perf_counter() - t0:.0f} s, "
                  f"{os.path.getsize(path) / 1e6:.0f} MB", flush=True)
        assert db.scalar("SELECT SUM(n) FROM rollup_hour") == args.rows
        print(f"month report ({MONTH}: total, by site, by device, by hour):", flush=True)
        month_s = time_month_report(db, cfg)
        print("dashboard pages (first round shown; p95 over 3 rounds):", flush=True)
        p95 = time_dashboard(db, cfg)
    finally:
        db.close()
        if tmp and not args.keep:
            for f in Path(tmp).iterdir():
                f.unlink()
            os.rmdir(tmp)
    print(f"RESULT month_report_s={month_s:.3f} dashboard_p95_ms={p95:.0f} rows={args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
