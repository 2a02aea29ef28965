"""What the dashboard answers when it refuses a page, in Vietnamese first with English beside: the words
(pure), and a small HTML page with a way back. The API (for other systems) keeps its JSON errors."""
from __future__ import annotations

MESSAGES = {
    "not_found": ("Không tìm thấy trang này.", "Not found."),
    "method": ("Trang này không nhận yêu cầu kiểu đó.", "Method not allowed."),
    "get_only": ("Các trang chỉ được đọc (GET), không nhận biểu mẫu.", "Pages are read with GET."),
    "internal": ("Lỗi máy chủ; chi tiết đã được ghi vào nhật ký của bảng điều khiển.",
                 "Internal error; the details are in the dashboard's log."),
    "admin_only": ("Trang Quản trị chỉ dành cho tài khoản quản trị.", "The admin page is for admin accounts."),
    "form_admin": ("Từ chối: hãy gửi biểu mẫu từ trang Quản trị của bảng điều khiển.",
                   "Refused: send the form from the dashboard's admin page."),
    "form_alerts": ("Từ chối: hãy gửi biểu mẫu từ trang Cảnh báo của bảng điều khiển.",
                    "Refused: send the form from the dashboard's alerts page."),
    "login_here": ("Hãy đăng nhập từ trang đăng nhập của chính bảng điều khiển.",
                   "Log in from the dashboard's own page."),
    "logout": ("Chưa đăng xuất: hãy dùng nút Đăng xuất của bảng điều khiển.",
               "Logout refused: use the Log out button of the dashboard."),
    "scope": ("Nơi đã chọn ({what}) nằm ngoài phạm vi tài khoản của bạn.",
              "The {what} filter is not within this token's or account's scope."),
    "no_alert": ("Không có cảnh báo này trong phạm vi của bạn.", "No such alert within your scope."),
    "comment": ("Hãy viết nội dung ghi chú.", "Write a comment."),
    "bad_period": ("Kỳ {text} không hợp lệ: nhập một tháng (2026-10), một quý (2026-Q4) hoặc một năm (2026).",
                   "{detail}"),
    "bad_request": ("Yêu cầu không hợp lệ.", "{detail}"),
    "busy": ("Yêu cầu quá lớn hoặc quá chậm.", "{detail}"),
}
HOME = ("Về trang Tổng quan", "Back to the Overview")
LEVEL_WORDS = {"province": "tỉnh", "commune": "xã/phường", "centre": "bộ phận một cửa", "site": "điểm phục vụ",
               "device": "thiết bị"}


def words(key: str, **kw) -> tuple[str, str]:
    vi, en = MESSAGES[key]
    return vi.format(**kw), en.format(**kw)


def plain(key: str, **kw) -> str:
    """'<Vietnamese> / <English>' in one line."""
    return " / ".join(words(key, **kw))


def period_error(text: str, detail: str) -> str:
    """A period the page cannot read, Vietnamese first (the form shows it)."""
    return plain("bad_period", text=repr(text), detail=detail)


def page(status: int, vi: str, en: str) -> str:
    """A small HTML page: the Vietnamese sentence as the heading, the English one under it, a link home."""
    from .layout import ENV

    return ENV.get_template("error.html").render(lang="vi", title=f"{status} · {vi}", page_class="view-error",
                                                 status=status, vi=vi, en=en, home=HOME)
