"""What a Vietnamese manager reads is Vietnamese first: error pages and scope refusals (English under it),
XLSX sheets with short Vietnamese names of their own (they were titles cut at 31 characters), "Điểm phục
vụ" for a site (it read "Điểm (site)", a score), and "outbox replaced" in the audit."""
from __future__ import annotations

import io
import re
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook

from collector.accounts.accounts import Scope
from collector.reports.export import Table, report_table, to_xlsx
from collector.web.server import Dashboard, start_in_thread
from tests.integration.test_dashboard_officers import request
from tests.scope_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, seed


def login(url: str, username: str, password: str) -> dict:
    status, headers, _ = request(url, "/login", method="POST",
                                 body=urlencode({"username": username, "password": password}))
    assert status == 303, (username, status)
    return {"Cookie": "hl_session=" + re.search(r"hl_session=([^;]+)", headers["set-cookie"]).group(1)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = seed(f"sqlite:///{tmp_path_factory.mktemp('vi') / 'r.db'}")
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    app.store.add("xa-an-phu-xem", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
    server, url = start_in_thread(app)
    yield url, login(url, "admin", ADMIN_PASSWORD), login(url, "xa-an-phu-xem", PASSWORD)
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def error_page(body: bytes) -> tuple[str, str]:
    from html import unescape

    page = body.decode()
    return (unescape(re.search(r"<h1>([^<]*)</h1>", page).group(1)),
            unescape(re.search(r'<p lang="en">([^<]*)</p>', page).group(1)))


@pytest.mark.parametrize("who, method, path, status, vi, en", [
    ("viewer", "GET", "/khong-co-trang-nay", 404, "Không tìm thấy trang này.", "Not found."),
    ("viewer", "GET", "/admin", 403, "Trang Quản trị chỉ dành cho tài khoản quản trị.",
     "The admin page is for admin accounts."),
    ("viewer", "GET", "/ranking?commune=xa-zebra-b", 403, "Nơi đã chọn (xã/phường) nằm ngoài phạm vi tài khoản của bạn.",
     "the commune filter is not within this token's or account's scope"),
    ("viewer", "GET", "/officers/print?centre=ubnd-zebra-b", 403,
     "Nơi đã chọn (bộ phận một cửa) nằm ngoài phạm vi tài khoản của bạn.",
     "the centre filter is not within this token's or account's scope"),
    ("viewer", "GET", "/report.pdf?period=2026-13", 400,
     "Kỳ '2026-13' không hợp lệ: nhập một tháng (2026-10), một quý (2026-Q4) hoặc một năm (2026).",
     "period '2026-13' is not a month (2026-10), a quarter (2026-Q4) or a year (2026) from 2000 to 2199"),
    ("admin", "POST", "/ranking", 405, "Các trang chỉ được đọc (GET), không nhận biểu mẫu.", "Pages are read with GET."),
    ("admin", "POST", "/admin/add-account", 403, "Từ chối: hãy gửi biểu mẫu từ trang Quản trị của bảng điều khiển.",
     "Refused: send the form from the dashboard's admin page."),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_error_pages_say_it_in_vietnamese_first_with_english_under_it(served, who, method, path, status, vi, en):
    url, admin, viewer = served
    got, headers, body = request(url, path, admin if who == "admin" else viewer, method=method,
                                 body="x=1" if method == "POST" else None)
    assert got == status and headers["content-type"].startswith("text/html")
    assert error_page(body) == (vi, en)
    assert 'href="/">Về trang Tổng quan / Back to the Overview</a>' in body.decode()


def test_a_wrong_period_on_a_page_is_told_in_vietnamese_first(served):
    url, _, viewer = served
    status, _, body = request(url, "/ranking?period=2026-13", viewer)
    text = body.decode()
    assert status == 200 and "Kỳ &#39;2026-13&#39; không hợp lệ" in text
    assert text.index("không hợp lệ") < text.index("is not a month")


EXPECTED_SHEETS = {
    "/overview.xlsx": ["Tổng hợp", "Hài lòng theo ngày", "Theo bộ phận một cửa"],
    "/ranking.xlsx?dim=counter&period=2026-10": ["Xếp hạng Quầy"],
    "/patterns.xlsx?period=2026-10": ["Theo giờ và thứ", "Lý do chưa hài lòng"],
    "/alerts.xlsx": ["Cảnh báo đã gửi", "Hài lòng thấp", "Thiết bị im lặng", "Bản tin thiếu"],
    "/report.xlsx?period=2026-10": ["Tổng hợp", "Xã-Phường", "Bộ phận một cửa", "Quầy", "Thủ tục", "Cán bộ", "Thứ",
                                    "Độ đầy đủ"],
    "/devices.xlsx": ["Thiết bị", "Cấu hình bị từ chối gần đây"],
    "/ranking.xlsx?dim=service&period=2026-10&lang=en": ["Ranking by service"],
}


@pytest.mark.parametrize("path", EXPECTED_SHEETS)
def test_every_download_has_short_meaningful_unique_sheet_names(served, path):
    url, admin, _ = served
    status, _, body = request(url, path, admin)
    assert status == 200
    names = load_workbook(io.BytesIO(body)).sheetnames
    assert names == EXPECTED_SHEETS[path]


def test_a_title_too_long_for_a_sheet_keeps_its_head_and_stays_unique():
    long = "Tỷ lệ hài lòng theo ngày (30 ngày qua)"
    book = to_xlsx([Table(long, ["a"]), Table(long, ["a"]), Table("Độ đầy đủ: đã nhận 125/125 bản tin (100.00 %)", ["a"]),
                    Table("x" * 40, ["a"]), Table("Tổng hợp", ["a"]), Table("TỔNG HỢP", ["a"])])
    names = load_workbook(io.BytesIO(book)).sheetnames
    assert names == ["Tỷ lệ hài lòng theo ngày", "Tỷ lệ hài lòng theo ngày (2)", "Độ đầy đủ", "x" * 31, "Tổng hợp",
                     "TỔNG HỢP (2)"]
    assert all(len(n) <= 31 for n in names)


def test_a_site_is_a_service_point_not_a_score(served):
    url, admin, _ = served
    assert report_table([], "site", "vi").headers[0] == "Điểm phục vụ"
    status, _, body = request(url, "/devices", admin)
    head = re.search(r"<thead>(.*?)</thead>", body.decode(), re.S).group(1)
    assert ">Điểm phục vụ<" in head and "Điểm (site)" not in body.decode()
