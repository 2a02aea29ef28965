"""Hand-built ratings and shift events of October 2026 for the officers page and /api/v1/officers.

Commune Tân Lập (centre ubnd-tan-lap, which took over the old site ubnd-tan-my), Monday 5 October 2026,
local time (UTC+7):

- an (quay-01 of ubnd-tan-lap): signed in 07:30, signed out 11:30 -> 4 h; 10 ratings, 9 satisfied, one
  "cho-lau"; 2 answer desk requests -> 90.0 %, grade Tốt (from 8 ratings), 2.5 ratings per hour, rank 1.
- binh (quay-02 of the old site ubnd-tan-my): signed in 13:00, no sign-out -> closes at 17:00, 4 h; 6
  ratings, 4 satisfied, "thai-do" twice -> 66.7 %, no grade (6 < 8), 1.5 per hour, rank 2; a request
  expired at 14:00 on that counter -> 1 expired.
- cuong (quay-01 of ubnd-tan-lap, afternoon, no shift): 3 ratings, below the minimum of 5 -> hidden.
- 3 ratings with no officer -> 3 of 22 ratings (13.6 %).

Commune Zebra Bắc (ubnd-zebra-b): officer can-bo-zebra, 7 ratings: what commune Tân Lập must never see.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from collector.storage import records
from collector.storage.db import connect
from config.collector import CollectorConfig

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 10, 28, 4, 0, tzinfo=timezone.utc)
PASSWORD = "mat-khau-can-bo-1"
ADMIN_PASSWORD = "mật-khẩu-quản-trị-1"
CFG = CollectorConfig.model_validate({
    "sites": [{"slug": "lang-son", "name": "Tỉnh Lạng Sơn", "communes": [
        {"slug": "xa-tan-lap", "name": "Xã Tân Lập", "centres": [
            {"site": "ubnd-tan-lap", "name": "Một cửa xã Tân Lập", "merged_from": ["ubnd-tan-my"],
             "counters": [{"device": "quay-01", "name": "Quầy 1"}, {"device": "quay-02", "name": "Quầy 2"}]}]},
        {"slug": "xa-zebra-b", "name": "Xã Zebra Bắc", "centres": [
            {"site": "ubnd-zebra-b", "name": "Một cửa Zebra Bắc", "counters": [{"device": "quay-09", "name": "Quầy Zebra"}]}]}]}],
    "labels": {"officers": {"an": "Nguyễn Văn An", "binh": "Trần Thị Bình", "cuong": "Lê Văn Cường",
                            "can-bo-zebra": "Cán bộ Zebra Ngựa Vằn"},
               "reasons": {"cho-lau": {"vi": "Chờ đợi lâu", "en": "Long waiting time"}, "thai-do": "Thái độ chưa tốt",
                           "ly-do-zebra": "Lý do Zebra"}},
    "evaluation": {"min_ratings": 5, "grade_min_ratings": 8},
    "dashboard": {"password": {"env": "UNUSED_IN_TESTS"}},
})
ZEBRA = ["zebra", "Zebra", "can-bo-zebra", "ubnd-zebra-b", "xa-zebra-b"]


def at(hour: int, minute: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ).astimezone(timezone.utc)


def _rating(i: int, site: str, device: str, when: datetime, value: int, officer=None, reason=None, request=None):
    ms = int(when.timestamp() * 1000)
    return records.RatingRow(f"00000000-0000-4000-8000-{i:012d}", 2, site, device,
                             when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), ms, value, 5, reason, "vi", officer, None, "",
                             "2026-10-28T04:00:00.000Z", ms, 0, f"ep-{site}-{device}", i, "boot", ms, "synced",
                             request, None, None)


def _event(i: int, site: str, device: str, when: datetime, type_: str, officer=None):
    ms = int(when.timestamp() * 1000)
    return records.EventRow(f"10000000-0000-4000-8000-{i:012d}", 2, site, device, type_,
                            when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), ms, ms, 0, f"ep-{site}-{device}", 1000 + i,
                            "boot", ms, "synced", officer, None, None, None, None, None, None,
                            "2026-10-28T04:00:00.000Z")


def rows() -> tuple[list, list]:
    ratings, n = [], 0

    def add(*args, **kw):
        nonlocal n
        n += 1
        ratings.append(_rating(n, *args, **kw))
    for k in range(10):  # an: 9 satisfied, one 2 with a reason; two answer requests
        add("ubnd-tan-lap", "quay-01", at(8, 5 * k), 2 if k == 3 else 5, "an", "cho-lau" if k == 3 else None,
            f"20000000-0000-4000-8000-00000000000{k}" if k < 2 else None)
    for k, v in enumerate([5, 4, 2, 5, 1, 4]):  # binh on the old site's counter
        add("ubnd-tan-my", "quay-02", at(13, 30 + 5 * k), v, "binh", "thai-do" if v <= 2 else None)
    for k in range(3):
        add("ubnd-tan-lap", "quay-01", at(14, 10 * k), 1, "cuong", "cho-lau")
    for k in range(3):
        add("ubnd-tan-lap", "quay-02", at(9, 10 * k), 4)
    for k in range(7):
        add("ubnd-zebra-b", "quay-09", at(9, 5 * k), 1 if k % 2 else 5, "can-bo-zebra", "ly-do-zebra" if k % 2 else None)
    events = [_event(1, "ubnd-tan-lap", "quay-01", at(7, 30), "sign_in", "an"),
              _event(2, "ubnd-tan-lap", "quay-01", at(11, 30), "sign_out", "an"),
              _event(3, "ubnd-tan-my", "quay-02", at(13, 0), "sign_in", "binh"),
              _event(4, "ubnd-tan-my", "quay-02", at(14, 0), "request_expired"),
              _event(5, "ubnd-zebra-b", "quay-09", at(8, 0), "sign_in", "can-bo-zebra")]
    return ratings, events


def seed(url: str):
    db = connect(url)
    ratings, events = rows()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, ratings)
        records.apply(db, records.increments(ratings))
        db.executemany(f"INSERT INTO events ({', '.join(records.EVENT_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(records.EVENT_COLUMNS))})", events)
    return db


def write_config(path, db_url: str) -> None:
    """The same configuration as a collector.yaml, for the command line."""
    import yaml

    data = CFG.model_dump(mode="json", exclude_defaults=True)
    data["database"] = {"url": db_url}
    data.pop("dashboard", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
