"""The printable report without ?period= opens on the latest period with ratings and says which: it opened
on last month, which is empty on a new installation."""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone

import pytest

from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.reports.report import parse_period
from collector.web.server import Dashboard, start_in_thread
from tests.integration.test_dashboard_officers import request
from tests.scope_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, seed


def login(url: str, username: str, password: str) -> dict:
    from urllib.parse import urlencode

    status, headers, _ = request(url, "/login", method="POST",
                                 body=urlencode({"username": username, "password": password}))
    assert status == 303, (username, status)
    return {"Cookie": "hl_session=" + re.search(r"hl_session=([^;]+)", headers["set-cookie"]).group(1)}


def report_page(db, now: datetime, username: str = "admin", password: str = ADMIN_PASSWORD,
                lang: str = "vi") -> tuple[str, str]:
    """(the period in the form, the sentence saying why) of /report at ``now``."""
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: now)
    server, url = start_in_thread(app)
    try:
        if username != "admin":
            app.store.add(username, password, "viewer", Scope("commune", "xa-an-phu"))
        status, _, body = request(url, f"/report?lang={lang}", login(url, username, password))
        assert status == 200
        page = body.decode()
        period = re.search(r'name="period" value="([^"]*)"', page).group(1)
        said = re.search(r'<p class="note" id="default-period">([^<]*)</p>', page)
        return period, html.unescape(said.group(1)) if said else ""
    finally:
        server.shutdown()
        server.server_close()
        app.close()


@pytest.fixture
def seeded(db_url):
    db = seed(db_url)  # ratings from 2026-09-18 to 2026-10-28, in SQLite and in PostgreSQL
    yield db
    db.close()


def test_last_month_when_it_has_ratings(seeded):
    assert report_page(seeded, NOW) == ("2026-09", "Kỳ mặc định: tháng trước (2026-09), tháng gần nhất đã kết thúc "
                                                   "có dữ liệu. Chọn kỳ khác ở ô Kỳ.")
    period, said = report_page(seeded, NOW, "xa-an-phu-xem", PASSWORD, lang="en")  # a scoped account too
    assert period == "2026-09" and said.startswith("Default period: last month (2026-09)")


def test_this_month_so_far_on_a_new_installation(seeded):
    now = datetime(2026, 9, 25, 4, 0, tzinfo=timezone.utc)  # August is empty, September has ratings
    period, said = report_page(seeded, now)
    assert period == "2026-09" and said.startswith("Kỳ mặc định: tháng này đến nay (2026-09, chưa kết thúc)")


def test_the_latest_month_with_ratings_after_a_quiet_spell(seeded):
    now = datetime(2027, 1, 15, 4, 0, tzinfo=timezone.utc)  # nothing in December or January
    assert report_page(seeded, now) == ("2026-10", "Kỳ mặc định: 2026-10, tháng gần nhất có dữ liệu. Chọn kỳ khác "
                                                   "ở ô Kỳ.")


def test_no_ratings_at_all_shows_this_month_and_says_so(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert report_page(db, NOW) == ("2026-10", "Chưa có đánh giá nào: đang hiện tháng này đến nay (2026-10).")
    finally:
        db.close()


def test_a_period_in_the_url_is_taken_as_it_is(seeded):
    app = Dashboard(CFG, seeded, ADMIN_PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    try:
        status, _, body = request(url, "/report?period=2026-Q4", login(url, "admin", ADMIN_PASSWORD))
        assert status == 200 and 'value="2026-Q4"' in body.decode() and 'id="default-period"' not in body.decode()
    finally:
        server.shutdown()
        server.server_close()
        app.close()


def pdf_text(data: bytes, tmp_path) -> str:
    import subprocess

    f = tmp_path / "x.pdf"
    f.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(f), "-"], capture_output=True, text=True, check=True).stdout


def test_the_pdf_button_downloads_the_e_mailed_report_of_the_scope_and_period(seeded, tmp_path):
    from collector.alerting.report_doc import build
    from collector.reports.hierarchy import Hierarchy
    from tests.scope_data import B_SECRETS

    app = Dashboard(CFG, seeded, ADMIN_PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    try:
        app.store.add("xa-an-phu-xem", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
        viewer = login(url, "xa-an-phu-xem", PASSWORD)
        status, _, page = request(url, "/report?period=2026-10", viewer)
        href = html.unescape(re.search(r'<a class="button" id="pdf-download" href="([^"]+)" download>Tải PDF</a>',
                                       page.decode()).group(1))
        assert href == "/report.pdf?period=2026-10"
        status, headers, body = request(url, href, viewer)
        assert status == 200 and headers["content-type"] == "application/pdf" and body.startswith(b"%PDF")
        assert "hailong-2026-10-xa-an-phu-vi.pdf" in headers["content-disposition"]
        text = pdf_text(body, tmp_path)
        assert "Báo cáo mức độ hài lòng – Tháng 10/2026" in text and "Phạm vi: Xã An Phú" in text
        assert not [s for s in B_SECRETS if s in text]  # nothing of the other commune
        mailed = build(seeded, CFG, Hierarchy.from_config(CFG.sites, CFG.labels), "month",
                       parse_period("2026-10", CFG.timezone), "xa-an-phu", "vi", NOW)
        assert f"{mailed.total.count}" in text and mailed.total.count > 0

        admin = login(url, "admin", ADMIN_PASSWORD)  # narrowed to a centre; the default period without ?period=
        status, headers, body = request(url, "/report.pdf?centre=ubnd-zebra-b&lang=en", admin)
        assert status == 200 and "hailong-2026-09-ubnd-zebra-b-en.pdf" in headers["content-disposition"]
        assert "Scope: Một cửa Zebra Bắc" in pdf_text(body, tmp_path)
        assert request(url, "/report.pdf?centre=ubnd-zebra-b", viewer)[0] == 403  # outside the viewer's scope
        assert request(url, "/report.pdf?period=2026-13", viewer)[0] == 400
        assert request(url, "/report.pdf")[0] == 303  # signed out: to the login page
        log = app.store.audit_log(Scope("all"))
        assert ("export", "hailong-2026-10-xa-an-phu-vi.pdf") in [(a["action"], a["target"]) for a in log]
    finally:
        server.shutdown()
        server.server_close()
        app.close()
