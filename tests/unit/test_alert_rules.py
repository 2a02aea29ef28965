"""Alert rules against hand-built data: fire once, clear once, quiet at night and on holidays,
state kept across a restart; the pure state machine and calendar on their own."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from collector.alerting import rules
from collector.alerting.calendar import Calendar, due_periods, last_closed, report_period
from collector.alerting.evaluate import Evaluator
from collector.alerting.history import acknowledge, add_comment, list_alerts
from collector.storage.db import connect
from tests.alert_data import add_ratings, config, local, set_device

SMTP = {"host": "127.0.0.1", "port": 2525, "security": "none", "sender": "hailong@example.vn"}
RECIPIENTS = [
    {"name": "Tỉnh", "email": "tinh@example.vn", "scope": "lang-son"},
    {"name": "Tân Lập", "email": "tanlap@example.vn", "scope": "xa-tan-lap", "lang": "en"},
    {"name": "Hòa Bình", "email": "hoabinh@example.vn", "scope": "xa-hoa-binh"},
]


def make(tmp_path, rule: dict, url: str | None = None, **notify):
    cfg = config(alerts={"rules": [rule]},
                 notify={"smtp": SMTP, "recipients": RECIPIENTS, **notify})
    db = connect(url or f"sqlite:///{tmp_path / 'a.db'}")
    return cfg, db


def queued(db) -> list[tuple]:
    return db.query("SELECT key, target, subject FROM notifications ORDER BY id")


# ------------------------------------------------------------------ pure parts
def test_state_machine_fires_once_and_clears_once_with_minimum_duration():
    t0 = local("2026-10-05 09:00")
    s = rules.State(rules.OK, t0)
    seen = []
    for minute, verdict in [(0, True), (5, True), (10, True), (11, True), (12, None), (13, False),
                            (15, True), (16, False), (25, False), (26, False), (30, True)]:
        s, ev = rules.step(s, verdict, t0 + timedelta(minutes=minute), for_minutes=10)
        seen.append(ev)
    # fires only after 10 minutes of the condition; a short recovery (13 -> 15) does not clear it
    assert seen == [None, None, "fire", None, None, None, None, None, None, "clear", None]


def test_quiet_freezes_firing_and_forgets_pending():
    t0 = local("2026-10-05 16:55")
    s, _ = rules.step(rules.State(rules.OK, t0), True, t0, for_minutes=10)
    assert s.status == rules.PENDING
    s, ev = rules.step(s, True, t0 + timedelta(minutes=20), for_minutes=10, quiet=True)
    assert (s.status, ev) == (rules.OK, None)
    firing = rules.State(rules.FIRING, t0, alert_id=3)
    assert rules.step(firing, False, t0, quiet=True) == (firing, None)


def test_hysteresis_bands():
    assert rules.rate_below(0.69, 50, 0.7, None, 10) is True
    assert rules.rate_below(0.72, 50, 0.7, None, 10) is None  # inside the band: nothing changes
    assert rules.rate_below(0.75, 50, 0.7, None, 10) is False
    assert rules.rate_below(0.1, 5, 0.7, None, 10) is None  # too few ratings decide nothing
    assert rules.share_above(0.30, 40, 0.3, None, 10) is True
    assert rules.share_above(0.27, 40, 0.3, None, 10) is None
    assert rules.share_above(0.25, 40, 0.3, None, 10) is False
    assert rules.backlog_growing([1, 30, 40, 50], 3, 20) is True
    assert rules.backlog_growing([30, 40, 35], 3, 20) is False
    assert rules.spike(100, 100, None) is True and rules.spike(60, 100, None) is None and rules.spike(49, 100, None) is False


def test_calendar_opening_minutes_skip_nights_weekends_and_holidays():
    cal = Calendar.from_config(config())
    assert cal.is_open(None, local("2026-10-05 09:00"))  # Monday morning
    assert not cal.is_open(None, local("2026-10-05 12:00"))  # lunch
    assert not cal.is_open(None, local("2026-10-05 22:00"))
    assert not cal.is_open(None, local("2026-10-10 09:00"))  # Saturday
    assert not cal.is_open(None, local("2026-09-02 09:00"))  # National Day, configured holiday
    # Friday 16:30 -> Monday 08:00: 30 minutes on Friday and 30 on Monday
    assert cal.open_minutes(None, local("2026-10-09 16:30"), local("2026-10-12 08:00")) == pytest.approx(60)


def test_report_periods_and_due_days():
    cal = Calendar.from_config(config(holidays=["2027-01-01"]))
    assert report_period("2026-6M", cal.tz)[1].end == local("2026-07-01 00:00")
    assert report_period("2026-9m", cal.tz)[0] == "9m"
    assert [last_closed(k, date(2027, 1, 4)) for k in ("month", "quarter", "6m", "9m", "year")] == \
        ["2026-12", "2026-Q4", "2026-6M", "2026-9M", "2026"]
    # 2027-01-01 is a holiday (Friday), then a weekend: year, Q4 and December are due on Monday 4 January
    assert due_periods(date(2026, 12, 31), cal) == []
    assert due_periods(date(2027, 1, 1), cal) == []
    assert due_periods(date(2027, 1, 4), cal) == [("month", "2026-12"), ("quarter", "2026-Q4"), ("year", "2026")]
    # 2026-10-01 is a Thursday: September, Q3 and 9 months go out that day
    assert due_periods(date(2026, 10, 1), cal) == [("month", "2026-09"), ("quarter", "2026-Q3"), ("9m", "2026-9M")]


# ------------------------------------------------------------------ against a database
def test_low_satisfaction_over_last_n_ratings_fires_once_clears_once_and_survives_restart(tmp_path, db_url):
    rule = {"name": "low-sat", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7,
            "last_ratings": 20, "min_ratings": 10}
    cfg, db = make(tmp_path, rule, db_url)
    t = local("2026-10-05 08:00")  # Monday
    add_ratings(db, "ubnd-tan-lap", "quay-01", t, [1] * 12 + [5] * 8)  # 40 % satisfied
    add_ratings(db, "ubnd-hoa-binh", "quay-01", t, [5] * 20)
    # flagged presses never count: 30 more sad faces flagged as repeats change nothing
    add_ratings(db, "ubnd-hoa-binh", "quay-01", t + timedelta(minutes=30), [1] * 30, flags=["rapid_repeat"])
    now = local("2026-10-05 09:00")
    ev = Evaluator(cfg, db)
    assert ev.run(now) == [("low-sat", "centre:ubnd-tan-lap", "fire")]
    assert ev.run(now + timedelta(minutes=1)) == []  # still low: not announced again
    # a restart (new evaluator, new connection) remembers the alert
    db.close()
    db = connect(db_url)
    assert Evaluator(cfg, db).run(now + timedelta(minutes=2)) == []
    keys = [k for k, _, _ in queued(db)]
    # province and Tân Lập recipients are told, Hòa Bình is not (out of its scope)
    assert keys == ["alert:1:fire:email:tinh@example.vn", "alert:1:fire:email:tanlap@example.vn"]
    # 20 happy ratings: the last 20 are all satisfied
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 09:10"), [5] * 20)
    ev = Evaluator(cfg, db)
    assert ev.run(local("2026-10-05 09:40")) == [("low-sat", "centre:ubnd-tan-lap", "clear")]
    assert ev.run(local("2026-10-05 09:41")) == []
    alert = list_alerts(db, cfg.timezone, ev.hierarchy)[0]
    assert alert["value"] == 0.4 and alert["clear_value"] == 1.0 and alert["cleared_at"]
    assert len(queued(db)) == 4
    english = [s for k, _, s in queued(db) if "tanlap" in k]
    assert english == ["[Hài lòng] Alert: Bộ phận một cửa xã Tân Lập", "[Hài lòng] Cleared: Bộ phận một cửa xã Tân Lập"]


def test_low_satisfaction_is_quiet_at_night_and_announced_when_the_centre_opens(tmp_path):
    rule = {"name": "low-sat", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7,
            "last_ratings": 20, "min_ratings": 10}
    cfg, db = make(tmp_path, rule)
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 16:00"), [1] * 20)
    ev = Evaluator(cfg, db)
    assert ev.run(local("2026-10-05 17:30")) == []  # after closing time
    assert ev.run(local("2026-10-05 22:00")) == []
    assert ev.run(local("2026-10-06 06:59")) == []
    assert queued(db) == []
    assert ev.run(local("2026-10-06 07:30")) == [("low-sat", "centre:ubnd-tan-lap", "fire")]


def test_negative_share_over_hours_per_counter(tmp_path, db_url):
    rule = {"name": "negative", "kind": "negative_share", "per": "counter", "threshold": 0.3, "hours": 2,
            "scope": "xa-tan-lap", "min_ratings": 5}
    cfg, db = make(tmp_path, rule, db_url)
    add_ratings(db, "ubnd-tan-lap", "quay-02", local("2026-10-05 08:00"), [1, 2, 1, 5, 5, 4, 3, 1])  # 4 of 8
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 08:00"), [5] * 8)
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-10-05 08:00"), [1] * 8)  # outside the scope
    events = Evaluator(cfg, db).run(local("2026-10-05 09:00"))
    assert events == [("negative", "counter:ubnd-tan-lap/quay-02", "fire")]
    alert = list_alerts(db, cfg.timezone, Evaluator(cfg, db).hierarchy)[0]
    assert alert["value"] == 0.5 and alert["detail"]["window"] == "hours:2"


def test_window_figures_equal_the_report_figures(tmp_path):
    from collector.alerting.evaluate import rule_scope
    from collector.reports.report import Period
    from collector.reports.report_queries import ReportSpec, run_report

    rule = {"name": "w", "kind": "satisfaction_below", "per": "counter", "threshold": 0.7, "hours": 3}
    cfg, db = make(tmp_path, rule)
    t = local("2026-10-05 08:00")
    add_ratings(db, "ubnd-tan-lap", "quay-01", t, [1, 2, 3, 4, 5, 5, 4])
    add_ratings(db, "ubnd-tan-my", "quay-01", t, [5, 1])  # merged site: the same counter
    add_ratings(db, "ubnd-tan-lap", "quay-02", t, [5, 1, 1], flags=["rapid_repeat"])
    add_ratings(db, "ubnd-hoa-binh", "quay-01", t, [2, 4, 5], scale=5)
    add_ratings(db, "ubnd-hoa-binh", "quay-01", t, [1, 3, 3], scale=3)
    ev = Evaluator(cfg, db)
    now = local("2026-10-05 09:30")
    for per in ("counter", "centre"):
        mine = {k: (n, sat) for k, _, n, sat, _ in ev._window_groups(cfg.alerts.rules[0], per, rule_scope("all", ev.hierarchy), now)}
        start = local("2026-10-05 07:00")
        rows = run_report(db, cfg, ReportSpec(Period("w", start, start + timedelta(hours=3)), (per,)))
        assert mine == {r.group: (r.count, r.satisfied) for r in rows if r.count}, per


def test_kiosk_offline_counts_only_opening_time_and_is_quiet_at_night_and_on_holidays(tmp_path):
    rule = {"name": "offline", "kind": "device_offline", "minutes": 30}
    cfg, db = make(tmp_path, rule)
    ev = Evaluator(cfg, db)
    # last heard Friday 16:50: ten minutes of opening time on Friday, then the weekend
    set_device(db, "ubnd-tan-lap", "quay-01", local("2026-10-09 16:50"), state="offline")
    set_device(db, "ubnd-hoa-binh", "quay-01", local("2026-10-12 07:55"))
    assert ev.run(local("2026-10-09 23:00")) == []  # night: quiet
    assert ev.run(local("2026-10-10 10:00")) == []  # Saturday: closed
    assert ev.run(local("2026-10-12 07:40")) == []  # Monday, 10 + 10 open minutes
    assert ev.run(local("2026-10-12 07:51")) == [("offline", "device:ubnd-tan-lap/quay-01", "fire")]
    assert ev.run(local("2026-10-12 09:00")) == [("offline", "device:ubnd-hoa-binh/quay-01", "fire")]
    set_device(db, "ubnd-tan-lap", "quay-01", local("2026-10-12 09:30"))
    assert ev.run(local("2026-10-12 09:31")) == [("offline", "device:ubnd-tan-lap/quay-01", "clear")]
    # a holiday: silent all day, nothing is announced; the next working morning it fires
    db.execute("DELETE FROM alert_state")
    set_device(db, "ubnd-tan-lap", "quay-02", local("2026-09-01 17:00"))
    assert ev.run(local("2026-09-02 10:00")) == []
    assert ev.run(local("2026-09-03 08:05")) == [("offline", "device:ubnd-tan-lap/quay-02", "fire")]


def test_outbox_backlog_growing_over_successive_statuses(tmp_path, db_url):
    rule = {"name": "backlog", "kind": "outbox_growing", "statuses": 3, "min_depth": 20}
    cfg, db = make(tmp_path, rule, db_url)
    ev = Evaluator(cfg, db)
    t = local("2026-10-05 09:00")
    events = []
    for i, depth in enumerate([5, 15, 30, 45, 45, 60, 10]):
        set_device(db, "ubnd-tan-lap", "quay-01", t + timedelta(minutes=i), depth=depth)
        events.append(ev.run(t + timedelta(minutes=i, seconds=30)))
        ev.run(t + timedelta(minutes=i, seconds=40))  # no new status: nothing changes
    assert events == [[], [], [("backlog", "device:ubnd-tan-lap/quay-01", "fire")], [], [], [],
                      [("backlog", "device:ubnd-tan-lap/quay-01", "clear")]]


def test_receipts_stalled_for_a_whole_centre(tmp_path, db_url):
    """Every live kiosk of a centre waits longer than the limit for the database to confirm: fire for the
    centre; one kiosk whose receipts still come means the collector is storing: no alert."""
    rule = {"name": "receipts", "kind": "receipts_stalled", "minutes": 30}
    cfg, db = make(tmp_path, rule, db_url)
    ev = Evaluator(cfg, db)
    t = local("2026-10-05 09:00")

    def kiosk(device, waiting, since_min, mode="on", site="ubnd-tan-lap"):
        set_device(db, site, device, t)
        since = (t - timedelta(minutes=since_min)).strftime("%Y-%m-%dT%H:%M:%S.000Z") if waiting else None
        db.execute("UPDATE devices SET unreceipted = ?, unreceipted_since = ?, receipts = ? WHERE site = ? "
                   "AND device = ?", (waiting, since, mode, site, device))

    kiosk("quay-01", 40, 45)
    kiosk("quay-02", 0, 0)  # its receipts come: the collector stores
    kiosk("quay-01", 3, 50, site="ubnd-hoa-binh")
    assert ev.run(t) == [("receipts", "centre:ubnd-hoa-binh", "fire")]
    kiosk("quay-02", 12, 40, mode="fallback")  # gave up waiting: counts as stalled too
    assert ev.run(t + timedelta(seconds=30)) == [("receipts", "centre:ubnd-tan-lap", "fire")]
    kiosk("quay-01", 0, 0, site="ubnd-hoa-binh")  # receipts again
    assert ev.run(t + timedelta(minutes=1)) == [("receipts", "centre:ubnd-hoa-binh", "clear")]
    alert = [a for a in list_alerts(db, cfg.timezone, ev.hierarchy) if a["subject"] == "centre:ubnd-tan-lap"][0]
    from collector.alerting.messages import describe
    assert describe(alert, "vi").startswith("các thiết bị của trung tâm chờ xác nhận lưu từ CSDL đã 45.5 phút (ngưỡng 30 phút)")


def test_two_kiosks_on_one_device_id_raise_an_alert_until_an_hour_of_quiet(tmp_path, db_url):
    rule = {"name": "shared", "kind": "device_shared"}
    cfg, db = make(tmp_path, rule, db_url)
    ev = Evaluator(cfg, db)
    t = local("2026-10-05 22:00")  # day and night
    set_device(db, "ubnd-tan-lap", "quay-01", t)
    set_device(db, "ubnd-tan-lap", "quay-02", t)
    db.execute("UPDATE devices SET shared_since_ms = ?, shared_last_ms = ?, shared_flips = 7 WHERE device = 'quay-01'",
               (int(t.timestamp() * 1000) - 60_000, int(t.timestamp() * 1000)))
    assert ev.run(t) == [("shared", "device:ubnd-tan-lap/quay-01", "fire")]
    assert ev.run(t + timedelta(minutes=61)) == [("shared", "device:ubnd-tan-lap/quay-01", "clear")]


def test_rejects_spike_and_webhook_queue(tmp_path, db_url):
    rule = {"name": "rejects", "kind": "rejects_spike", "threshold": 5, "minutes": 10, "email": False}
    cfg, db = make(tmp_path, rule, db_url, webhooks=[{"name": "chat", "url": "http://127.0.0.1:9/hook"}])
    now = local("2026-10-05 10:00")
    for i in range(6):
        db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, 't', 'bad json', ?)",
                   ((now - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), b"x"))
    ev = Evaluator(cfg, db)
    assert ev.run(now) == [("rejects", "all", "fire")]
    (key, target, _), = queued(db)
    assert (key, target) == ("alert:1:fire:webhook:chat", "chat")
    body = json.loads(bytes(db.scalar("SELECT payload FROM notifications")))
    assert body["event"] == "fire" and body["alert"]["value"] == 6 and "6" in body["text"]
    assert ev.run(now + timedelta(minutes=30)) == [("rejects", "all", "clear")]


def test_acknowledge_and_comment_are_stored_on_the_alert(tmp_path, db_url):
    rule = {"name": "rejects", "kind": "rejects_spike", "threshold": 1, "minutes": 10}
    cfg, db = make(tmp_path, rule, db_url)
    now = local("2026-10-05 10:00")
    db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, 't', 'x', ?)",
               (now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), b"x"))
    ev = Evaluator(cfg, db)
    ev.run(now)
    assert acknowledge(db, 1, "tinh@example.vn", "đang xử lý", now=now)
    assert add_comment(db, 1, "tanlap@example.vn", "Đã gọi kỹ thuật", now=now)
    assert not acknowledge(db, 99, "x")
    a = list_alerts(db, cfg.timezone, ev.hierarchy, open_only=True)[0]
    assert a["acked_by"] == "tinh@example.vn"
    assert [(n["kind"], n["text"]) for n in a["notes"]] == [("ack", "đang xử lý"), ("comment", "Đã gọi kỹ thuật")]
    # the system-wide alert is not in a commune's list
    assert list_alerts(db, cfg.timezone, ev.hierarchy, scope="xa-tan-lap") == []
