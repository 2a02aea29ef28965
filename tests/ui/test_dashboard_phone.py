"""Every page on a 390 px phone in Chromium, as an admin and as a commune's manager: nothing wider than the
screen, every visible link, button and field a touch target of at least 44 x 44 px, chart text inside its
drawing, the trend chart and the heatmap open on today, the admin page navigable. Screenshots land in
tests/artifacts/phone-*.png."""
from __future__ import annotations

import json

import pytest

from collector.accounts.accounts import Scope
from tests.scope_data import ADMIN_PASSWORD, PASSWORD, seed
from tests.ui.test_dashboard_accounts_browser import Served, log_in

PHONE = {"width": 390, "height": 844}
TARGET = 44  # px, both ways (WCAG 2.5.5; Apple and Google ask for 44-48)
PAGES = ["/", "/ranking", "/ranking?dim=officer&period=2026-10", "/patterns?period=2026-10", "/devices", "/alerts",
         "/report?period=2026-10", "/officers?period=2026-10", "/officers/print?period=2026-10"]

# What the page looks like to a thumb: the page's width, every visible control smaller than a fingertip (a
# control inside a <label> is the label's size: tapping the label works it), chart text drawn outside its
# drawing (cut), and where today is in the trend chart and the heatmap.
MEASURE = """() => {
  const out = {scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
               height: document.documentElement.scrollHeight, small: [], cut: [], today: {}};
  const visible = el => el.checkVisibility ? el.checkVisibility({checkVisibilityCSS: true}) : el.offsetParent !== null;
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    if (!visible(el)) continue;
    const box = (el.closest('label') || el).getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.width < %(t)s - 0.5 || box.height < %(t)s - 0.5)
      out.small.push(`${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} "${(el.innerText || el.value || el.name || '').trim().slice(0, 30)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  for (const svg of document.querySelectorAll('svg.chart')) {
    const w = svg.viewBox.baseVal.width, h = svg.viewBox.baseVal.height;
    for (const el of svg.querySelectorAll('text')) {
      const b = el.getBBox();
      if (b.x < -0.5 || b.x + b.width > w + 0.5 || b.y < -0.5 || b.y + b.height > h + 0.5)
        out.cut.push(`${el.textContent} x=${b.x.toFixed(1)} w=${b.width.toFixed(1)} of ${w}`);
    }
  }
  for (const [name, sel] of [['trend', 'svg.chart.trend [data-today]'], ['heatmap', 'svg.chart.heatmap [data-today]']]) {
    const el = document.querySelector(sel);
    if (!el) continue;
    const box = el.getBoundingClientRect(), frame = el.closest('.chart-scroll').getBoundingClientRect();
    out.today[name] = {inside: box.left >= frame.left - 1 && box.right <= frame.right + 1, left: box.left,
                       right: box.right, frame_left: frame.left, frame_right: frame.right};
  }
  return out;
}""" % {"t": TARGET}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("phone") / "ratings.db"
    seed(f"sqlite:///{path}").close()
    s = Served(path)
    s.app.store.add("xa-an-phu-xem", PASSWORD, "viewer", Scope("commune", "xa-an-phu"), email="xem@anphu.gov.vn")
    for i in range(12):  # an admin page with accounts, sessions and audit entries to go through
        s.app.store.add(f"can-bo-{i:02d}", PASSWORD, "viewer", Scope("centre", "ubnd-an-phu"), email=f"cb{i}@anphu.vn")
        s.app.store.audit("admin", "account-added", f"can-bo-{i:02d}", "viewer centre:ubnd-an-phu")
    yield s
    s.stop()


def phone(browser):
    return browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)


@pytest.mark.parametrize("who, lang", [("admin", "vi"), ("xa-an-phu-xem", "vi"), ("xa-an-phu-xem", "en")])
def test_every_page_fits_a_phone_and_every_control_takes_a_thumb(browser, served, artifacts, who, lang):
    context = phone(browser)
    page = context.new_page()
    log_in(page, served.url, who, ADMIN_PASSWORD if who == "admin" else PASSWORD)
    page.goto(served.url + f"/?lang={lang}")  # remembered in a cookie for the pages below
    problems = {}
    for path in PAGES + (["/admin"] if who == "admin" else []):
        page.goto(served.url + path)
        m = page.evaluate(MEASURE)
        name = path.strip("/").replace("/", "-").split("?")[0] or "overview"
        page.screenshot(path=str(artifacts / f"phone-{who}-{lang}-{name}.png"), full_page=False)
        found = {}
        if m["scroll"] > PHONE["width"]:
            found["wider than the screen"] = m["scroll"]
        if m["small"]:
            found["touch targets under 44 px"] = m["small"][:8]
        if m["cut"]:
            found["chart text cut"] = m["cut"][:5]
        for chart, where in m["today"].items():
            if not where["inside"]:
                found[f"today off-screen in the {chart}"] = where
        if found:
            problems[path] = found
    context.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


def test_the_trend_chart_and_the_heatmap_open_on_today(browser, served, artifacts, doc_image):
    context = phone(browser)
    page = context.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD)
    page.locator("svg.chart.trend").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "phone-overview-chart.png"), full_page=False)
    m = page.evaluate(MEASURE)
    assert m["today"]["trend"]["inside"], m["today"]
    bars = page.locator("svg.chart.bars.narrow-only")  # the phone's drawing of the centres, names over bars
    assert bars.is_visible() and not page.locator("svg.chart.bars.wide-only").is_visible()
    bars.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "phone-overview-bars.png"), full_page=False)
    page.goto(served.url + "/patterns")  # this month: today's weekday is marked
    page.locator("svg.chart.heatmap").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "phone-patterns-heatmap.png"), full_page=False)
    m = page.evaluate(MEASURE)
    assert m["today"]["heatmap"]["inside"], m["today"]
    legend = page.inner_text(".heatmap-legend")
    assert "di chuột" not in legend.lower() and "hover" not in legend.lower()
    assert legend.startswith("Mỗi ô")  # Vietnamese, for touch and mouse alike
    doc_image(artifacts / "phone-patterns-heatmap.png", "dashboard-phone-heatmap.png")
    context.close()


def test_the_admin_page_is_navigable_on_a_phone(browser, served, artifacts, doc_image):
    context = phone(browser)
    page = context.new_page()
    log_in(page, served.url, "admin", ADMIN_PASSWORD, "/admin")
    links = page.locator("nav.sections a")
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert targets == ["#accounts-section", "#add-account-section", "#sessions-section", "#tokens-section",
                       "#audit-section"]
    collapsed = page.evaluate("() => document.documentElement.scrollHeight")
    page.screenshot(path=str(artifacts / "phone-admin-top.png"), full_page=False)
    doc_image(artifacts / "phone-admin-top.png", "dashboard-phone-admin.png")
    assert collapsed < 4 * PHONE["height"], collapsed  # sections folded: a few screens, not dozens
    page.locator("nav.sections a[href='#audit-section']").click()
    audit = page.locator("#audit-section")
    assert audit.evaluate("d => d.open") and page.locator("#audit").is_visible()
    assert "account-added" in page.inner_text("#audit")
    box = page.locator("#audit-section > summary").bounding_box()
    assert 0 <= box["y"] < PHONE["height"]  # the section is on screen after the jump
    page.screenshot(path=str(artifacts / "phone-admin-audit.png"), full_page=False)
    context.close()


def test_bar_chart_names_are_never_cut_nor_run_into_the_figures(browser):
    """Centre names were right-aligned into a 230 px margin: a long one ran off the drawing's left edge."""
    from pathlib import Path

    from collector.web.charts import bar_chart

    long = "Bộ phận tiếp nhận và trả kết quả giải quyết thủ tục hành chính xã Đồng Tâm, huyện Mỹ Đức, tỉnh Hà Nội"
    svg = bar_chart([(long, 0.8123, 1357), ("Một cửa xã An Phú", 0.5, 12), ("WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW"
                                                                                "WWWWWWWWWWWWWWWWWWWWWWWWWWWWW", None, 0)],
                    "Hài lòng theo bộ phận một cửa", threshold=0.7)
    css = (Path(__file__).resolve().parents[2] / "collector" / "web" / "static" / "style.css").read_text()
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_content(f"<!doctype html><meta name=viewport content='width=device-width'><style>{css}</style>"
                     f"<main><section><div class='chart-scroll'>{svg}</div></section></main>")
    m = page.evaluate(MEASURE)
    assert m["cut"] == [], m["cut"]
    overlaps = page.evaluate("""() => {
      const texts = [...document.querySelectorAll('svg.chart text')].map(t => t.getBBox());
      const out = [];
      for (let i = 0; i + 1 < texts.length; i += 2)  // each bar: its name, then its rate and count
        if (texts[i].x + texts[i].width > texts[i + 1].x) out.push(i / 2);
      return out;
    }""")
    assert overlaps == []
    names = page.evaluate("() => [...document.querySelectorAll('svg.chart text.label')].map(t => t.firstChild.nodeValue)")
    assert names[0].startswith(long[:60]) and names[0].endswith("…")  # cut with an ellipsis, its start kept
    context.close()
