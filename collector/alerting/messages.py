"""The words of alert e-mails and webhook calls, in Vietnamese and English (pure)."""
from __future__ import annotations

import json
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

PRODUCT = "Hài lòng"
TEXT = {
    "vi": {
        "fire": "Cảnh báo", "clear": "Hết cảnh báo",
        "satisfaction_below": "tỷ lệ hài lòng {value} dưới ngưỡng {threshold} ({count} đánh giá, {window})",
        "negative_share": "tỷ lệ đánh giá tiêu cực {value}, từ ngưỡng {threshold} trở lên ({count} đánh giá, {window})",
        "device_offline": "thiết bị không liên lạc {value} phút trong giờ làm việc (ngưỡng {threshold} phút)",
        "outbox_growing": "hàng đợi chưa gửi của thiết bị tăng liên tục: {depths}",
        "rejects_spike": "{value} bản tin bị từ chối trong {minutes} phút (ngưỡng {threshold})",
        "device_rejects": "{value} bản tin của thiết bị bị từ chối trong {minutes} phút ({rejected} trên {count}; "
                          "ngưỡng {threshold}): kiểm tra thiết bị và tài khoản của nó",
        "receipts_stalled": "các thiết bị của trung tâm chờ xác nhận lưu từ CSDL đã {value} phút (ngưỡng {threshold} "
                            "phút): kiểm tra bộ thu (collector), tài khoản và đường truyền của nó",
        "device_shared": "hai kiosk đang dùng chung mã thiết bị này: đánh giá của chúng bị gộp làm một; cấp cho mỗi "
                         "kiosk tài khoản riêng (broker add-device)",
        "ratings": "{n} đánh giá gần nhất", "hours": "{n} giờ qua",
        "fired_at": "Bắt đầu", "cleared_at": "Kết thúc", "rule": "Quy tắc", "now": "Hiện tại",
        "footer": "Thư tự động của hệ thống {p}. Xác nhận và ghi chú trên trang Cảnh báo.",
    },
    "en": {
        "fire": "Alert", "clear": "Cleared",
        "satisfaction_below": "satisfied {value} below {threshold} ({count} ratings, {window})",
        "negative_share": "negative answers {value}, at or above {threshold} ({count} ratings, {window})",
        "device_offline": "kiosk silent for {value} minutes of opening time (limit {threshold} minutes)",
        "outbox_growing": "kiosk outbox backlog growing: {depths}",
        "rejects_spike": "{value} messages rejected in {minutes} minutes (limit {threshold})",
        "device_rejects": "{value} of the kiosk's messages rejected in {minutes} minutes ({rejected} of {count}; "
                          "limit {threshold}): check the kiosk and its account",
        "receipts_stalled": "the centre's kiosks have waited {value} minutes for the database to confirm what they "
                            "sent (limit {threshold} minutes): check the collector, its account and its link",
        "device_shared": "two kiosks use this device id: their ratings merge into one; give each kiosk its own "
                         "account (broker add-device)",
        "ratings": "last {n} ratings", "hours": "last {n} hours",
        "fired_at": "Started", "cleared_at": "Ended", "rule": "Rule", "now": "Now",
        "footer": "Automatic message from {p}. Acknowledge and comment on the Alerts page.",
    },
}


def _pct(x) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


def describe(alert: dict, lang: str, value=None) -> str:
    """One line saying what is wrong, e.g. 'satisfied 61.0 % below 70.0 % (50 ratings, last 50 ratings)'."""
    t = TEXT[lang]
    d = alert["detail"]
    kind = alert["kind"]
    value = alert["value"] if value is None else value
    window = ""
    if d.get("window"):
        unit, n = d["window"].split(":")
        window = t[unit].format(n=n)
    rate_kind = kind in ("satisfaction_below", "negative_share", "device_rejects")
    return t[kind].format(
        value=_pct(value) if rate_kind else f"{value:g}" if isinstance(value, (int, float)) else value,
        threshold=_pct(d.get("threshold")) if rate_kind else f"{d.get('threshold', 0):g}",
        count=d.get("count", ""), rejected=d.get("rejected", ""), window=window, minutes=f"{d.get('minutes', 0):g}",
        depths=" → ".join(str(x) for x in d.get("depths", [])))


def subject_line(alert: dict, event: str, lang: str) -> str:
    t = TEXT[lang]
    return f"[{PRODUCT}] {t[event]}: {alert['subject_name']}"


def alert_email(alert: dict, event: str, lang: str, sender: str, to: str, key: str) -> bytes:
    """The whole message, ready to be queued; the Message-ID comes from the queue key so a receiver can
    recognise a repeat."""
    t = TEXT[lang]
    lines = [f"{t[event]}: {alert['subject_name']}", "", describe(alert, lang), "",
             f"{t['rule']}: {alert['rule']}", f"{t['fired_at']}: {alert['fired_local']}"]
    if event == "clear":
        lines.append(f"{t['cleared_at']}: {alert['cleared_local']} ({t['now']}: "
                     f"{describe(alert, lang, alert.get('clear_value'))})")
    lines += ["", "--", t["footer"].format(p=PRODUCT)]
    msg = EmailMessage()
    msg["Subject"] = subject_line(alert, event, lang)
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(key, sender)
    msg.set_content("\n".join(lines))
    return msg.as_bytes(policy=policy.SMTP)  # CRLF lines, sent as they are


def message_id(key: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1].rstrip(">") or "hailong.invalid"
    return make_msgid(idstring=key.replace(":", ".").replace("@", "-")[:60], domain=domain)


def webhook_payload(alert: dict, event: str, lang: str) -> bytes:
    """JSON for a webhook; ``text`` alone is what chat apps (Slack, Mattermost, Google Chat, Rocket.Chat)
    display, the other fields are for systems that act on alerts."""
    text = f"{subject_line(alert, event, lang)}: {describe(alert, lang, alert.get('clear_value') if event == 'clear' else None)}"
    body = {"event": event, "text": text, "alert": {
        k: alert.get(k) for k in ("id", "rule", "kind", "subject", "subject_name", "place", "fired_at", "cleared_at",
                                  "value", "clear_value")} | {"detail": alert["detail"]}}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
