"""The dashboard in headless Chromium: login, every page with data, English switch, downloads, screenshots."""
import random
import subprocess
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from broker.contract import Rating
from collector.storage import records
from collector.storage.db import connect
from collector.web.auth import RateLimiter
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig

NOW = datetime(2026, 10, 28, 4, 0, tzinfo=timezone.utc)  # 11:00 local on Wednesday 28 Oct 2026
PASSWORD = "đúng-mật-khẩu-1"
CFG = CollectorConfig.model_validate({
    "sites": [{"slug": "lang-son", "name": "Tỉnh Lạng Sơn", "communes": [
        {"slug": "xa-tan-lap", "name": "Xã Tân Lập", "centres": [
            {"site": "ubnd-tan-lap", "name": "Một cửa xã Tân Lập", "merged_from": ["ubnd-tan-my"],
             "counters": [{"device": "quay-01", "name": "Quầy 1 - Hộ tịch"}, {"device": "quay-02", "name": "Quầy 2 - Đất đai"}]}]},
        {"slug": "xa-binh-gia", "name": "Xã Bình Gia", "centres": [
            {"site": "ubnd-binh-gia", "name": "Một cửa xã Bình Gia",
             "counters": [{"device": "quay-01", "name": "Quầy 1 - Tổng hợp"}]}]}]}],
    "dashboard": {"min_ratings": 30},
    "labels": {"reasons": {"cho-lau": {"vi": "Chờ đợi lâu", "en": "Long waiting time"}, "thai-do": "Thái độ chưa tốt"}},
    "alerts": {"satisfaction_below": 0.7, "window_days": 7, "device_silent_hours": 24},
})
# (site, device, chance of a happy face): Bình Gia is doing badly, so it shows up in the alerts
KIOSKS = [("ubnd-tan-lap", "quay-01", 0.9), ("ubnd-tan-lap", "quay-02", 0.75), ("ubnd-tan-my", "quay-01", 0.8),
          ("ubnd-binh-gia", "quay-01", 0.5)]
OFFICERS = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em"]
SERVICES = ["Hộ tịch", "Đất đai", "Chứng thực", "Tư pháp"]
REASONS = ["cho-lau", "thai-do", "huong-dan-kho-hieu", "thieu-giay-to"]


def sample_ratings(n: int = 2500) -> list[records.RatingRow]:
    rnd = random.Random(7)
    rows = []
    for i in range(n):
        site, device, happy = rnd.choice(KIOSKS)
        day = rnd.randrange(0, 60)
        ts = (NOW - timedelta(days=day)).replace(hour=rnd.choice([1, 2, 3, 4, 6, 7, 8, 9]), minute=rnd.randrange(60))
        if ts > NOW:
            ts -= timedelta(days=1)
        rating = rnd.choice([4, 5]) if rnd.random() < happy else rnd.choice([1, 2, 3])
        r = Rating(id=f"00000000-0000-4000-8000-{i:012d}", site=site, device=device, ts=ts, rating=rating, scale=5,
                   lang="vi", officer=rnd.choice(OFFICERS[:3] if site != "ubnd-binh-gia" else OFFICERS[3:]),
                   service=rnd.choice(SERVICES), reason=rnd.choice(REASONS) if rating <= 2 and rnd.random() < 0.8 else None,
                   flags=["rapid_repeat"] if rnd.random() < 0.02 else [])
        rows.append(records.rating_row(r, "2026-10-28T04:00:00.000Z"))
    return rows


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'ratings.db'}")
    rows = sample_ratings()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    for site, device, seen, depth, skew in [("ubnd-tan-lap", "quay-01", NOW - timedelta(minutes=2), 0, 0.4),
                                            ("ubnd-tan-lap", "quay-02", NOW - timedelta(hours=3), 12, -1.5),
                                            ("ubnd-binh-gia", "quay-01", NOW - timedelta(days=3), 240, 95.0)]:
        ts = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        db.execute("INSERT INTO devices (site, device, state, status_ts, last_seen, app_version, outbox_depth, "
                   "last_rating_ts, config_hash, clock_skew_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (site, device, "online" if depth < 100 else "offline", ts, ts, "0.1.0", depth, ts, "abc", skew))
    app = Dashboard(CFG, db, PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    yield url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def login(page, url, password=PASSWORD):
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_pages_need_a_login_and_a_wrong_password_is_refused(browser, dashboard):
    page = browser.new_page()
    page.goto(dashboard + "/ranking?dim=officer")
    assert "/login?next=/ranking" in page.url
    login(page, dashboard, "sai")
    assert "Sai tên đăng nhập hoặc mật khẩu" in page.inner_text("main")
    assert "/login" in page.url
    login(page, dashboard)
    assert page.url.endswith("/ranking?dim=officer")  # back where the manager wanted to go
    cookie = next(c for c in page.context.cookies() if c["name"] == "hl_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.close()


def test_every_page_renders_with_data_and_is_screenshotted(browser, dashboard, artifacts, doc_image):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(dashboard + "/login")
    login(page, dashboard)
    expect = {
        "/": ["Tổng quan", "Hôm nay", "Tháng này", "Một cửa xã Tân Lập", "Một cửa xã Bình Gia"],
        "/ranking": ["Xếp hạng", "Hạng", "Một cửa xã Tân Lập"],
        "/ranking?dim=officer": ["Nguyễn Văn An", "Phạm Thị Dung"],
        "/patterns": ["Tỷ lệ hài lòng theo giờ và thứ", "T2", "CN", "số nhỏ là số lượt đánh giá", "Chờ đợi lâu", "Thái độ chưa tốt",
                      "thieu-giay-to"],  # a reason without a configured name shows its key
        "/devices": ["Quầy 2 - Đất đai", "mất kết nối", "240"],
        "/alerts": ["Một cửa xã Bình Gia", "Thiết bị không liên lạc quá 24"],
        "/report?period=2026-Q4": ["Báo cáo mức độ hài lòng 2026-Q4", "Quầy 1 - Hộ tịch", "Chứng thực", "Thứ Bảy",
                                   "Độ đầy đủ: đã nhận"],
    }
    for path, words in expect.items():
        page.goto(dashboard + path)
        text = page.inner_text("body")
        for word in words:
            assert word in text, (path, word)
        name = path.strip("/").split("?")[0] or "overview"
        if "dim=officer" in path:
            name = "ranking-officer"
        page.screenshot(path=str(artifacts / f"dashboard-{name}.png"), full_page=True)
    page.goto(dashboard + "/")
    assert page.locator("svg.chart polyline").count() >= 1  # the 30-day trend line
    assert page.locator("svg.chart rect").count() >= 4  # bars per centre
    doc_image(artifacts / "dashboard-overview.png", "dashboard-overview.png")
    # a centre below the threshold is listed in the alerts; the few-ratings mark appears in the ranking
    page.goto(dashboard + "/ranking?dim=counter&period=2026-10")
    assert page.locator("tr.few").count() == 0 and page.locator("tbody tr").count() == 3
    # August holds only the last day of data: every officer has fewer than min_ratings (30), none is ranked
    page.goto(dashboard + "/ranking?dim=officer&period=2026-08")
    assert page.locator("tr.few").count() == 5 and "ít dữ liệu" in page.inner_text("tbody")
    page.close()


def test_english_switch_is_remembered(browser, dashboard):
    page = browser.new_page()
    page.goto(dashboard + "/login")
    login(page, dashboard)
    page.click("a.lang")
    assert "Overview" in page.inner_text("nav") and "Today" in page.inner_text("main")
    page.goto(dashboard + "/patterns")
    assert "Satisfaction by hour and weekday" in page.inner_text("main")  # the cookie keeps English
    page.goto(dashboard + "/patterns?lang=vi")
    assert "Giờ & lý do" in page.inner_text("nav")
    page.close()


def test_csv_and_xlsx_downloads_of_a_view(browser, dashboard, tmp_path):
    page = browser.new_page()
    page.goto(dashboard + "/login")
    login(page, dashboard)
    page.goto(dashboard + "/ranking?dim=service&period=2026-10")
    with page.expect_download() as d:
        page.click("text=CSV")
    csv_path = tmp_path / d.value.suggested_filename
    d.value.save_as(csv_path)
    text = csv_path.read_text(encoding="utf-8-sig")
    assert d.value.suggested_filename == "ranking-service-2026-10.csv"
    assert text.splitlines()[0].startswith("Hạng,Thủ tục,Tên,Số đánh giá")
    assert all(s in text for s in SERVICES)
    with page.expect_download() as d:
        page.click("text=XLSX")
    xlsx_path = tmp_path / "r.xlsx"
    d.value.save_as(xlsx_path)
    from openpyxl import load_workbook
    sheet = load_workbook(xlsx_path).active
    assert sheet.cell(1, 2).value == "Thủ tục" and sheet.max_row == 1 + len(SERVICES)
    page.close()


def test_repeated_wrong_passwords_are_rate_limited(browser, tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'empty.db'}")
    app = Dashboard(CFG, db, PASSWORD, limiter=RateLimiter(limit=5, window_s=60))
    server, url = start_in_thread(app)
    try:
        page = browser.new_page()
        statuses = []
        page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
        page.goto(url + "/login")
        for _ in range(5):
            login(page, url, "sai")
        login(page, url)  # even the right password waits once the limit is reached
        assert statuses == [401] * 5 + [429]
        assert "Quá nhiều lần đăng nhập sai" in page.inner_text("main")
        req = urllib.request.Request(url + "/", method="GET")
        with urllib.request.urlopen(req) as resp:  # still not logged in: the login form comes back
            assert resp.url.startswith(url + "/login")
        page.close()
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()


def test_the_printable_quarterly_report_prints_to_pdf(browser, dashboard, artifacts):
    """What a manager does with the report page: the browser's print to PDF, with print styles."""
    page = browser.new_page()
    page.goto(dashboard + "/login")
    login(page, dashboard)
    page.goto(dashboard + "/report?period=2026-Q4")
    page.emulate_media(media="print")
    pdf = artifacts / "report-2026-Q4.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    page.close()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for word in ("Báo cáo mức độ hài lòng 2026-Q4", "Xã Tân Lập", "Quầy 1 - Hộ tịch", "Chứng thực"):
        assert word in text, word
    assert "Đăng xuất" not in text, "the navigation bar must not be printed"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(artifacts / "report-2026-Q4")],
                   check=True)
