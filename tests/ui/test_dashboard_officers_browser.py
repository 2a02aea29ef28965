"""The officers page in real Chromium, on a desktop and on a 390 px phone: the figures of
tests/officer_data.py, the data-quality figure, hidden officers, the printable sheet and the XLSX
download, no sideways scroll and no text under 11 px; screenshots under tests/artifacts/."""
from __future__ import annotations


import pytest
from openpyxl import load_workbook

from collector.accounts.accounts import Scope
from collector.web.server import Dashboard, start_in_thread
from tests.officer_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, ZEBRA, seed

pytestmark = pytest.mark.ui
PHONE = {"width": 390, "height": 844}
# the page's widest point, the smallest text on it and where, and the navigation's right edge
MEASURE = """() => {
  const out = {scroll: document.documentElement.scrollWidth, smallest: 99, where: ''};
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || getComputedStyle(el).display === 'none') continue;
    const px = parseFloat(getComputedStyle(el).fontSize);
    if (px < out.smallest) { out.smallest = px; out.where = el.tagName + ': ' + el.textContent.trim().slice(0, 40); }
  }
  out.nav_right = Math.max(...[...document.querySelectorAll('header nav a')].map(a => a.getBoundingClientRect().right));
  return out;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = seed(f"sqlite:///{tmp_path_factory.mktemp('officers') / 'ratings.db'}")
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    app.store.add("tan-lap", PASSWORD, "viewer", Scope("commune", "xa-tan-lap"))
    server, url = start_in_thread(app)
    yield url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def log_in(page, url: str, username: str, password: str, path: str):
    page.goto(url + "/login?next=" + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path.split("?")[0] + "*")


def cell(page, officer: str, key: str) -> str:
    return page.inner_text(f'tr[data-officer="{officer}"] td[data-k="{key}"]').strip()


def test_desktop_page_figures_links_and_downloads(browser, served, artifacts, doc_image, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    log_in(page, served, "tan-lap", PASSWORD, "/")
    page.click("header nav >> text=Cán bộ")  # the page is in the navigation
    page.fill("input[name=period]", "2026-10")
    page.click("form.period button")
    assert page.url.endswith("/officers?period=2026-10")
    assert page.is_visible("h1:has-text('Đánh giá cán bộ 2026-10')")
    assert [cell(page, "an", k) for k in ("rank", "ratings", "rate", "grade", "hours", "per_hour", "answered", "expired")] \
        == ["1", "10", "90.0 %", "Tốt", "4.00", "2.50", "2", "0"]
    assert cell(page, "an", "reasons") == "Chờ đợi lâu (1)"
    assert [cell(page, "binh", k) for k in ("rank", "rate", "grade", "expired")] == ["2", "66.7 %", "chưa đủ", "1"]
    assert {cell(page, "cuong", k) for k in ("rank", "rate", "grade", "reasons")} == {"ẩn"}
    quality = page.inner_text('[data-quality="ubnd-tan-lap"]')
    assert "Đánh giá không rõ cán bộ: 13.6 %" in quality and "3 / 22" in quality
    text = page.inner_text("body")
    assert not [z for z in ZEBRA if z in text]
    page.screenshot(path=str(artifacts / "dashboard-officers.png"), full_page=True)
    with page.expect_download() as d:
        page.click("p.officer-links >> text=Tải XLSX")
    xlsx = tmp_path / d.value.suggested_filename
    d.value.save_as(xlsx)
    assert xlsx.name == "officers-2026-10.xlsx"
    sheet = load_workbook(xlsx).worksheets[0]
    assert sheet.cell(1, 2).value == "Mã cán bộ" and sheet.max_row == 4  # header + an, binh, cuong
    with context.expect_page() as opened:
        page.click("p.officer-links >> text=Bản in phiếu đánh giá")
    sheet_page = opened.value
    sheet_page.wait_for_load_state()
    assert "Đánh giá cán bộ 2026-10" in sheet_page.inner_text("h2")
    # the inline style of the sheet applies (its own CSP allows it): cells have borders
    assert sheet_page.evaluate("getComputedStyle(document.querySelector('td')).borderTopStyle") == "solid"
    sheet_page.screenshot(path=str(artifacts / "dashboard-officers-print.png"), full_page=True)
    page.goto(served + "/officers?period=2026-10&lang=en")
    assert page.is_visible("header nav >> text=Officers")
    assert cell(page, "an", "reasons") == "Long waiting time (1)" and cell(page, "cuong", "rate") == "hidden"
    page.screenshot(path=str(artifacts / "dashboard-officers-en.png"), full_page=True)
    context.close()
    doc_image(artifacts / "dashboard-officers.png", "dashboard-officers.png")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_phone_no_sideways_scroll_and_legible_text(browser, served, artifacts, doc_image, lang):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, served, "admin", ADMIN_PASSWORD, f"/officers?period=2026-10&lang={lang}")
    m = page.evaluate(MEASURE)
    assert m["scroll"] <= PHONE["width"], m
    assert m["smallest"] >= 11, m
    assert m["nav_right"] <= PHONE["width"], m
    # every figure of an officer is on screen on a phone (one card per officer, nothing left out)
    for k in ("rank", "ratings", "rate", "grade", "hours", "per_hour", "answered", "expired", "reasons"):
        box = page.locator(f'tr[data-officer="an"] td[data-k="{k}"]').bounding_box()
        assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (k, box)
    page.screenshot(path=str(artifacts / f"phone-officers-{lang}.png"), full_page=True)
    page.locator('tr[data-officer="an"]').scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"phone-officers-{lang}-cards.png"), full_page=False)
    context.close()
    if lang == "vi":
        doc_image(artifacts / "phone-officers-vi-cards.png", "dashboard-phone-officers.png")
