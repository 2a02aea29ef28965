"""Screen texts. Vietnamese and English ship here; a technician adds a language in kiosk.yaml."""
from __future__ import annotations

SHIPPED: dict[str, dict] = {
    "vi": {
        "name": "Tiếng Việt",
        "question": "Ông/Bà có hài lòng với việc giải quyết thủ tục hôm nay không?",
        "faces": {
            "very_unhappy": "Rất không hài lòng",
            "unhappy": "Không hài lòng",
            "neutral": "Bình thường",
            "happy": "Hài lòng",
            "very_happy": "Rất hài lòng",
        },
        "followup_question": "Điều gì chưa tốt?",
        "skip": "Bỏ qua",
        "thanks": "Xin cảm ơn!",
        "thanks_detail": "Ý kiến của Ông/Bà đã được ghi nhận.",
        "qr_caption": "Muốn góp ý thêm? Quét mã bằng điện thoại (không bắt buộc).",
        "out_of_order": "Máy tạm ngừng hoạt động",
        "out_of_order_detail": "Xin Ông/Bà vui lòng báo cho cán bộ tại quầy.",
        "speaking_intro": "Chế độ đọc. Có {faces} mặt cười, từ ít hài lòng nhất đến hài lòng nhất. Bấm phím cộng "
                          "hoặc vuốt ngang màn hình để nghe từng mặt. Bấm phím Enter hoặc chạm hai lần để chọn. Sau các mặt cười "
                          "là các ngôn ngữ.",
        "back_in": "Màn hình sẽ trở lại sau {seconds} giây.",
        "speaking_banner": "Chế độ đọc: nghe hướng dẫn qua tai nghe hoặc loa",
    },
    "en": {
        "name": "English",
        "question": "How satisfied are you with our service today?",
        "faces": {
            "very_unhappy": "Very dissatisfied",
            "unhappy": "Dissatisfied",
            "neutral": "Neutral",
            "happy": "Satisfied",
            "very_happy": "Very satisfied",
        },
        "followup_question": "What went wrong?",
        "skip": "Skip",
        "thanks": "Thank you!",
        "thanks_detail": "Your opinion has been recorded.",
        "qr_caption": "More to say? Scan the code with your phone (optional).",
        "out_of_order": "Out of order",
        "out_of_order_detail": "Please tell the staff at the counter.",
        "speaking_intro": "Speaking mode. There are {faces} faces, from the least to the most satisfied. Press "
                          "the plus key or swipe across the screen to hear each face. Press Enter or tap twice "
                          "to choose. After the faces come the languages.",
        "back_in": "The screen goes back in {seconds} seconds.",
        "speaking_banner": "Speaking mode: listen through the headset or speaker",
    },
}


# What the technician view says about each storage fault, and what to do about it.
FAULT_HINTS = {
    "disk full": "thẻ nhớ đầy: xóa bớt (nhật ký cũ) hoặc thay thẻ lớn hơn / the SD card is full: free space "
                 "(old logs, journal) or use a larger card",
    "read-only": "thẻ nhớ chỉ đọc, dấu hiệu thẻ hỏng: thay thẻ / the SD card turned read-only, as a failing card "
                 "does: replace the card",
    "I/O error": "thẻ nhớ báo lỗi đọc/ghi: thay thẻ / the SD card reports read/write errors: replace the card",
    "outbox corrupt": "tệp hộp thư đi hỏng: được chuyển sang bên và cứu ở lần khởi động sau / the outbox file is "
                      "damaged: it is moved aside and salvaged at the next start",
}


class Texts:
    """Every word for one screen in one language: a custom (YAML) text first, then the shipped one,
    then the default language, then English, so a half-translated language still shows something."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.default = cfg.languages.default

    def _lookup(self, lang: str, key: str):
        custom = self.cfg.languages.custom.get(lang)
        value = getattr(custom, key, None) if custom is not None else None
        if value is None:
            value = SHIPPED.get(lang, {}).get(key)
        return value

    def get(self, lang: str, key: str) -> str:
        for code in (lang, self.default, "en"):
            value = self._lookup(code, key)
            if value:
                return value
        return key

    def face(self, lang: str, level: str) -> str:
        for code in (lang, self.default, "en"):
            faces = self._lookup(code, "faces") or {}
            if faces.get(level):
                return faces[level]
        return level

    def name(self, lang: str) -> str:
        return self._lookup(lang, "name") or lang

    def reason(self, lang: str, reason) -> str:
        for code in (lang, self.default, "en"):
            if reason.texts.get(code):
                return reason.texts[code]
        return next(iter(reason.texts.values()))


# The config problem page and notice: for the technician, Vietnamese first. Not translatable in
# kiosk.yaml, since they show when kiosk.yaml cannot be read.
CONFIG_PROBLEM = {
    "title_vi": "Máy chưa hoạt động được: tệp cấu hình có lỗi",
    "title_en": "The kiosk cannot start: its configuration file has a problem",
    "citizen": "Xin vui lòng báo cán bộ tại quầy.  /  Please tell the officer at the counter.",
    "file": "Tệp / File",
    "problems": "Lỗi / Problems (tệp:dòng: trường: lỗi; giá trị cho phép  /  file:line: field: what; what is allowed)",
    "fix_vi": "[b]Cách sửa:[/b] mở tệp trên, sửa từng dòng được nêu rồi lưu lại. Kiểm tra bằng lệnh: {check}. "
              "Máy tự kiểm tra lại mỗi {every:g} giây và tự khởi động khi tệp hợp lệ.",
    "fix_en": "[b]To fix:[/b] open the file above, correct each line named, save it. Check it with: {check}. "
              "The kiosk checks the file every {every:g} s and starts by itself once it is valid.",
    "missing_vi": "Chưa có tệp: chép từ config/examples/kiosk.yaml rồi điền site, device, broker.",
    "missing_en": "No file yet: copy config/examples/kiosk.yaml there and fill in site, device, broker.",
    "checked": "Kiểm tra lần cuối / Last checked: {time} — vẫn còn lỗi / still has problems",
    "starting": "Tệp đã hợp lệ, đang khởi động... / The file is valid, starting...",
    "marker": "cấu hình / config",
}


# The officer's screens and the officer line of the rating screen. The citizen sees only the line
# "officer_on_duty" and, in on_request mode, the calm waiting screen.
OFFICER_TEXTS = {
    "vi": {
        "officer_on_duty": "Cán bộ tiếp nhận: {name}",
        "waiting": "Xin chào!",
        "waiting_detail": "Màn hình đánh giá sẽ hiện khi cán bộ hoàn tất hồ sơ của Ông/Bà.",
    },
    "en": {
        "officer_on_duty": "Officer: {name}",
        "waiting": "Welcome!",
        "waiting_detail": "The rating screen appears when the officer has finished your case.",
    },
}
# Officer-only screens: both languages at once, like the technician's.
OFFICER_SCREENS = {
    "pick": "Cán bộ: chọn tên / Officer: pick your name",
    "pin": "Mã PIN của {name} / PIN for {name}",
    "wrong": "Sai mã PIN / Wrong PIN",
    "locked": "Tạm khoá, thử lại sau {left} / Locked, try again in {left}",
    "service": "Chọn lĩnh vực hôm nay / Today's service",
    "on_duty": "{name} đang trực / {name} is on duty",
    "sign_out": "Kết thúc ca / Sign out",
    "change_service": "Đổi lĩnh vực / Change service",
    "cancel": "Huỷ / Cancel",
}


def officer_text(lang: str, key: str, default: str = "vi", **fields) -> str:
    texts = OFFICER_TEXTS.get(lang) or OFFICER_TEXTS.get(default) or OFFICER_TEXTS["vi"]
    return texts.get(key, OFFICER_TEXTS["vi"][key]).format(**fields)
