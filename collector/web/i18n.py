"""Words of the dashboard in Vietnamese (default) and English."""
from __future__ import annotations

TEXT = {
    "vi": {
        "app": "Mức độ hài lòng của người dân", "overview": "Tổng quan", "ranking": "Xếp hạng",
        "patterns": "Giờ & lý do", "devices": "Thiết bị", "alerts": "Cảnh báo", "report": "Báo cáo in",
        "login": "Đăng nhập", "logout": "Đăng xuất", "username": "Tên đăng nhập", "password": "Mật khẩu",
        "wrong_login": "Sai tên đăng nhập hoặc mật khẩu.",
        "too_many": "Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau {s} giây.",
        "today": "Hôm nay", "this_month": "Tháng này", "last_month": "Tháng trước", "ratings": "lượt đánh giá",
        "satisfied": "hài lòng", "trend": "Tỷ lệ hài lòng theo ngày (30 ngày qua)", "by_site": "Hài lòng theo bộ phận một cửa (tháng này)",
        "period": "Kỳ", "show": "Xem", "rank": "Hạng", "few": "ít dữ liệu",
        "few_note": "Nhóm có dưới {n} lượt đánh giá được đánh dấu \"ít dữ liệu\" và không xếp hạng.",
        "heatmap": "Tỷ lệ hài lòng theo giờ và thứ",
        "heatmap_legend": "Màu: tỷ lệ hài lòng (đỏ thấp, xanh cao). Số trong ô: số lượt đánh giá. Di chuột lên ô để xem tỷ lệ.",
        "reasons": "Lý do sau đánh giá chưa hài lòng",
        "no_data": "Chưa có dữ liệu trong kỳ này.", "device": "Thiết bị", "site": "Điểm",
        "state": "Trạng thái", "online": "trực tuyến", "offline": "mất kết nối", "never": "chưa từng kết nối",
        "last_seen": "Lần cuối", "backlog": "Hàng đợi", "skew": "Lệch giờ (giây)", "version": "Phiên bản",
        "silent": "im lặng quá {h} giờ", "low_sat": "Tỷ lệ hài lòng dưới {p} trong {d} ngày qua",
        "silent_devices": "Thiết bị không liên lạc quá {h} giờ", "no_alerts": "Không có cảnh báo.",
        "export": "Tải về", "print": "In / lưu PDF", "report_title": "Báo cáo mức độ hài lòng",
        "generated": "Lập lúc", "summary": "Tổng hợp", "total": "Tổng cộng", "level": "Mức",
        "count": "Số đánh giá", "rate": "Tỷ lệ hài lòng", "score": "Điểm TB", "flagged": "Bấm lặp",
        "weekday_hour": "Thứ / giờ", "share": "Tỷ lệ", "counter": "Quầy", "centre": "Bộ phận một cửa",
        "officer": "Cán bộ", "service": "Thủ tục", "reason": "Lý do", "hour": "Giờ", "weekday": "Thứ",
        "day": "Ngày", "vs": "so với", "kind": "Loại", "name": "Tên", "detail": "Chi tiết",
        "period_help": "Tháng (2026-10) hoặc quý (2026-Q4)",
    },
    "en": {
        "app": "Citizen satisfaction", "overview": "Overview", "ranking": "Ranking", "patterns": "Hours & reasons",
        "devices": "Devices", "alerts": "Alerts", "report": "Printable report", "login": "Log in",
        "logout": "Log out", "username": "User name", "password": "Password",
        "wrong_login": "Wrong user name or password.",
        "too_many": "Too many failed logins. Try again in {s} seconds.",
        "today": "Today", "this_month": "This month", "last_month": "Last month", "ratings": "ratings",
        "satisfied": "satisfied", "trend": "Daily satisfaction (last 30 days)", "by_site": "Satisfaction by centre (this month)",
        "period": "Period", "show": "Show", "rank": "Rank", "few": "few ratings",
        "few_note": "Groups with fewer than {n} ratings are marked \"few ratings\" and not ranked.",
        "heatmap": "Satisfaction by hour and weekday",
        "heatmap_legend": "Colour: satisfaction rate (red low, green high). Number in a cell: ratings. Hover a cell for its rate.",
        "reasons": "Reasons given after unsatisfied ratings",
        "no_data": "No ratings in this period yet.", "device": "Device", "site": "Site", "state": "State",
        "online": "online", "offline": "offline", "never": "never connected", "last_seen": "Last seen",
        "backlog": "Outbox backlog", "skew": "Clock skew (s)", "version": "Version",
        "silent": "silent for more than {h} h", "low_sat": "Satisfaction below {p} over the last {d} days",
        "silent_devices": "Devices silent for more than {h} hours", "no_alerts": "No alerts.",
        "export": "Download", "print": "Print / save as PDF", "report_title": "Satisfaction report",
        "generated": "Generated", "summary": "Summary", "total": "Total", "level": "Level", "count": "Ratings",
        "rate": "Satisfied", "score": "Mean score", "flagged": "Repeat presses", "weekday_hour": "Weekday / hour",
        "share": "Share", "counter": "Counter", "centre": "Centre", "officer": "Officer", "service": "Service",
        "reason": "Reason", "hour": "Hour", "weekday": "Weekday", "day": "Day", "vs": "vs", "kind": "Kind",
        "name": "Name", "detail": "Detail", "period_help": "A month (2026-10) or a quarter (2026-Q4)",
    },
}


def t(lang: str, key: str, **kw) -> str:
    text = TEXT.get(lang, TEXT["vi"]).get(key) or TEXT["vi"][key]
    return text.format(**kw) if kw else text
