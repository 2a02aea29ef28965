"""Alerts reach people: a real SMTP server (STARTTLS + AUTH LOGIN) and a local webhook receiver get each
alert once when it fires and once when it clears; a mail server that is down only delays delivery."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from collector.alerting.evaluate import Evaluator
from collector.alerting.outbox import deliver_due
from collector.storage.db import connect
from tests.alert_data import add_ratings, config, local
from tests.smtp_server import PASSWORD, SmtpServer

RULE = {"name": "low-sat", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7, "last_ratings": 20,
        "min_ratings": 10}
RECIPIENTS = [{"name": "Sở Nội vụ", "email": "so@example.vn", "scope": "lang-son"},
              {"name": "Tân Lập", "email": "tanlap@example.vn", "scope": "xa-tan-lap", "lang": "en"},
              {"name": "Hòa Bình", "email": "hoabinh@example.vn", "scope": "xa-hoa-binh"}]


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    monkeypatch.setenv("HAILONG_TEST_SMTP_PASSWORD", PASSWORD)
    server = SmtpServer(tmp_path)
    yield server
    server.stop()


class Receiver:
    """http.server on 127.0.0.1 recording POSTs; answers with the next code of ``codes`` (then 200)."""

    def __init__(self, codes=()):
        self.bodies, self.codes, self.auth = [], list(codes), []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.codes.pop(0) if outer.codes else 200
                if code == 200:
                    outer.bodies.append(json.loads(body))
                    outer.auth.append(self.headers.get("Authorization"))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def setup(tmp_path, smtp, webhooks=(), url=None):
    cfg = config(alerts={"rules": [RULE]},
                 notify={"smtp": smtp.smtp_config(), "recipients": RECIPIENTS, "webhooks": list(webhooks)})
    db = connect(url or f"sqlite:///{tmp_path / 'n.db'}")
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 08:00"), [1] * 12 + [5] * 8)
    return cfg, db


def test_alert_mail_and_webhook_once_on_fire_and_once_on_clear(tmp_path, smtp, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    hook = Receiver()
    try:
        cfg, db = setup(tmp_path, smtp, [{"name": "chat", "url": hook.url, "token": {"env": "HOOK_TOKEN"}}])
        smtp.start()
        ev = Evaluator(cfg, db)
        now = local("2026-10-05 09:00")
        assert ev.run(now) == [("low-sat", "centre:ubnd-tan-lap", "fire")]
        assert deliver_due(db, cfg, now).sent == 3
        ev.run(now + timedelta(minutes=1))
        assert deliver_due(db, cfg, now + timedelta(minutes=1)).sent == 0  # nothing twice
        add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 09:10"), [5] * 20)
        later = local("2026-10-05 09:40")
        assert ev.run(later) == [("low-sat", "centre:ubnd-tan-lap", "clear")]
        assert deliver_due(db, cfg, later).sent == 3
        assert deliver_due(db, cfg, later + timedelta(hours=2)).sent == 0

        assert all(tls for _, _, tls, _ in smtp.inbox.messages)
        got = [(rcpt, m["Subject"], login) for rcpt, m, _, login in smtp.inbox.messages]
        assert got == [
            (["so@example.vn"], "[Hài lòng] Cảnh báo: Bộ phận một cửa xã Tân Lập", "hailong"),
            (["tanlap@example.vn"], "[Hài lòng] Alert: Bộ phận một cửa xã Tân Lập", "hailong"),
            (["so@example.vn"], "[Hài lòng] Hết cảnh báo: Bộ phận một cửa xã Tân Lập", "hailong"),
            (["tanlap@example.vn"], "[Hài lòng] Cleared: Bộ phận một cửa xã Tân Lập", "hailong")]
        body = smtp.inbox.messages[0][1].get_content()
        assert "tỷ lệ hài lòng 40.0 % dưới ngưỡng 70.0 % (20 đánh giá, 20 đánh giá gần nhất)" in body
        assert [b["event"] for b in hook.bodies] == ["fire", "clear"]
        assert hook.bodies[0]["alert"]["subject"] == "centre:ubnd-tan-lap" and hook.bodies[0]["alert"]["value"] == 0.4
        assert hook.bodies[1]["alert"]["clear_value"] == 1.0 and hook.bodies[0]["text"]
        assert hook.auth == ["Bearer t0ken", "Bearer t0ken"]
    finally:
        hook.close()


def test_smtp_down_delays_delivery_with_backoff_and_loses_nothing(tmp_path, smtp, db_url):
    cfg, db = setup(tmp_path, smtp, url=db_url)
    now = local("2026-10-05 09:00")
    Evaluator(cfg, db).run(now)
    first = deliver_due(db, cfg, now)  # nobody listens on the port yet
    assert first.sent == 0 and first.retry == 1 and first.left == 1  # one tried, the other not even tried
    status = db.query("SELECT status, attempts, next_try, last_error FROM notifications ORDER BY id")
    assert [s[:2] for s in status] == [("pending", 1), ("pending", 0)]
    assert "cannot reach SMTP server 127.0.0.1" in status[0][3]
    smtp.start()
    # the failed one waits for its backoff (30 s); the untried one goes now
    assert deliver_due(db, cfg, now + timedelta(seconds=5)).sent == 1
    assert deliver_due(db, cfg, now + timedelta(seconds=31)).sent == 1
    assert deliver_due(db, cfg, now + timedelta(hours=1)).sent == 0
    assert sorted(r[0][0] for r in smtp.inbox.messages) == ["so@example.vn", "tanlap@example.vn"]
    assert db.query("SELECT status FROM notifications") == [("sent",), ("sent",)]


def test_wrong_smtp_password_is_retried_not_dropped(tmp_path, smtp, monkeypatch):
    cfg, db = setup(tmp_path, smtp)
    smtp.start()
    monkeypatch.setenv("HAILONG_TEST_SMTP_PASSWORD", "wrong")
    now = local("2026-10-05 09:00")
    Evaluator(cfg, db).run(now)
    r = deliver_due(db, cfg, now)
    assert r.sent == 0 and r.retry == 1
    assert "refused the login" in db.scalar("SELECT last_error FROM notifications WHERE attempts = 1")
    monkeypatch.setenv("HAILONG_TEST_SMTP_PASSWORD", PASSWORD)
    assert deliver_due(db, cfg, now + timedelta(minutes=1)).sent == 2


def test_webhook_error_is_retried(tmp_path, smtp):
    hook = Receiver(codes=[503])
    try:
        cfg, db = setup(tmp_path, smtp, [{"name": "chat", "url": hook.url}])
        cfg.notify.recipients.clear()
        now = local("2026-10-05 09:00")
        Evaluator(cfg, db).run(now)
        assert deliver_due(db, cfg, now).retry == 1 and hook.bodies == []
        assert deliver_due(db, cfg, now + timedelta(seconds=31)).sent == 1
        assert len(hook.bodies) == 1
    finally:
        hook.close()


def test_collector_serve_runs_the_schedule_and_mails_an_alert(tmp_path, smtp):
    """The real `python -m collector serve` process evaluates rules in its thread and delivers by SMTP."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    from broker.contract import format_ts
    from collector.alerting.timefmt import utcnow
    from tests.alert_data import SITES, TZ
    from tests.smtp_server import free_port

    smtp.start()
    db_path = tmp_path / "serve.db"
    cfg = {"kind": "collector", "timezone": TZ, "database": {"url": f"sqlite:///{db_path}"}, "sites": SITES,
           "dashboard": {"password": {"env": "DASH_PW"}, "port": free_port()},
           "opening": {"default": {"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "hours": ["00:00-24:00"]}},
           "alerts": {"every_s": 5, "rules": [{"name": "rejects", "kind": "rejects_spike", "threshold": 3, "minutes": 60}]},
           "notify": {"smtp": smtp.smtp_config(), "recipients": [  # rejects concern the whole system: scope all
               {"name": "Kỹ thuật", "email": "it@example.vn", "scope": "all"}]}}
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    db = connect(f"sqlite:///{db_path}")
    for _ in range(3):
        db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, 't', 'not JSON', ?)",
                   (format_ts(utcnow()), b"{"))
    env = {**os.environ, "DASH_PW": "pw", "HAILONG_TEST_SMTP_PASSWORD": PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "collector", "serve", "--config", str(path)],
                            cwd=Path(__file__).resolve().parents[2], env=env, stderr=open(tmp_path / "serve.log", "w"), text=True)
    try:
        deadline = time.monotonic() + 30
        while not smtp.inbox.messages and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert [m["Subject"] for _, m, _, _ in smtp.inbox.messages] == ["[Hài lòng] Cảnh báo: Bản tin bị từ chối"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert db.query("SELECT status FROM notifications") == [("sent",)]


def test_dashboard_accounts_with_an_address_get_the_alerts_of_their_scope_with_a_name_and_a_link(tmp_path, smtp):
    """Accounts got the scheduled reports but never an alert; alert e-mails named the rule by its slug and
    had no way to the dashboard."""
    from collector.accounts.accounts import Scope, Store
    from collector.alerting.recipients import everyone
    from collector.reports.hierarchy import Hierarchy

    cfg = config(alerts={"rules": [RULE]}, dashboard={"public_url": "https://hailong.langson.gov.vn/"},
                 notify={"smtp": smtp.smtp_config()})
    db = connect(f"sqlite:///{tmp_path / 'n.db'}")
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 08:00"), [1] * 12 + [5] * 8)
    store = Store(db, Hierarchy.from_config(cfg.sites, cfg.labels))
    pw = "mot-mat-khau-dai-1"
    store.add("chu-tich-tan-lap", pw, "viewer", Scope("commune", "xa-tan-lap"), email="chutich@tanlap.vn")
    store.add("so-noi-vu", pw, "admin", Scope("province", "lang-son"), email="snv@langson.vn", lang="en",
              reports="none")  # takes no report, still told of alerts in its scope
    store.add("hoa-binh", pw, "viewer", Scope("commune", "xa-hoa-binh"), email="hb@hoabinh.vn")  # another commune
    store.add("khong-dia-chi", pw, "viewer", Scope("commune", "xa-tan-lap"))  # no address
    store.add("da-khoa", pw, "viewer", Scope("commune", "xa-tan-lap"), email="khoa@tanlap.vn")
    store.set_disabled("da-khoa", True)
    smtp.start()
    ev = Evaluator(cfg, db, everyone(cfg, db))
    now = local("2026-10-05 09:00")
    assert ev.run(now) == [("low-sat", "centre:ubnd-tan-lap", "fire")]
    assert deliver_due(db, cfg, now).sent == 2
    got = {rcpt[0]: m for rcpt, m, _, _ in smtp.inbox.messages}
    assert sorted(got) == ["chutich@tanlap.vn", "snv@langson.vn"]
    vi = got["chutich@tanlap.vn"].get_content()
    assert "Quy tắc: Tỷ lệ hài lòng thấp, theo bộ phận một cửa (low-sat)" in vi
    assert "Xem, xác nhận và ghi chú: https://hailong.langson.gov.vn/alerts" in vi
    en = got["snv@langson.vn"].get_content()
    assert "Rule: Low satisfaction, per centre (low-sat)" in en
    assert "See, acknowledge and comment: https://hailong.langson.gov.vn/alerts" in en
    db.close()


def test_without_public_url_the_alert_mail_says_where_to_acknowledge():
    import email
    from email import policy

    from collector.alerting.messages import alert_email

    alert = {"subject_name": "Bộ phận một cửa xã Tân Lập", "kind": "device_offline", "subject": "device:a/b",
             "rule": "kiosk-silent", "fired_local": "2026-10-05 09:00", "value": 45,
             "detail": {"threshold": 30}}
    text = email.message_from_bytes(alert_email(alert, "fire", "vi", "a@b.vn", "c@d.vn", "k"),
                                    policy=policy.default).get_content()
    assert "Quy tắc: Thiết bị mất liên lạc trong giờ làm việc (kiosk-silent)" in text
    assert "Xác nhận và ghi chú trên trang Cảnh báo của bảng điều khiển." in text and "http" not in text


def test_a_comment_on_the_phone_after_a_low_face_is_mailed_to_the_recipients_of_its_scope(tmp_path, smtp):
    from broker import followup_tokens as tokens
    from collector.followup import answers

    rule = {"name": "gop-y-mat-thap", "kind": "followup_comment", "threshold": 2, "hours": 24}
    cfg = config(alerts={"rules": [rule]}, notify={"smtp": smtp.smtp_config(), "recipients": RECIPIENTS})
    db = connect(f"sqlite:///{tmp_path / 'n.db'}")
    add_ratings(db, "ubnd-tan-lap", "quay-02", local("2026-10-05 08:00"), [1, 4], officer="nguyen-van-an")
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-10-05 08:00"), [2])
    now = local("2026-10-05 09:00")
    now_ms = int(now.timestamp() * 1000)
    comments = iter(["Chờ 2 tiếng <b>không ai</b> hướng dẫn", "Rất tốt", "Hòa Bình chậm"])
    for rid, site, device, at_ms in db.query("SELECT id, site, device, at_ms FROM ratings ORDER BY site DESC, rating"):
        token = tokens.new_token()
        with db.transaction():
            answers.on_ratings(db, [(rid, tokens.token_hash(rid, token), site, device, at_ms)], now_ms)
        assert answers.submit(db, rid, token, answers.Answer({"staff": 1}, next(comments), "0912345678"), now_ms,
                              86_400_000) is answers.Outcome.ACCEPTED
    smtp.start()
    ev = Evaluator(cfg, db)
    fired = ev.run(now)
    assert sorted(e for _, _, e in fired) == ["fire", "fire"]  # the 1 of Tân Lập and the 2 of Hòa Bình, not the 4
    assert ev.run(now + timedelta(minutes=1)) == []
    assert deliver_due(db, cfg, now).sent == 4
    assert sorted(r for rcpt, _, _, _ in smtp.inbox.messages for r in rcpt) == [
        "hoabinh@example.vn", "so@example.vn", "so@example.vn", "tanlap@example.vn"]  # each commune its own
    tan_lap = [m for rcpt, m, _, _ in smtp.inbox.messages if rcpt == ["tanlap@example.vn"]]
    assert len(tan_lap) == 1 and tan_lap[0]["Subject"].startswith("[Hài lòng] Alert: Quầy 2 - Đất đai")
    body = tan_lap[0].get_content()
    assert "a citizen commented on the phone after a 1/5 face: “Chờ 2 tiếng <b>không ai</b> hướng dẫn”" in body
    assert "officer Nguyễn Văn An" in body and "Hòa Bình chậm" not in body and "0912345678" not in body
    province = [m.get_content() for rcpt, m, _, _ in smtp.inbox.messages if rcpt == ["so@example.vn"]]
    assert len(province) == 2 and any("Hòa Bình chậm" in b for b in province)
    assert all("0912345678" not in m.get_content() for _, m, _, _ in smtp.inbox.messages)
    later = now + timedelta(hours=25)  # past the rule's hours: both alerts clear
    assert sorted(e for _, _, e in ev.run(later)) == ["clear", "clear"]
    assert ev.run(later + timedelta(minutes=1)) == [] and db.scalar("SELECT COUNT(*) FROM alert_state") == 0
    assert answers.purge(db, now_ms + 366 * 86_400_000, 365) == 3  # retention: the alerts' copies go too
    assert [d for (d,) in db.query("SELECT detail FROM alerts")] == ["{}", "{}"]
