"""Benchmark: a month's report and the dashboard pages over a year of N ratings (default 10 million).

The database gets hourly rollup rows consistent with N ratings (100 kiosks at 20 centres, 12 months,
working hours) written directly, the same rows ingest would have built one rating at a time, and the
daily, monthly and monthly weekday x hour rollups derived from them by ingest's own code
(``records.split``); the raw ratings table stays empty because reports never read it in a whole-hour
time zone.

    .venv/bin/python tests/bench/reports.py [--rows N] [--db FILE] [--keep] [--managers 50] [--hourly]

Before the load, each API summary is read once cold from the hourly rollup alone and from the coarse
rollups, one at a time, as a same-run baseline; ``--hourly`` runs the whole load on the hourly rollup
alone (as before schema v6).

Then 50 managers of different scopes (whole system, provinces, communes, centres), each with an account of
its own, sign in, and once all are in they open the dashboard pages at the same time, each as a browser
does (one kept-alive connection, no pause between pages); and API consumers with tokens of different
scopes pull summaries.

Last line: RESULT month_report_s=<x> dashboard_p95_ms=<x> managers_p95_ms=<x> api_p95_ms=<x> rows=<n>
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import http.cookiejar
import json
import os
import random
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.storage import records  # noqa: E402
from collector.accounts.accounts import Scope  # noqa: E402
from collector.storage.db import connect  # noqa: E402
from collector.web.api import TokenLimiter  # noqa: E402
from collector.reports.report import parse_period  # noqa: E402
from collector.reports.report_queries import ReportSpec, fetch, needs_for, run_report  # noqa: E402
from collector.ingest.store import sync_zone  # noqa: E402
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
    cal = records.calendar(TZ)
    day, month, wh = Counter(), Counter(), Counter()  # the coarse rollups, as ingest derives them
    batch, written, started = [], 0, time.perf_counter()

    def derive(rows):
        fine = Counter()
        for hour, *rest, n in rows:
            fine[(records.RollupKey(hour, *rest), *cal.day_hour(hour * 3_600_000))] += n
        inc = records.split(fine, cal)
        day.update(inc.day)
        month.update(inc.month)
        wh.update(inc.wh)
    for row in rollup_rows(n_ratings):
        batch.append(row)
        if len(batch) == 200_000:
            derive(batch)
            with db.transaction():
                db.executemany(sql, batch)
            written += len(batch)
            batch = []
            print(f"  {written:,} rollup rows written ({time.perf_counter() - started:.0f} s)", flush=True)
    derive(batch)
    with db.transaction():
        db.executemany(sql, batch)
        db.executemany(f"INSERT INTO rollup_day ({records.DAY_COLUMNS}) VALUES ({', '.join('?' * 7)})",
                       records.rollup_rows(day))
        db.executemany(f"INSERT INTO rollup_month ({records.MONTH_COLUMNS}) VALUES ({', '.join('?' * 10)})",
                       records.rollup_rows(month))
        db.executemany(f"INSERT INTO rollup_month_wh ({records.WH_COLUMNS}) VALUES ({', '.join('?' * 8)})",
                       records.rollup_rows(wh))
        db.execute("UPDATE rollup_zone SET zone = ?", (TZ,))
        for s in range(SITES):
            for d in range(1, DEVICES_PER_SITE + 1):
                seen = (NOW - timedelta(minutes=5 if (s + d) % 17 else 60 * 30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                db.execute("INSERT INTO devices (site, device, state, status_ts, last_seen, app_version, outbox_depth,"
                           " last_rating_ts, config_hash, clock_skew_s) VALUES (?, ?, 'online', ?, ?, '0.1.0', 0, ?,"
                           " 'x', 0.5)", (f"site-{s:02d}", f"quay-{d}", seen, seen, seen))
    print(f"  daily rollup {len(day):,} rows, monthly rollup {len(month):,} rows, monthly weekday x hour "
          f"rollup {len(wh):,} rows", flush=True)
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


def cold_reads(db) -> None:
    """Each API summary's rows read once, nothing cached, one at a time: hourly rollup alone, then the coarse
    rollups (a same-run baseline for the figures under load)."""
    asks = [(MONTH, ("centre",)), (MONTH, ("officer",)), (MONTH, ("day",)), ("2026", ("commune", "month")),
            ("2026-Q4", ("counter",)), (MONTH, ("weekday", "hour"))]
    zone = db.scalar("SELECT zone FROM rollup_zone")
    for label, set_zone in (("hourly rollup alone", ""), ("coarse rollups", zone)):
        db.execute("UPDATE rollup_zone SET zone = ?", (set_zone,))
        parts = []
        for period, by in asks:
            p = parse_period(period, TZ)
            t0 = time.perf_counter()
            rows = fetch(db, p.start_ms, p.end_ms, needs_for(by), tz=TZ)
            parts.append(f"{period} by {','.join(by)} {(time.perf_counter() - t0) * 1000:.0f} ms ({len(rows):,} rows)")
        print(f"  {label}: " + "; ".join(parts), flush=True)
    db.execute("UPDATE rollup_zone SET zone = ?", (zone,))


def time_dashboard(db, cfg) -> float:
    app = Dashboard(cfg, db, PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "next": "/devices"}).encode()
        opener.open(url + "/login", data=form).read()
        assert any(c.name == "hl_session" for c in jar), "login failed"
        paths = PAGES
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
        return p95(times)
    finally:
        server.shutdown()
        server.server_close()
        app.close()


PAGES = ["/", "/ranking", "/ranking?dim=counter", "/ranking?dim=officer", "/patterns", "/devices", "/alerts",
         f"/report?period={MONTH}"]
API = ["/api/v1/summary?by=centre&period=" + MONTH, "/api/v1/summary?by=officer&period=" + MONTH,
       "/api/v1/summary?by=day&period=" + MONTH, "/api/v1/summary?by=commune,month&period=2026",
       "/api/v1/summary?by=counter&period=2026-Q4&format=csv"]


def scopes(n: int) -> list[Scope]:
    """n scopes spread over every level: the whole system, both provinces, communes and centres."""
    levels = [Scope("all"), Scope("province", "tinh-a"), Scope("province", "tinh-b")]
    levels += [Scope("commune", f"xa-{c:02d}") for c in range(SITES // 2)]
    levels += [Scope("centre", f"site-{s:02d}") for s in range(SITES)]
    return [levels[i % len(levels)] for i in range(n)]


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[max(0, int(len(times) * 0.95 + 0.5) - 1)] * 1000


def load(client, n: int, processes: int = 5) -> list[float]:
    """Run ``client(i)`` for i < n all at once, from ``processes`` forked processes (threads inside), so the
    clients' own Python does not compete with the dashboard's for one interpreter lock."""
    import multiprocessing

    def part(k: int) -> list[float]:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return [t for ts in pool.map(client, range(k, n, processes)) for t in ts]
    global _PART
    _PART = part  # set before the fork: the children inherit it
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return [t for ts in pool.map(_run_part, range(min(processes, n))) for t in ts]


_PART = None


def _run_part(k: int) -> list[float]:
    return _PART(k)


def time_managers(db, cfg, managers: int, rounds: int = 2) -> tuple[float, float]:
    """p95 of page loads by ``managers`` signed-in accounts at once, and of API summaries by tokens."""
    # behind a reverse proxy, as in production: each manager signs in from an address of its own
    cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"trusted_proxies": ["127.0.0.1"]})})
    app = Dashboard(cfg, db, PASSWORD, now=lambda: NOW)
    app.api_limiter = TokenLimiter(burst=10_000, per_s=1000)
    server, url = start_in_thread(app)
    try:
        for i, scope in enumerate(scopes(managers)):
            if app.store.get(f"manager-{i:02d}") is None:
                app.store.add(f"manager-{i:02d}", PASSWORD, "viewer", scope)
        def sign_in(i: int) -> list[tuple[int, str]]:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            opener.addheaders = [("X-Forwarded-For", f"198.51.100.{i + 1}")]
            form = urllib.parse.urlencode({"username": f"manager-{i:02d}", "password": PASSWORD}).encode()
            opener.open(url + "/login", data=form).read()
            return [(i, c.value) for c in jar if c.name == "hl_session"]
        t0 = time.perf_counter()
        signed_in = dict(load(sign_in, managers))
        assert len(signed_in) == managers, "a manager could not sign in"
        print(f"  {managers} managers signed in at once in {time.perf_counter() - t0:.1f} s (argon2id: slow by "
              "design); then all open pages at once", flush=True)

        def manager(i: int) -> list[float]:
            # as a browser does: one kept-alive connection, the session cookie, the address the proxy reports
            conn = http.client.HTTPConnection(*server.server_address)
            headers = {"X-Forwarded-For": f"198.51.100.{i + 1}", "Cookie": f"hl_session={signed_in[i]}"}
            times = []
            for r in range(rounds):
                for k in range(len(PAGES)):
                    path = PAGES[(i + k) % len(PAGES)]  # managers spread over the pages
                    t0 = time.perf_counter()
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    assert resp.status == 200 and b"<main>" in resp.read(), path
                    times.append((r, time.perf_counter() - t0))
            conn.close()
            return times
        t0, cpu0 = time.perf_counter(), time.process_time()  # this process: the dashboard (clients are forked)
        loads = load(manager, managers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        pages = [t for _, t in loads]
        print(f"  {managers} managers x {rounds * len(PAGES)} pages: {len(pages)} loads in {wall:.1f} s, "
              f"p50 {sorted(pages)[len(pages) // 2] * 1000:.0f} ms, p95 {p95(pages):.0f} ms, "
              f"max {max(pages) * 1000:.0f} ms; dashboard CPU {cpu:.1f} s ({cpu / len(pages) * 1000:.1f} ms a page, "
              f"{cpu / wall:.0%} of one core)", flush=True)
        for r in range(rounds):
            mine = [t for k, t in loads if k == r]
            print(f"    round {r + 1} ({'figures fetched cold' if r == 0 else 'figures of the last 30 s'}): "
                  f"p50 {sorted(mine)[len(mine) // 2] * 1000:.0f} ms, p95 {p95(mine):.0f} ms", flush=True)
        tokens = [app.store.add_token(f"bi-{i}", scope, None)[1] for i, scope in enumerate(scopes(10))]

        def consumer(i: int) -> list[tuple[str, float]]:
            times = []
            for r in range(4):
                for k in range(len(API)):
                    req = urllib.request.Request(url + API[(i + k) % len(API)],
                                                 headers={"Authorization": "Bearer " + tokens[i]})
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(req) as resp:
                        body = resp.read()
                        assert resp.status == 200, body[:200]
                        if not API[(i + k) % len(API)].endswith("csv"):
                            json.loads(body)
                    times.append((API[(i + k) % len(API)], time.perf_counter() - t0))
            return times
        t0 = time.perf_counter()
        calls = load(consumer, 10)
        api = [t for _, t in calls]
        for path in API:
            mine = [t for p, t in calls if p == path]
            print(f"    {path:58} p50 {sorted(mine)[len(mine) // 2] * 1000:5.0f} ms, p95 {p95(mine):5.0f} ms", flush=True)
        print(f"  10 API consumers x {4 * len(API)} summaries: p50 {sorted(api)[len(api) // 2] * 1000:.0f} ms, "
              f"p95 {p95(api):.0f} ms, max {max(api) * 1000:.0f} ms", flush=True)
        return p95(pages), p95(api)
    finally:
        server.shutdown()
        server.server_close()
        app.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="ratings to represent (default 10,000,000)")
    ap.add_argument("--db", help="SQLite file to use (default: a temporary file, deleted afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the database (reused when --db holds --rows already)")
    ap.add_argument("--managers", type=int, default=50, help="signed-in managers at once (default 50)")
    ap.add_argument("--hourly", action="store_true", help="read the hourly rollup alone (as before schema v6)")
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
            if db.scalar("SELECT zone FROM rollup_zone") != TZ:
                t0 = time.perf_counter()
                sync_zone(db, TZ)
                print(f"  coarse rollups built from rollup_hour (as a collector starting on a database from "
                      f"before schema v6 or v9 does) in {time.perf_counter() - t0:.1f} s", flush=True)
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
        assert db.scalar("SELECT SUM(n) FROM rollup_day") == db.scalar("SELECT SUM(n) FROM rollup_month") \
            == db.scalar("SELECT SUM(n) FROM rollup_month_wh") == args.rows
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; cold reads, one at a time:", flush=True)
        cold_reads(db)
        if args.hourly:
            db.execute("UPDATE rollup_zone SET zone = ''")
            print("--hourly: the coarse rollups are left aside for the rest of the run", flush=True)
        print(f"month report ({MONTH}: total, by site, by device, by hour):", flush=True)
        month_s = time_month_report(db, cfg)
        print("dashboard pages (first round shown; p95 over 3 rounds):", flush=True)
        p95_one = time_dashboard(db, cfg)
        print(f"{args.managers} managers of different scopes at once, then API consumers:", flush=True)
        managers_ms, api_ms = time_managers(db, cfg, args.managers)
    finally:
        if args.hourly:
            db.execute("UPDATE rollup_zone SET zone = ?", (TZ,))
        db.close()
        if tmp and not args.keep:
            for f in Path(tmp).iterdir():
                f.unlink()
            os.rmdir(tmp)
    print(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    print(f"RESULT month_report_s={month_s:.3f} dashboard_p95_ms={p95_one:.0f} managers_p95_ms={managers_ms:.0f} "
          f"api_p95_ms={api_ms:.0f} rows={args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
