"""Turning contract ratings into database rows and hourly rollup increments (pure, no I/O but `apply`)."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple

from broker.contract import Rating, format_ts

RATING_COLUMNS = ("id", "v", "site", "device", "ts", "ts_ms", "rating", "scale", "reason", "lang",
                  "officer", "service", "flags", "received_at")
INSERT_RATING_SQL = (f"INSERT INTO ratings ({', '.join(RATING_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(RATING_COLUMNS))}) ON CONFLICT (id) DO NOTHING")


class RatingRow(NamedTuple):
    id: str
    v: int
    site: str
    device: str
    ts: str
    ts_ms: int
    rating: int
    scale: int
    reason: str | None
    lang: str
    officer: str | None
    service: str | None
    flags: str  # comma-separated, '' when none
    received_at: str


def rating_row(r: Rating, received_at: str) -> RatingRow:
    ts_ms = int(r.ts.timestamp() * 1000)
    return RatingRow(r.id, r.v, r.site, r.device, format_ts(r.ts), ts_ms, r.rating, r.scale, r.reason, r.lang,
                     r.officer, r.service, ",".join(r.flags), received_at)


class RollupKey(NamedTuple):
    hour: int  # UTC hours since the epoch
    site: str
    device: str
    officer: str
    service: str
    reason: str
    scale: int
    rating: int
    flagged: int  # 1 when any flag (e.g. rapid_repeat) was set on the kiosk


def rollup_key(row: RatingRow) -> RollupKey:
    return RollupKey(row.ts_ms // 3_600_000, row.site, row.device, row.officer or "", row.service or "",
                     row.reason or "", row.scale, row.rating, 1 if row.flags else 0)


def increments(rows: Iterable[RatingRow]) -> Counter:
    """Count per rollup key; feed only rows that were actually inserted (not duplicates)."""
    return Counter(rollup_key(r) for r in rows)


ROLLUP_COLUMNS = ", ".join((*RollupKey._fields, "n"))
# Appended to an INSERT INTO rollup_hour: a key already counted gets the new count added.
ROLLUP_CONFLICT = f" ON CONFLICT ({', '.join(RollupKey._fields)}) DO UPDATE SET n = rollup_hour.n + excluded.n"
UPSERT_ROLLUP_SQL = (f"INSERT INTO rollup_hour ({ROLLUP_COLUMNS}) "
                     f"VALUES ({', '.join('?' * (len(RollupKey._fields) + 1))}){ROLLUP_CONFLICT}")


def rollup_rows(counts: Counter) -> list[tuple]:
    """Rows for rollup_hour in key order: concurrent collectors on PostgreSQL then lock rollup rows in
    one order (no deadlock)."""
    return [(*k, n) for k, n in sorted(counts.items())]


def apply(db, counts: Counter) -> None:
    """Add counts to the rollup; call inside the transaction that inserted the ratings."""
    if counts:
        db.executemany(UPSERT_ROLLUP_SQL, rollup_rows(counts))
