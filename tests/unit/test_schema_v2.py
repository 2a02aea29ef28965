"""The contract v2 schema step on both databases: a database from before it migrates in place, its
ratings keep their time as the placed time, and the new tables start empty."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from broker.contract import Rating
from collector.storage import records, schema
from collector.storage.db import Database
from collector.reports.report_queries import ReportSpec, run_report
from collector.reports.report import parse_period
from config.collector import CollectorConfig


def test_a_database_from_before_v2_migrates_and_its_ratings_keep_their_hours(db_url):
    db = Database(db_url)
    every = schema.MIGRATIONS
    v2_step = next(v for v, sqls in every if any("at_ms BIGINT" in sql for sql in sqls))
    before = [m for m in every if m[0] < v2_step]
    try:
        schema.MIGRATIONS, schema.LATEST = before, before[-1][0]
        assert schema.migrate(db) == before[-1][0]
    finally:
        schema.MIGRATIONS, schema.LATEST = every, every[-1][0]
    r = Rating(id=str(uuid.uuid4()), site="s", device="d", ts=datetime(2026, 10, 3, 2, 30, tzinfo=timezone.utc),
               rating=5, scale=5, lang="vi")
    row = records.rating_row(r, "2026-10-03T02:30:01.000Z")[:14]  # the v1 columns only
    with db.transaction():
        db.execute(f"INSERT INTO ratings ({', '.join(records.RATING_COLUMNS[:14])}) VALUES "
                   f"({', '.join('?' * 14)})", row)
        db.execute("INSERT INTO rollup_hour VALUES (?, 's', 'd', '', '', '', 5, 5, 0, 1)", (row[5] // 3_600_000,))
    assert schema.migrate(db) == schema.LATEST
    assert db.query("SELECT at_ms, ts_ms, time_unverified, epoch FROM ratings") == [(row[5], row[5], 0, None)]
    for table in ("events", "epochs", "boots", "clock_corrections"):
        assert db.scalar(f"SELECT COUNT(*) FROM {table}") == 0
    cfg = CollectorConfig()
    [total] = run_report(db, cfg, ReportSpec(parse_period("2026-10", cfg.timezone)))
    assert (total.count, total.unverified) == (1, 0)
    db.close()
