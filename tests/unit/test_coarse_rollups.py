"""Daily, monthly and monthly weekday x hour rollups in local time, on SQLite and PostgreSQL: kept by
ingest exactly as the hourly rollup is (new rows only, flagged and unverified bits, ratings re-placed when
their boot's first live status comes), rebuilt from rollup_hour when a database gains them or the time
zone changes, and read by reports only when they answer exactly: every figure equals the hourly rollup's
and the raw ratings'."""
from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from broker.contract import Rating, RatingV2, StatusV2, encode
from collector.storage import records, schema
from collector.completeness.completeness_queries import ratings_by_device, unverified_by_device
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from collector.ingest.ingest import Message, classify
from collector.storage.placement import Anchors
from collector.reports.report import RollupRow, aggregate, date_range, parse_period
from collector.reports.report_queries import ReportSpec, coarse_source, fetch, needs_for, run_reports
from collector.ingest.store import Store, sync_zone
from tests.unit.test_report_data import CONFIG as REPORT_CONFIG

# These tests compare the rollup paths with the raw ratings, not the privacy rule: every officer with a
# rating is shown (the minimum of one), as the raw report here shows them.
CONFIG = REPORT_CONFIG.model_copy(update={"evaluation": REPORT_CONFIG.evaluation.model_copy(update={"min_ratings": 1})})

HCM = "Asia/Ho_Chi_Minh"
SITES = [("s-new", "d1"), ("s-old", "d1"), ("s-two", "d1"), ("s-x", "d9")]
# Local midnights of Ho Chi Minh City (UTC+7) and the instants either side of them.
EDGES = ["2026-09-30T17:00:00", "2026-10-31T17:00:00", "2026-12-31T17:00:00", "2026-10-04T17:00:00"]
BYS = [(), ("site",), ("device",), ("officer",), ("service",), ("reason",), ("day",), ("week",), ("weekday",),
       ("month",), ("commune", "month"), ("counter",), ("day", "site"), ("hour",), ("officer", "day"),
       ("province", "week"), ("weekday", "hour"), ("site", "hour"), ("commune", "weekday", "hour"),
       ("counter", "hour")]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def sample(n: int = 240, seed: int = 7) -> list[tuple[bytes, float]]:
    """(payload, receive time): v1 ratings from late September 2026 to early January 2027, some on local
    midnights, some flagged by the kiosk, some from the future (placed at receive time, unverified)."""
    rnd = random.Random(seed)
    lo, hi = utc("2026-09-25T00:00:00").timestamp(), utc("2027-01-05T00:00:00").timestamp()
    times = [rnd.uniform(lo, hi) for _ in range(n)]
    for e in EDGES:
        t = utc(e).timestamp()
        times += [t, t - 0.001, t + 0.001]
    out = []
    for i, t in enumerate(times):
        site, device = SITES[i % len(SITES)]
        scale = 3 if i % 11 == 0 else 5
        rating = rnd.randint(1, scale)
        ts = datetime.fromtimestamp(round(t, 3), timezone.utc)
        received = t + 30
        if i % 17 == 0:  # the kiosk's clock is a day ahead: placed at the receive time, unverified
            received = t - 86_400
        r = Rating(id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), site=site, device=device, ts=ts,
                   rating=rating, scale=scale, lang="vi", officer=rnd.choice(["An", "Binh", None]),
                   service=rnd.choice(["ho-tich", "dat-dai", None]),
                   reason=rnd.choice(["slow", "rude"]) if rating <= 2 else None,
                   flags=["rapid_repeat"] if i % 13 == 0 else [])
        out.append((encode(r), received))
    return out


def batch(items, anchors=None):
    return classify([Message(f"hailong/v1/{site}/{device}/rating", p, i + 1, 1, False, at)
                     for i, (p, at) in enumerate(items) for site, device in [_where(p)]], anchors=anchors)


def _where(payload: bytes) -> tuple[str, str]:
    d = json.loads(payload)
    return d["site"], d["device"]


def ingest(store: Store, items, size: int = 50) -> None:
    for i in range(0, len(items), size):
        store.write(batch(items[i:i + size]))


# ------------------------------------------------------------------ references, from the ratings table
def raw_ratings(db) -> list[records.RatingRow]:
    return [records.RatingRow(*r) for r in db.query(f"SELECT {', '.join(records.RATING_COLUMNS)} FROM ratings")]


# Bits of the rollups' ``flagged`` column: a kiosk flag (the repeated-press filter), a time that is not verified.
PRESS, UNVERIFIED = 1, 2
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _local(r: records.RatingRow, zone: ZoneInfo) -> datetime:
    """The rating's placed time on the local clock, exact to the millisecond."""
    return (EPOCH_UTC + timedelta(milliseconds=r.at_ms)).astimezone(zone)


def _flagged(r: records.RatingRow) -> int:
    return (PRESS if r.flags else 0) | (UNVERIFIED if r.time_unverified else 0)


def expected_coarse(db, tz: str) -> tuple[Counter, Counter]:
    """rollup_day's and rollup_month's rows worked out with the standard library alone, one rating at a
    time from its placed time (not with the collector's own fine_counts/split, which ingest uses)."""
    zone = ZoneInfo(tz)
    day: Counter = Counter()
    month: Counter = Counter()
    for r in raw_ratings(db):
        local, flagged = _local(r, zone), _flagged(r)
        day[records.DayKey((local.date() - date(1970, 1, 1)).days, r.site, r.device, r.scale, r.rating, flagged)] += 1
        month[records.MonthKey(local.year * 12 + local.month - 1, r.site, r.device, r.officer or "", r.service or "",
                               r.reason or "", r.scale, r.rating, flagged)] += 1
    return day, month


def expected_weekday_hour(db, tz: str) -> Counter:
    """rollup_month_wh's rows computed with the standard library alone, from each rating's placed time."""
    zone = ZoneInfo(tz)
    out: Counter = Counter()
    for r in raw_ratings(db):
        local = _local(r, zone)
        out[records.WeekHourKey(local.year * 12 + local.month - 1, r.site, local.isoweekday(), local.hour, r.scale,
                                r.rating, _flagged(r))] += 1
    return out


def expected_hourly(db) -> Counter:
    """rollup_hour's rows: UTC hours of the placed time."""
    return Counter(records.RollupKey(r.at_ms // 3_600_000, r.site, r.device, r.officer or "", r.service or "",
                                     r.reason or "", r.scale, r.rating, _flagged(r)) for r in raw_ratings(db))


KEYS = {"rollup_day": records.DayKey, "rollup_month": records.MonthKey, "rollup_month_wh": records.WeekHourKey}


def stored(db, table: str) -> Counter:
    key = KEYS[table]
    return Counter({key(*r[:-1]): int(r[-1]) for r in db.query(f"SELECT {', '.join(key._fields)}, n FROM {table}")
                    if int(r[-1])})


def assert_coarse_matches_ratings(db, tz: str) -> None:
    day, month = expected_coarse(db, tz)
    assert sum(day.values()) == sum(month.values()) == db.scalar("SELECT COUNT(*) FROM ratings") > 0
    assert stored(db, "rollup_day") == day
    assert stored(db, "rollup_month") == month
    assert stored(db, "rollup_month_wh") == expected_weekday_hour(db, tz)
    hour = expected_hourly(db)
    in_hours = Counter({records.RollupKey(*r[:-1]): int(r[-1]) for r in db.query(f"SELECT {', '.join(records.RollupKey._fields)}, n FROM rollup_hour")
                        if int(r[-1])})
    assert in_hours == hour


def figures(rows) -> list[tuple]:
    return [(r.keys, r.count, r.satisfied, r.flagged, r.unverified, dict(r.levels), r.score_units) for r in rows]


def raw_report(db, cfg, period, by, **kw):
    """The report computed in Python from the ratings table, in 15-minute buckets of the placed time."""
    rows = [RollupRow(r.at_ms // 900_000 * 900_000, r.site, r.device, r.officer or "", r.service or "",
                      r.reason or "", r.scale, r.rating, _flagged(r), 1)
            for r in raw_ratings(db) if period.start_ms <= r.at_ms < period.end_ms]
    return aggregate(rows, by or None, satisfied=cfg.satisfied, tz=cfg.timezone,
                     hierarchy=Hierarchy.from_config(cfg.sites, cfg.labels), **kw)


def compare_paths(db, cfg, periods, expect_coarse: bool = True) -> int:
    """Every grouping over every period, flagged and unverified in and out: the coarse path (when it
    applies) equals the hourly path and the raw ratings. Returns how many reports the coarse path answered."""
    zone = db.scalar("SELECT zone FROM rollup_zone")
    used = 0
    for period in periods:
        for by in BYS:
            source = coarse_source(db, cfg.timezone, period.start_ms, period.end_ms, needs_for(by))
            used += source is not None
            for flags in ({}, {"include_flagged": True, "include_unverified": True}):
                spec = ReportSpec(period, **flags)
                fast = run_reports(db, cfg, spec, [by])[0]
                db.execute("UPDATE rollup_zone SET zone = ''")  # the hourly rollup alone, as before schema v6
                try:
                    assert coarse_source(db, cfg.timezone, period.start_ms, period.end_ms, needs_for(by)) is None
                    hourly = run_reports(db, cfg, spec, [by])[0]
                finally:
                    db.execute("UPDATE rollup_zone SET zone = ?", (zone,))
                raw = raw_report(db, cfg, period, by, **flags)
                assert figures(fast) == figures(hourly) == figures(raw), (period.label, by, flags, source)
    if expect_coarse:
        assert used > 0
    return used


PERIODS = [parse_period("2026-10", HCM), parse_period("2026-Q4", HCM), parse_period("2026", HCM),
           date_range(date(2026, 9, 28), date(2026, 11, 3), HCM), date_range(date(2026, 10, 1), date(2026, 10, 1), HCM),
           date_range(None, None, HCM)]


@pytest.fixture
def db(db_url):
    d = connect(db_url)
    yield d
    d.close()


def test_ingest_keeps_day_and_month_rollups_exact_with_duplicates_and_flags(db):
    store = Store(db, timezone=HCM)
    items = sample()
    ingest(store, items)
    extra = sample(20, seed=8)
    ingest(store, items[:60] + extra)  # 60 duplicates (not counted again) and new ratings
    assert db.scalar("SELECT COUNT(*) FROM ratings") == len(items) + len(extra)
    assert db.scalar("SELECT zone FROM rollup_zone") == HCM
    assert db.scalar("SELECT COUNT(*) FROM rollup_day WHERE flagged >= 2") > 0  # unverified ratings present
    assert db.scalar("SELECT COUNT(*) FROM rollup_month WHERE flagged = 1") > 0  # kiosk-flagged presses
    assert_coarse_matches_ratings(db, HCM)
    assert compare_paths(db, CONFIG, PERIODS) >= 30


def test_the_coarse_path_is_chosen_only_when_it_answers_exactly(db):
    Store(db, timezone=HCM)
    month, year = parse_period("2026-10", HCM), parse_period("2026", HCM)
    days = date_range(date(2026, 10, 3), date(2026, 10, 9), HCM)
    src = lambda p, by, tz=HCM: (coarse_source(db, tz, p.start_ms, p.end_ms, needs_for(by)) or ("hour",))[0]  # noqa: E731
    assert src(year, ("commune", "month")) == "month"
    assert src(month, ("officer",)) == "month"
    assert src(month, ("day",)) == "day"
    assert src(days, ("counter",)) == "day"
    assert src(days, ("week", "site")) == "day"
    assert src(days, ("officer",)) == "hour"  # rollup_day keeps places only
    assert src(month, ("hour",)) == "month_wh"
    assert src(year, ("weekday", "hour")) == "month_wh"
    assert src(month, ("commune", "weekday", "hour")) == "month_wh"
    assert src(month, ("weekday",)) == "day"  # rollup_day is smaller for weekdays alone
    assert src(days, ("weekday", "hour")) == "hour"  # not whole months
    assert src(month, ("counter", "hour")) == "hour"  # rollup_month_wh keeps sites, not counters
    assert src(month, ("officer", "hour")) == "hour"
    assert src(month, ("day", "hour")) == "hour"
    assert src(month, ("weekday", "hour"), "Europe/Paris") == "hour"  # kept in another zone
    assert src(month, ("officer", "day")) == "hour"
    assert src(month, (), "Europe/Paris") == "hour"  # kept in another zone
    shifted = month._replace(start=month.start + timedelta(hours=1))
    assert src(shifted, ()) == "hour"
    assert src(date_range(None, None, HCM), ()) == "hour"


def waiting(seq: int, site: str = "s-two") -> tuple[bytes, str]:
    return encode(RatingV2(id=str(uuid.uuid4()), site=site, device="d1", ts=T_KIOSK, rating=1 + seq % 5, scale=5,
                           lang="vi", officer="An", epoch=EPOCH, seq=seq, boot="b1", mono_ms=60_000,
                           clock="unsynced")), f"hailong/v1/{site}/d1/rating"


EPOCH = "55555555-5555-4555-8555-555555555555"
T_RECV = utc("2026-10-31T16:30:00").timestamp()  # 23:30 local on 31 October
T_KIOSK = utc("2026-09-29T16:00:00")  # the kiosk's clock: a month behind, 23:00 local on 29 September


def test_replacement_moves_day_and_month_counts_with_the_ratings(db):
    store = Store(db, timezone=HCM)
    ingest(store, sample(80))
    anchors = Anchors()
    early = [waiting(s) for s in (1, 2, 3)]
    store.write(classify([Message(t, p, i + 1, 1, False, T_RECV) for i, (p, t) in enumerate(early)], anchors=anchors))
    # waiting: counted apart (unverified) on 29 September local, where the kiosk's clock put them
    sept = records.calendar(HCM).day_of(int(T_KIOSK.timestamp() * 1000))
    assert db.scalar("SELECT SUM(n) FROM rollup_day WHERE day = ? AND flagged >= 2 AND site = 's-two'", (sept,)) >= 3
    assert_coarse_matches_ratings(db, HCM)
    oct31 = records.calendar(HCM).day_of(int((T_RECV + 30) * 1000))
    on_oct31 = lambda: db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_day WHERE day = ? AND flagged = 0 "  # noqa: E731
                                 "AND site = 's-two'", (oct31,))
    before = on_oct31()
    # rollup_month_wh: October, Saturday (31 October), 23:00-24:00 local, verified
    sat_23 = lambda: db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_month_wh WHERE month = ? AND weekday = 6 "  # noqa: E731
                               "AND hour = 23 AND flagged = 0 AND site = 's-two'", (2026 * 12 + 9,))
    wh_before = sat_23()
    # the boot's first live status, 90 s later (mono 150 s): placed at 23:30:00 - 90 s + 60 s, still 31 October,
    # a month later than the kiosk said and out of the unverified bit
    status = encode(StatusV2(site="s-two", device="d1", state="online", ts=T_KIOSK, app_version="2", outbox_depth=0,
                             boot="b1", mono_ms=150_000, clock="unsynced", epoch=EPOCH, seq_last=3))
    store.write(classify([Message("hailong/v1/s-two/d1/status", status, 1, 1, False, T_RECV + 90)], anchors=anchors))
    assert db.scalar("SELECT COUNT(*) FROM ratings WHERE time_unverified = 1 AND epoch = ?", (EPOCH,)) == 0
    assert on_oct31() == before + 3
    assert sat_23() == wh_before + 3
    assert_coarse_matches_ratings(db, HCM)
    store.write(classify([Message(t, p, i + 1, 1, False, T_RECV + 100) for i, (p, t) in enumerate(early)]))  # again
    assert_coarse_matches_ratings(db, HCM)
    assert compare_paths(db, CONFIG, PERIODS[:4] + [parse_period("2026-09", HCM)]) > 0


def test_completeness_counts_from_rollup_day_equal_the_hourly_ones(db):
    store = Store(db, timezone=HCM)
    ingest(store, sample())
    for p in PERIODS[:4]:
        fast = (ratings_by_device(db, p.start_ms, p.end_ms), unverified_by_device(db, p.start_ms, p.end_ms),
                ratings_by_device(db, p.start_ms, p.end_ms, ["s-two"]))
        db.execute("UPDATE rollup_zone SET zone = ''")
        try:
            slow = (ratings_by_device(db, p.start_ms, p.end_ms), unverified_by_device(db, p.start_ms, p.end_ms),
                    ratings_by_device(db, p.start_ms, p.end_ms, ["s-two"]))
        finally:
            db.execute("UPDATE rollup_zone SET zone = ?", (HCM,))
        assert fast == slow and sum(fast[0].values()) > 0 and sum(fast[1].values()) > 0


def test_a_database_without_schema_v6_is_migrated_then_backfilled_from_rollup_hour(db):
    # A database with its ratings and hourly rollup, migrated to every version but v6 (v7 may have come
    # first: both were written at the same time)
    for table in ("rollup_day", "rollup_month", "rollup_zone"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DELETE FROM schema_version WHERE version = 6")
    rows = [records.rating_row(r, "2026-11-02T00:00:00.000Z") for r in _decoded(sample())]
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    assert schema.migrate(db) == schema.LATEST
    assert db.scalar("SELECT COUNT(*) FROM schema_version WHERE version = 6") == 1
    assert db.scalar("SELECT zone FROM rollup_zone") == ""  # built by the first collector that knows its zone
    assert compare_paths(db, CONFIG, PERIODS[:2], expect_coarse=False) == 0  # until then: the hourly rollup
    db.execute("DELETE FROM ratings")  # the backfill reads rollup_hour only (a whole-hour zone)
    Store(db, timezone=HCM)  # a collector starts
    assert db.scalar("SELECT zone FROM rollup_zone") == HCM and not sync_zone(db, HCM)
    db.execute("DELETE FROM rollup_hour")
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    assert_coarse_matches_ratings(db, HCM)
    assert compare_paths(db, CONFIG, PERIODS) > 0


def _decoded(items):
    return [Rating.model_validate(json.loads(p)) for p, _ in items]


@pytest.mark.parametrize("tz", ["Europe/Paris", "Asia/Kolkata", "America/Sao_Paulo"])
def test_a_new_time_zone_rebuilds_the_coarse_rollups(db, tz):
    """Paris changes its offset in the data (25 October), Kolkata is half an hour off whole UTC hours (its
    days are counted from the ratings table), Sao Paulo is behind UTC."""
    store = Store(db, timezone=HCM)
    ingest(store, sample())
    store = Store(db, timezone=tz)  # the collector restarted with another zone in collector.yaml
    assert db.scalar("SELECT zone FROM rollup_zone") == tz
    ingest(store, sample(40, seed=9))
    assert_coarse_matches_ratings(db, tz)
    cfg = CONFIG.model_copy(update={"timezone": tz})
    periods = [parse_period("2026-10", tz), parse_period("2026-Q4", tz),
               date_range(date(2026, 10, 20), date(2026, 10, 30), tz)]
    assert compare_paths(db, cfg, periods) > 0


def test_a_collector_without_a_zone_keeps_the_recorded_one(db):
    Store(db, timezone=HCM)
    ingest(Store(db), sample(60))  # e.g. a tool that stores ratings: the rollups stay complete
    assert_coarse_matches_ratings(db, HCM)


@pytest.mark.postgres
def test_concurrent_collectors_and_a_rebuild_on_postgres(postgres_url):
    """Two collectors write overlapping keys at once while a third rebuilds in another zone: no deadlock,
    and the rollups end complete in the zone recorded last."""
    setup = connect(postgres_url)
    try:
        Store(setup, timezone=HCM)
        items = sample(400, seed=11)
        errors: list[BaseException] = []

        def writer(part):
            d = connect(postgres_url)
            try:
                ingest(Store(d), part, size=40)
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
            finally:
                d.close()

        def rebuild():
            d = connect(postgres_url)
            try:
                sync_zone(d, "Europe/Paris")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                d.close()

        threads = [threading.Thread(target=writer, args=(items[k::2],)) for k in range(2)]
        threads.append(threading.Thread(target=rebuild))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and not any(t.is_alive() for t in threads)
        assert setup.scalar("SELECT COUNT(*) FROM ratings") == len(items)
        assert_coarse_matches_ratings(setup, "Europe/Paris")
    finally:
        setup.close()


def test_fetch_gives_the_same_rows_from_rollup_month_as_summed_hours(db):
    """A year by commune and month, the API's heaviest ask, row for row."""
    ingest(Store(db, timezone=HCM), sample())
    year = parse_period("2026", HCM)
    needs = needs_for(("commune", "month"))
    fast = sorted(fetch(db, year.start_ms, year.end_ms, needs, tz=HCM))
    db.execute("UPDATE rollup_zone SET zone = ''")
    hourly = fetch(db, year.start_ms, year.end_ms, needs, tz=HCM)
    sums: Counter = Counter()
    for r in hourly:
        local = datetime.fromtimestamp(r.start_ms / 1000, records.calendar(HCM).zone)
        start = records.calendar(HCM).month_start_ms(local.year * 12 + local.month - 1)
        sums[r._replace(start_ms=start, n=0)] += r.n
    assert fast == sorted(k._replace(n=n) for k, n in sums.items() if n)


@pytest.mark.parametrize("tz", [HCM, "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_local_weekday_and_hour_of_every_quarter_hour(tz):
    """Ingest's local (day, hour) per quarter hour, and the instant standing for a (weekday, hour) in reports,
    agree with the standard library around clock changes (Lord Howe moves by half an hour)."""
    cal = records.Calendar(tz)
    start = int(utc("2026-03-25T00:00:00").timestamp() * 1000)
    for at in range(start, start + 14 * 86_400_000, 299_999):
        for t in (at, int(utc("2026-10-20T00:00:00").timestamp() * 1000) + (at - start)):
            local = datetime.fromtimestamp(t / 1000, cal.zone)
            assert cal.day_hour(t) == (local.date().toordinal() - records.EPOCH_ORDINAL, local.hour)
            assert records.weekday_of_day(cal.day_hour(t)[0]) == local.isoweekday()
    for wd in range(1, 8):
        for h in range(24):
            local = datetime.fromtimestamp(cal.weekday_hour_ms(wd, h) / 1000, cal.zone)
            assert (local.isoweekday(), local.hour) == (wd, h)


def test_a_database_at_schema_v8_gains_rollup_month_wh_and_rebuilds_it(db):
    """Schema v9 adds the table empty and forgets the recorded zone: reports read rollup_hour until a
    collector with a zone starts and rebuilds every coarse rollup, rollup_month_wh included."""
    store = Store(db, timezone=HCM)
    ingest(store, sample())
    db.execute("DROP TABLE rollup_month_wh")
    db.execute("DELETE FROM schema_version WHERE version = 9")
    assert schema.migrate(db) == schema.LATEST
    assert db.scalar("SELECT zone FROM rollup_zone") == "" and not db.scalar("SELECT COUNT(*) FROM rollup_month_wh")
    month = parse_period("2026-10", HCM)
    assert coarse_source(db, HCM, month.start_ms, month.end_ms, needs_for(("weekday", "hour"))) is None
    ingest(Store(db), sample(30, seed=12))  # a collector without a zone meanwhile: counted hourly only
    assert sync_zone(db, HCM)
    assert_coarse_matches_ratings(db, HCM)
    assert coarse_source(db, HCM, month.start_ms, month.end_ms, needs_for(("weekday", "hour")))[0] == "month_wh"
    assert compare_paths(db, CONFIG, PERIODS[:3]) > 0


@pytest.mark.parametrize("tz", ["Europe/Paris", "Asia/Kolkata"])
def test_fetch_gives_the_same_weekday_hour_rows_as_summed_hours(db, tz):
    """The patterns grid of a quarter with a clock change (Paris, 25 October) after a zone change, and in a
    half-hour zone (rebuilt from the ratings), row for row against the hourly path, scoped to two sites."""
    ingest(Store(db, timezone=HCM), sample())
    store = Store(db, timezone=tz)
    ingest(store, sample(60, seed=13))
    quarter = parse_period("2026-Q4", tz)
    needs = needs_for(("weekday", "hour")) | {"site"}
    sites = ["s-new", "s-two"]
    fast = fetch(db, quarter.start_ms, quarter.end_ms, needs, tz=tz, sites=sites)
    assert fast and coarse_source(db, tz, quarter.start_ms, quarter.end_ms, needs)[0] == "month_wh"
    db.execute("UPDATE rollup_zone SET zone = ''")
    hourly = fetch(db, quarter.start_ms, quarter.end_ms, needs, tz=tz, sites=sites)
    zone = ZoneInfo(tz)

    def keyed(rows):
        out: Counter = Counter()
        for r in rows:
            local = datetime.fromtimestamp(r.start_ms / 1000, zone)
            out[(r.site, local.isoweekday(), local.hour, r.scale, r.rating, r.flagged)] += r.n
        return Counter({k: n for k, n in out.items() if n})
    assert keyed(fast) == keyed(hourly) and len(fast) == len(keyed(fast))
    assert sum(keyed(fast).values()) == sum(1 for r in raw_ratings(db) if r.site in sites
                                            and quarter.start_ms <= r.at_ms < quarter.end_ms)
