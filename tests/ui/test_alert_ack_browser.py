"""A manager acknowledges an alert in headless Chromium: the alert fired by the rules is on the alerts page of
the commune's account, it is acknowledged with a comment, and who, when and the comment are stored and shown.
An account of another commune does not see it (it sees its own commune's alert only)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from collector.accounts.accounts import Scope
from collector.alerting.evaluate import Evaluator
from collector.alerting.timefmt import parse
from collector.storage.db import connect
from collector.reports.report import _zone
from collector.web.server import Dashboard, start_in_thread
from tests.alert_data import TZ, add_ratings, config, local
from tests.ui.test_dashboard_accounts_browser import log_in

PASSWORD = "mat-khau-truong-phong-1"
RULE = {"name": "hai-long-thap", "kind": "satisfaction_below", "per": "centre", "threshold": 0.7,
        "last_ratings": 20, "min_ratings": 10}
NOW = local("2026-10-05 09:00")  # Monday, opening hours
COMMENT = "Đã gọi trưởng bộ phận, sẽ bố trí thêm quầy"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    cfg = config(alerts={"rules": [RULE]})
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('ack') / 'r.db'}")
    add_ratings(db, "ubnd-tan-lap", "quay-01", local("2026-10-05 08:00"), [1] * 12 + [5] * 8)
    add_ratings(db, "ubnd-hoa-binh", "quay-01", local("2026-10-05 08:00"), [2] * 11 + [4] * 9)
    fired = Evaluator(cfg, db).run(NOW)
    assert sorted(fired) == [("hai-long-thap", "centre:ubnd-hoa-binh", "fire"),
                             ("hai-long-thap", "centre:ubnd-tan-lap", "fire")]
    app = Dashboard(cfg, db, None, now=lambda: NOW + timedelta(minutes=5))
    app.store.add("truong-phong-tan-lap", PASSWORD, "viewer", Scope("commune", "xa-tan-lap"))
    app.store.add("chu-tich-hoa-binh", PASSWORD, "viewer", Scope("commune", "xa-hoa-binh"))
    server, url = start_in_thread(app)
    yield app, url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def test_a_manager_acknowledges_an_alert_with_a_comment_and_another_commune_never_sees_it(
        browser, served, artifacts):  # noqa: F811
    app, url = served
    tan_lap = int(app.db.scalar("SELECT id FROM alerts WHERE place = 'ubnd-tan-lap'"))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, url, "truong-phong-tan-lap", PASSWORD, "/alerts")
    row = page.locator(f"#pushed tr[data-alert='{tan_lap}']")
    assert row.count() == 1
    assert "Bộ phận một cửa xã Tân Lập" in row.inner_text() and "hai-long-thap" in row.inner_text()
    assert "Tỷ lệ hài lòng thấp, theo bộ phận một cửa (hai-long-thap)" in row.inner_text()  # a name, not a slug
    assert page.locator("#pushed tr[data-alert]").count() == 1  # Hòa Bình's alert is not this account's
    row.locator("form[action='/alerts/ack'] input[name=comment]").fill(COMMENT)
    row.locator("form[action='/alerts/ack'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/alerts")

    # stored: who, when, the comment
    acked_at, acked_by = app.db.query("SELECT acked_at, acked_by FROM alerts WHERE id = ?", (tan_lap,))[0]
    assert acked_by == "truong-phong-tan-lap" and acked_at
    notes = app.db.query("SELECT author, kind, text FROM alert_notes WHERE alert_id = ?", (tan_lap,))
    assert notes == [("truong-phong-tan-lap", "ack", COMMENT)]
    # shown: who, when (local time), the comment; the acknowledge form is gone
    row = page.locator(f"#pushed tr[data-alert='{tan_lap}']")
    shown = row.inner_text()
    when = parse(acked_at).astimezone(_zone(TZ)).strftime("%Y-%m-%d %H:%M")
    assert f"truong-phong-tan-lap · {when}" in shown, shown
    assert f"truong-phong-tan-lap: {COMMENT}" in shown
    assert row.locator("form[action='/alerts/ack']").count() == 0
    page.screenshot(path=str(artifacts / "alert-acknowledged.png"), full_page=True)
    audit = app.store.audit_log(Scope("all"))
    assert [(a["actor"], a["action"], a["target"]) for a in audit if a["action"] == "alert-ack"] == [
        ("truong-phong-tan-lap", "alert-ack", str(tan_lap))]
    context.close()

    # another commune's account: its own alert only, nothing of Tân Lập's alert or its acknowledgement
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, url, "chu-tich-hoa-binh", PASSWORD, "/alerts")
    pushed = page.inner_text("#pushed")
    assert "Bộ phận một cửa xã Hòa Bình" in pushed
    assert page.locator(f"#pushed tr[data-alert='{tan_lap}']").count() == 0
    body = page.inner_text("body")
    assert "Tân Lập" not in body and COMMENT not in body and "truong-phong-tan-lap" not in body
    page.screenshot(path=str(artifacts / "alert-other-commune.png"), full_page=True)
    context.close()
