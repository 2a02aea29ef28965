"""A small known data set for the report tests, with its figures worked out by hand in the other tests.

Time zone Asia/Ho_Chi_Minh (UTC+7). Scale 5 counts 4 and 5 as satisfied, scale 3 counts 3.
Hierarchy: province p1 > commune c1 > centre s-new (merged_from s-old), counter d1 "Quầy 1";
           province p1 > commune c2 > centre s-two, counter d1 "Quầy A".  Site s-x is not configured.
"""
from __future__ import annotations

from datetime import datetime, timezone

from broker.contract import Rating
from collector.storage import records
from collector.reports.report import RollupRow
from config.collector import CollectorConfig

CONFIG = CollectorConfig.model_validate({
    "timezone": "Asia/Ho_Chi_Minh",
    "satisfied": {5: [4, 5], 3: [3]},
    "sites": [{"slug": "p1", "name": "Tỉnh Một", "communes": [
        {"slug": "c1", "name": "Xã Một", "centres": [
            {"site": "s-new", "name": "Trung tâm Mới", "merged_from": ["s-old"],
             "counters": [{"device": "d1", "name": "Quầy 1"}]}]},
        {"slug": "c2", "name": "Xã Hai", "centres": [
            {"site": "s-two", "name": "Trung tâm Hai", "counters": [{"device": "d1", "name": "Quầy A"}]}]},
    ]}],
    "dashboard": {"min_ratings": 2},
})

# (number, site, device, UTC time, rating, scale, officer, service, reason, flags)   local time (UTC+7)
SAMPLE = [
    (1, "s-new", "d1", "2026-10-01T02:00", 5, 5, "An", "ho-tich", None, []),          # Thu 01 Oct 09:00
    (2, "s-new", "d1", "2026-10-01T03:10", 4, 5, "An", "ho-tich", None, []),          # Thu 01 Oct 10:10
    (3, "s-new", "d1", "2026-10-01T03:20", 1, 5, "Binh", "dat-dai", "slow", []),      # Thu 01 Oct 10:20
    (4, "s-old", "d1", "2026-10-05T01:00", 2, 5, "Binh", "dat-dai", "rude", []),      # Mon 05 Oct 08:00
    (5, "s-two", "d1", "2026-10-31T23:30", 4, 5, "Chi", "ho-tich", None, []),         # Sun 01 NOV 06:30
    (6, "s-two", "d1", "2026-10-31T16:30", 3, 3, None, "ho-tich", None, []),          # Sat 31 Oct 23:30
    (7, "s-new", "d1", "2026-10-01T03:21", 1, 5, "Binh", "dat-dai", None, ["rapid_repeat"]),  # flagged
    (8, "s-x", "d9", "2026-10-10T05:00", 3, 5, None, None, None, []),                 # Sat 10 Oct 12:00
    (9, "s-two", "d1", "2026-09-30T17:30", 5, 5, "Chi", "ho-tich", None, []),         # Thu 01 Oct 00:30
    (10, "s-two", "d1", "2026-09-30T16:30", 1, 5, "Chi", "ho-tich", None, []),        # Wed 30 SEP 23:30
]


def ratings() -> list[Rating]:
    out = []
    for num, site, device, ts, rating, scale, officer, service, reason, flags in SAMPLE:
        out.append(Rating(id=f"00000000-0000-4000-8000-{num:012d}", site=site, device=device,
                          ts=datetime.fromisoformat(ts).replace(tzinfo=timezone.utc), rating=rating, scale=scale,
                          lang="vi", officer=officer, service=service, reason=reason, flags=flags))
    return out


def rating_rows() -> list[records.RatingRow]:
    return [records.rating_row(r, "2026-11-02T00:00:00.000Z") for r in ratings()]


def rollup_rows() -> list[RollupRow]:
    """What rollup_hour holds after ingest of the sample, as report rows (pure, no database)."""
    return [RollupRow(k.hour * 3_600_000, k.site, k.device, k.officer, k.service, k.reason, k.scale, k.rating,
                      k.flagged, n) for k, n in records.increments(rating_rows()).items()]


def load_into(db) -> None:
    """Store the sample exactly as ingest does: rows and rollup increments in one transaction."""
    rows = rating_rows()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))


def test_sample_rollup_holds_every_rating_once():
    assert sum(r.n for r in rollup_rows()) == 10
