"""Rows and rollups: a rating becomes one row; rollup counts add up across batches on both databases."""
from datetime import datetime, timezone

from broker.contract import Rating, new_event_id
from collector.storage import records
from collector.storage.db import connect


def make(rating=5, flags=(), hour=8, reason=None):
    return Rating(id=new_event_id(), site="s-1", device="d-1", ts=datetime(2026, 11, 2, hour, 30, tzinfo=timezone.utc),
                  rating=rating, scale=5, lang="vi", flags=list(flags), reason=reason)


def test_row_has_one_column_per_field():
    r = make(flags=["rapid_repeat"])
    row = records.rating_row(r, "2026-11-02T08:31:00.000Z")
    assert row._fields == records.RATING_COLUMNS
    assert row.ts == "2026-11-02T08:30:00.000Z" and row.flags == "rapid_repeat"
    assert records.rollup_key(row).hour == int(datetime(2026, 11, 2, 8, tzinfo=timezone.utc).timestamp()) // 3600
    assert records.rollup_key(row).flagged == 1


def test_rollups_accumulate(db_url):
    db = connect(db_url)
    for _ in range(2):
        rows = [records.rating_row(make(rating=r), "x") for r in (5, 5, 1)]
        with db.transaction():
            db.executemany(records.INSERT_RATING_SQL, rows)
            records.apply(db, records.increments(rows))
    got = dict(db.query("SELECT rating, n FROM rollup_hour ORDER BY rating"))
    assert got == {1: 2, 5: 4}
    assert db.scalar("SELECT COUNT(*) FROM ratings") == 6
