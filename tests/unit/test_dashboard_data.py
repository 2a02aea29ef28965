"""The dashboard's figures (collector/web/data.py) work out each site's figures once and add them up per
scope; they must equal a report run straight over the scope's rows, for every scope and grouping, in any
order the scopes are asked, with or without a row filter, on SQLite and PostgreSQL."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from broker.contract import Rating
from collector.storage import records
from collector.accounts.accounts import Scope, scope_sites
from collector.storage.db import connect
from collector.reports.report import parse_period, unsatisfied_only
from collector.reports.report_queries import ReportSpec, run_reports
from collector.web.data import DataSource
from tests.unit.test_report_data import CONFIG, rating_rows

GROUPINGS = [(), ("centre",), ("commune",), ("counter",), ("device",), ("officer",), ("service", "officer"),
             ("day",), ("weekday", "hour"), ("reason",), ("month", "centre")]
SCOPES = [Scope("all"), Scope("province", "p1"), Scope("commune", "c1"), Scope("commune", "c2"),
          Scope("centre", "s-new"), Scope("centre", "s-two")]


def extra_rows(n: int = 600) -> list[records.RatingRow]:
    """Ratings at every site of the sample (the merged one, an unconfigured one), on two scales, some flagged
    as repeated presses and some with a time only the kiosk vouches for."""
    rnd = random.Random(3)
    rows = []
    for i in range(n):
        site, device = rnd.choice([("s-new", "d1"), ("s-old", "d1"), ("s-two", "d1"), ("s-x", "d9"), ("s-new", "d2")])
        scale = rnd.choice([5, 5, 3])
        ts = datetime(2026, 9, 25, tzinfo=timezone.utc) + timedelta(minutes=rnd.randrange(60 * 24 * 40))
        rating = rnd.randint(1, scale)
        r = Rating(id=f"00000000-0000-4000-9000-{i:012d}", site=site, device=device, ts=ts, rating=rating, scale=scale,
                   lang="vi", officer=rnd.choice(["An", "Binh", "Chi", None]), service=rnd.choice(["ho-tich", None]),
                   reason=rnd.choice(["slow", "rude", None]) if rating <= 2 else None,
                   flags=["rapid_repeat"] if rnd.random() < 0.05 else [])
        row = records.rating_row(r, "2026-11-05T00:00:00.000Z")
        rows.append(row._replace(time_unverified=1) if rnd.random() < 0.05 else row)
    return rows


@pytest.fixture()
def db(db_url):
    db = connect(db_url)
    rows = rating_rows() + extra_rows()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    yield db
    db.close()


def shown(results) -> list:
    return [[(r.keys, r.group, r.name, r.to_dict()) for r in rows] for rows in results]


def direct(db, source, period, bys, sites, only=None, lang="vi") -> list:
    spec = ReportSpec(period, sites=sorted(sites) if sites is not None else None, lang=lang)
    return shown(run_reports(db, CONFIG, spec, bys, source.hierarchy, only))


@pytest.mark.parametrize("period", ["2026-10", "2026-Q4"])
def test_every_scope_and_grouping_equals_a_report_run_straight(db, period):
    p = parse_period(period, CONFIG.timezone)
    for order in (SCOPES, SCOPES[::-1]):  # the centre first (sites worked out one by one), or everything first
        source = DataSource(CONFIG, db, workers=1)
        try:
            for scope in order:
                sites = scope_sites(scope, source.hierarchy)
                got = shown(source.reports([(p, GROUPINGS, None, "vi", sites)])[0])
                assert got == direct(db, source, p, GROUPINGS, sites), (scope, order[0])
                assert got[0][0][3]["count"] > 0, scope  # every scope holds ratings: the test compares figures
        finally:
            source.close()


def test_row_filters_named_or_not_and_an_empty_scope(db):
    p = parse_period("2026-10", CONFIG.timezone)
    source = DataSource(CONFIG, db, workers=2)
    try:
        def unsatisfied(rows):
            return unsatisfied_only(rows, CONFIG.satisfied)
        unsatisfied.cache_key = "unsatisfied"

        def only_an(rows):  # no cache_key: worked out afresh each time
            return [r for r in rows if r.officer == "An"]
        for scope in SCOPES:
            sites = scope_sites(scope, source.hierarchy)
            for only, bys in ((unsatisfied, [("reason",), ("centre",)]), (only_an, [("officer",), ()])):
                got = shown(source.reports([(p, bys, only, "en", sites)])[0])
                assert got == direct(db, source, p, bys, sites, only, "en"), (scope, only.__name__)
        # a scope that covers no site (a commune with no centre yet) sees no rating, and asks no query
        empty = shown(source.reports([(p, [(), ("centre",)], None, "vi", frozenset())])[0])
        assert [[(k, g, d["count"], d["flagged"], d["levels"]) for k, g, _, d in rows] for rows in empty] == \
            [[((), "total", 0, 0, {})], []]
    finally:
        source.close()
