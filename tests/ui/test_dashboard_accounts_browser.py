"""Accounts in headless Chromium: scoped log-in, the admin page, CSRF, session revocation, restarts, phones."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.web.server import Dashboard, start_in_thread
from tests.scope_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, seed

PHONE = {"width": 390, "height": 844}


class Served:
    def __init__(self, path: Path):
        self.path = path
        self.db = connect(f"sqlite:///{path}")
        self.app = Dashboard(CFG, self.db, ADMIN_PASSWORD, now=lambda: NOW)
        self.server, self.url = start_in_thread(self.app)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.app.close()
        self.db.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("accounts") / "ratings.db"
    seed(f"sqlite:///{path}").close()
    s = Served(path)
    s.app.store.add("vien-chuc-an-phu", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
    yield s
    s.stop()


def log_in(page, url: str, username: str, password: str, path: str = "/"):
    page.goto(url + "/login?next=" + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_a_commune_viewer_sees_only_its_commune_and_has_no_admin_page(browser, served):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "vien-chuc-an-phu", PASSWORD)
    text = page.inner_text("body")
    assert "Một cửa xã An Phú" in text and "Xã An Phú" in text and "Zebra" not in text
    assert page.locator("header nav a[href='/admin']").count() == 0
    page.goto(served.url + "/ranking?dim=officer&period=2026-10")
    assert "Zebra" not in page.inner_text("body")
    page.goto(served.url + "/report?period=2026-10")
    assert "Xã An Phú" in page.inner_text(".report-head")  # the printed report says whose it is
    response = page.goto(served.url + "/admin")
    assert response.status == 403
    context.close()


def test_the_admin_creates_a_scoped_account_that_logs_in(browser, served):
    admin = browser.new_context()
    page = admin.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD, "/admin")
    assert page.url.endswith("/admin")
    form = page.locator("#add-account")
    form.locator("input[name=username]").fill("tinh-lam-dong-xem")
    form.locator("input[name=password]").fill("mat-khau-tinh-1")
    form.locator("select[name=role]").select_option("viewer")
    form.locator("select[name=scope]").select_option("centre:ubnd-zebra-b")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/admin\?done=1"))
    row = page.locator("#accounts tr[data-user='tinh-lam-dong-xem']")
    assert "centre:ubnd-zebra-b" in row.inner_text()
    assert "account-added" in page.inner_text("#audit")
    viewer = browser.new_context()
    other = viewer.new_page()
    log_in(other, served.url, "tinh-lam-dong-xem", "mat-khau-tinh-1")
    text = other.inner_text("body")
    assert "Một cửa Zebra Bắc" in text and "An Phú" not in text
    viewer.close()
    admin.close()


def test_a_form_posted_from_another_page_changes_nothing(browser, served):
    """A page on another port of this host is same-site, so the cookie goes along: the form token stops it."""
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD, "/admin")
    port = int(served.url.rsplit(":", 1)[1])
    evil = f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/evil"
    context.route(evil, lambda route: route.fulfill(content_type="text/html", body=(
        f'<form id="f" method="post" action="{served.url}/admin/add-account">'
        '<input name="username" value="ke-gian"><input name="password" value="mot-mat-khau-dai">'
        '<input name="role" value="admin"><input name="scope" value="all"></form>'
        '<script>document.getElementById("f").submit()</script>')))
    with page.expect_response(served.url + "/admin/add-account") as posted:
        page.goto(evil)
    assert posted.value.status == 403
    assert "hl_session=" in posted.value.request.all_headers().get("cookie", "")
    assert served.app.store.get("ke-gian") is None
    context.close()


def test_revoking_a_session_and_disabling_an_account_sign_the_manager_out(browser, served):
    served.app.store.add("bi-thu-hoi", PASSWORD, "viewer", Scope("centre", "ubnd-an-phu"))
    manager = browser.new_context()
    mpage = manager.new_page()
    log_in(mpage, served.url, "bi-thu-hoi", PASSWORD)
    assert mpage.url == served.url + "/"
    admin = browser.new_context()
    apage = admin.new_page()
    log_in(apage, served.url, "admin", ADMIN_PASSWORD, "/admin")
    apage.locator("#sessions tr[data-user='bi-thu-hoi'] button").first.click()
    apage.wait_for_url(re.compile(r".*/admin\?done=1"))
    assert "session-revoked" in apage.inner_text("#audit")
    mpage.goto(served.url + "/ranking")
    assert "/login?next=/ranking" in mpage.url  # the revoked session no longer opens pages
    log_in(mpage, served.url, "bi-thu-hoi", PASSWORD)
    assert mpage.url == served.url + "/"
    apage.goto(served.url + "/admin")
    apage.locator("#accounts tr[data-user='bi-thu-hoi'] form[action='/admin/disable'] button").click()
    apage.wait_for_url(re.compile(r".*/admin\?done=1"))
    mpage.goto(served.url + "/devices")
    assert "/login" in mpage.url
    log_in(mpage, served.url, "bi-thu-hoi", PASSWORD)
    assert "/login" in mpage.url and "Sai tên đăng nhập" in mpage.inner_text("main")
    manager.close()
    admin.close()


def test_a_session_survives_a_restart_of_the_collector(browser, served, tmp_path):
    path = tmp_path / "restart.db"
    seed(f"sqlite:///{path}").close()
    first = Served(path)
    first.app.store.add("vien-chuc-an-phu", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
    context = browser.new_context()
    page = context.new_page()
    try:
        log_in(page, first.url, "vien-chuc-an-phu", PASSWORD)
        assert page.url == first.url + "/"
    finally:
        first.stop()
    second = Served(path)  # a new process would read the same rows; the browser keeps its cookie
    try:
        page.goto(second.url + "/devices")
        assert page.url == second.url + "/devices" and "Quầy 1 - Hộ tịch An Phú" in page.inner_text("main")
    finally:
        second.stop()
        context.close()


def test_an_api_token_is_shown_once_and_reads_its_scope(browser, served):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD, "/admin")
    form = page.locator("#add-token")
    form.locator("input[name=name]").fill("Hệ thống báo cáo tỉnh")
    form.locator("select[name=scope]").select_option("commune:xa-an-phu")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    secret = page.inner_text("#new-token").strip()
    assert secret.startswith("hl_")
    page.goto(served.url + "/admin")
    assert secret not in page.content()  # shown once only
    req = urllib.request.Request(served.url + "/api/v1/summary?by=centre&period=2026-10",
                                 headers={"Authorization": "Bearer " + secret})
    with urllib.request.urlopen(req) as resp:
        data = json.loads(resp.read())
    assert [r["group"] for r in data["rows"]] == ["ubnd-an-phu"] and data["scope"] == "commune:xa-an-phu"
    context.close()


# ---------------------------------------------------------------------------------------- phones
PAGES = ["/", "/ranking", "/ranking?dim=officer&period=2026-10", "/patterns?period=2026-10", "/devices", "/alerts",
         "/report?period=2026-Q4", "/admin"]
MEASURE = """() => {
  const out = {scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, smallest: 99};
  for (const svg of document.querySelectorAll('svg.chart')) {
    if (!svg.getBoundingClientRect().width) continue;  // a drawing for the other kind of screen
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    for (const el of svg.querySelectorAll('text')) {
      const px = parseFloat(getComputedStyle(el).fontSize) * scale;
      if (px < out.smallest) { out.smallest = px; out.where = el.textContent; }
    }
  }
  const nav = document.querySelector('header nav a:last-child').getBoundingClientRect();
  out.nav_right = nav.right;
  return out;
}"""


def test_every_page_reads_well_on_a_phone(browser, served, artifacts, doc_image):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD)
    for path in PAGES:
        page.goto(served.url + path)
        m = page.evaluate(MEASURE)
        if m["scroll"] > PHONE["width"]:
            m["wide"] = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(
                e => e.getBoundingClientRect().right > 391).slice(0, 5).map(e => e.tagName + '.' + e.className)""")
        assert m["scroll"] <= PHONE["width"], (path, str(m))  # no sideways scroll of the whole page
        assert m["smallest"] >= 11 or m["smallest"] == 99, (path, m)  # chart text legible
        assert m["nav_right"] <= PHONE["width"], (path, m)  # every navigation link on screen
        name = path.strip("/").split("?")[0] or "overview"
        page.screenshot(path=str(artifacts / f"phone-{name}.png"), full_page=False)
        if path == "/":  # the trend chart, scrolled into view, as a phone shows it
            page.locator("svg.chart").first.scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "phone-overview-chart.png"), full_page=False)
    for name in ("overview", "overview-chart", "ranking", "devices"):
        doc_image(artifacts / f"phone-{name}.png", f"dashboard-phone-{name}.png")
    context.close()
    desktop = browser.new_context(viewport={"width": 1280, "height": 900})
    page = desktop.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD, "/admin")
    page.screenshot(path=str(artifacts / "dashboard-admin.png"), full_page=False)
    doc_image(artifacts / "dashboard-admin.png", "dashboard-admin.png")
    desktop.close()
