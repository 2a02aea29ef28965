"""Hand-built data for the alert and scheduled-report tests: a small hierarchy and ratings written the
way ingest writes them (ratings rows plus their hourly rollup in one transaction)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from broker.contract import Rating
from collector.storage import records
from config.collector import CollectorConfig

TZ = "Asia/Ho_Chi_Minh"
SITES = [{"slug": "lang-son", "name": "Tỉnh Lạng Sơn", "communes": [
    {"slug": "xa-tan-lap", "name": "Xã Tân Lập", "centres": [
        {"site": "ubnd-tan-lap", "name": "Bộ phận một cửa xã Tân Lập", "merged_from": ["ubnd-tan-my"],
         "counters": [{"device": "quay-01", "name": "Quầy 1 - Hộ tịch"}, {"device": "quay-02", "name": "Quầy 2 - Đất đai"}]}]},
    {"slug": "xa-hoa-binh", "name": "Xã Hòa Bình", "centres": [
        {"site": "ubnd-hoa-binh", "name": "Bộ phận một cửa xã Hòa Bình",
         "counters": [{"device": "quay-01", "name": "Quầy Hòa Bình"}]}]}]}]


def config(**extra) -> CollectorConfig:
    data = {"timezone": TZ, "sites": SITES,
            "labels": {"officers": {"nguyen-van-an": "Nguyễn Văn An"},
                       "reasons": {"waiting": {"vi": "Chờ đợi lâu", "en": "Long waiting time"}}},
            "opening": {"default": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                    "hours": ["07:30-11:30", "13:30-17:00"]}},
            "holidays": ["2026-09-02"]}
    data.update(extra)
    return CollectorConfig.model_validate(data)


def local(text: str) -> datetime:
    """A Vietnam local time 'YYYY-MM-DD HH:MM' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone(timedelta(hours=7))).astimezone(timezone.utc)


def add_ratings(db, site: str, device: str, start: datetime, ratings: list[int], *, step_s: int = 60,
                officer: str | None = None, service: str | None = None, reason: str | None = None,
                flags: list[str] | None = None, scale: int = 5) -> None:
    rows = []
    for i, value in enumerate(ratings):
        r = Rating(id=str(uuid.uuid4()), site=site, device=device, ts=start + timedelta(seconds=i * step_s),
                   rating=value, scale=scale, lang="vi", officer=officer, service=service,
                   reason=reason if value <= 2 else None, flags=flags or [])
        rows.append(records.rating_row(r, "2026-01-01T00:00:00.000Z"))
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))


def set_device(db, site: str, device: str, last_seen: datetime, state: str = "online", depth: int = 0,
               status_ts: datetime | None = None) -> None:
    from broker.contract import format_ts

    seen = format_ts(last_seen)
    st = format_ts(status_ts or last_seen)
    db.execute("INSERT INTO devices (site, device, state, status_ts, last_seen, outbox_depth) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (site, device) DO UPDATE SET state = excluded.state, status_ts = excluded.status_ts, "
               "last_seen = excluded.last_seen, outbox_depth = excluded.outbox_depth",
               (site, device, state, st, seen, depth))
