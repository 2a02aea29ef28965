"""Two communes of one province with ratings, kiosks and accounts, for scope tests of the dashboard and API.

Commune B's names, slugs and figures are distinctive ("Zebra", 1 357 ratings) so a test can search any
answer for them: an account or token of commune A must never receive one.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from broker.contract import Rating
from collector.storage import records
from collector.storage.db import connect
from config.collector import CollectorConfig

NOW = datetime(2026, 10, 28, 4, 0, tzinfo=timezone.utc)
ADMIN_PASSWORD = "mật-khẩu-quản-trị-1"
PASSWORD = "mat-khau-xa-an-phu-1"
CFG = CollectorConfig.model_validate({
    "sites": [{"slug": "tinh-lam-dong", "name": "Tỉnh Lâm Đồng", "communes": [
        {"slug": "xa-an-phu", "name": "Xã An Phú", "centres": [
            {"site": "ubnd-an-phu", "name": "Một cửa xã An Phú", "merged_from": ["ubnd-an-hoa"],
             "counters": [{"device": "quay-01", "name": "Quầy 1 - Hộ tịch An Phú"}]}]},
        {"slug": "xa-zebra-b", "name": "Xã Zebra Bắc", "centres": [
            {"site": "ubnd-zebra-b", "name": "Một cửa Zebra Bắc", "merged_from": ["ubnd-zebra-cu"],
             "counters": [{"device": "quay-09", "name": "Quầy Zebra Chín"}]}]}]}],
    "labels": {"officers": {"can-bo-zebra": "Cán bộ Zebra Ngựa Vằn"}, "services": {"dv-zebra": "Dịch vụ Zebra"},
               "reasons": {"ly-do-zebra": "Lý do Zebra", "ly-do-an": "Chờ lâu ở An Phú"},
               "reason_elements": {"ly-do-an": "access", "ly-do-zebra": "staff"}},
    "dashboard": {"min_ratings": 5, "password": {"env": "UNUSED_IN_TESTS"}},
    "alerts": {"satisfaction_below": 0.99, "window_days": 60, "device_silent_hours": 1},
})
A_COUNT, B_COUNT = 250, 1357
# everything of B that must never reach commune A's account or token
B_SECRETS = ["zebra", "Zebra", "ubnd-zebra-b", "ubnd-zebra-cu", "xa-zebra-b", "quay-09",
             "1357", "1\u202f357", "1,357", str(A_COUNT + B_COUNT), f"{(A_COUNT + B_COUNT) // 1000}\u202f{(A_COUNT + B_COUNT) % 1000:03d}"]


def ratings() -> list[records.RatingRow]:
    rnd = random.Random(15)
    rows = []
    plan = [("ubnd-an-phu", "quay-01", "can-bo-an", "dv-an", "ly-do-an")] * (A_COUNT - 50) + \
           [("ubnd-an-hoa", "quay-01", "can-bo-an", "dv-an", "ly-do-an")] * 50 + \
           [("ubnd-zebra-b", "quay-09", "can-bo-zebra", "dv-zebra", "ly-do-zebra")] * (B_COUNT - 100) + \
           [("ubnd-zebra-cu", "quay-09", "can-bo-zebra", "dv-zebra", "ly-do-zebra")] * 100
    for i, (site, device, officer, service, reason) in enumerate(plan):
        ts = (NOW - timedelta(days=rnd.randrange(0, 40), hours=rnd.randrange(0, 8)))
        rating = rnd.choice([1, 2, 4, 5])
        r = Rating(id=f"00000000-0000-4000-8000-{i:012d}", site=site, device=device, ts=ts, rating=rating, scale=5,
                   lang="vi", officer=officer, service=service, reason=reason if rating <= 2 else None)
        rows.append(records.rating_row(r, "2026-10-28T04:00:00.000Z"))
    return rows


def seed(url: str):
    """A database with both communes' ratings and kiosks; returns the open connection."""
    db = connect(url)
    rows = ratings()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    for site, device in (("ubnd-an-phu", "quay-01"), ("ubnd-zebra-b", "quay-09")):
        ts = (NOW - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        db.execute("INSERT INTO devices (site, device, state, status_ts, last_seen, app_version, outbox_depth, "
                   "last_rating_ts, config_hash, clock_skew_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (site, device, "online", ts, ts, "0.1.0", 7, ts, "abc", 0.5))
    seed_followup(db)
    for place, name in (("ubnd-an-phu", "Một cửa xã An Phú"), ("ubnd-zebra-b", "Một cửa Zebra Bắc")):
        db.execute("INSERT INTO alerts (rule, kind, subject, subject_name, place, fired_at, value, detail) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ("ti-le-thap", "satisfaction_below", place, name, place,
                                                      "2026-10-27T02:00:00.000Z", 0.41, "{}"))
    return db


# One answer given on the phone after the thank-you QR (collector/followup) per commune: A's comment tries a
# formula and a script, B's names Zebra and its contact is an e-mail of zebra's.
FOLLOWUP_A = ("00000000-0000-4000-8000-000000000001", '=HYPERLINK("http://x","bấm") <script>alert(1)</script> chờ lâu',
              "0912345678", {"staff": 1, "result": 4})
FOLLOWUP_B = (f"00000000-0000-4000-8000-{A_COUNT + 150:012d}", "Góp ý Zebra bí mật", "zebra@example.vn",
              {"staff": 5, "result": 4})


GENERAL_A = ("Góp ý chung An Phú: <b>bãi xe</b> chật", "chung-an-phu@example.vn", {"access": 2})
GENERAL_B = ("Góp ý chung Zebra bí mật", "chung-zebra@example.vn", {"access": 5})


def seed_followup(db) -> None:
    from broker import followup_tokens as tokens
    from collector.followup import answers

    now_ms = int(NOW.timestamp() * 1000)
    for rid, comment, contact, scores in (FOLLOWUP_A, FOLLOWUP_B):
        token = tokens.new_token()
        site, device, at_ms = db.query("SELECT site, device, at_ms FROM ratings WHERE id = ?", (rid,))[0]
        with db.transaction():
            answers.on_ratings(db, [(rid, tokens.token_hash(rid, token), site, device, at_ms)], now_ms)
        outcome = answers.submit(db, rid, token, answers.Answer(scores, comment, contact), now_ms, 60 * 86_400_000)
        assert outcome is answers.Outcome.ACCEPTED, outcome
    from collector.followup import general  # the printed counter QRs' general feedback, one per commune

    for site, device, (comment, contact, scores) in (("ubnd-an-phu", "quay-01", GENERAL_A),
                                                     ("ubnd-zebra-b", "quay-09", GENERAL_B)):
        code = general.make_code(db, site, device, f"{device} {site}", now_ms)
        assert general.submit(db, code, answers.Answer(scores, comment, contact), now_ms - 3_600_000)


def alert_id(db, place: str) -> int:
    return int(db.scalar("SELECT id FROM alerts WHERE place = ?", (place,)))
