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
        "followup_comment": "người dân góp ý trên điện thoại sau mặt {face}: “{comment}”{about}",
        "about": " (cán bộ {officer}; thủ tục {service}; phiếu {ticket})",
        "followup_purged": "góp ý trên điện thoại sau mặt chưa hài lòng (nội dung đã xóa hết thời hạn lưu)",
        "ratings": "{n} đánh giá gần nhất", "hours": "{n} giờ qua",
        "fired_at": "Bắt đầu", "cleared_at": "Kết thúc", "rule": "Quy tắc", "now": "Hiện tại",
        "link": "Xem, xác nhận và ghi chú", "no_link": "Xác nhận và ghi chú trên trang Cảnh báo của bảng điều khiển.",
        "footer": "Thư tự động của hệ thống {p}.",
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
        "followup_comment": "a citizen commented on the phone after a {face} face: “{comment}”{about}",
        "about": " (officer {officer}; procedure {service}; ticket {ticket})",
        "followup_purged": "a comment on the phone after an unsatisfied face (deleted at the end of its retention)",
        "ratings": "last {n} ratings", "hours": "last {n} hours",
        "fired_at": "Started", "cleared_at": "Ended", "rule": "Rule", "now": "Now",
        "link": "See, acknowledge and comment", "no_link": "Acknowledge and comment on the dashboard's Alerts page.",
        "footer": "Automatic message from {p}.",
    },
}


# What each kind of rule watches, as a manager says it (the rule's own name is a slug for technicians).
TITLES = {
    "vi": {"satisfaction_below": "Tỷ lệ hài lòng thấp", "negative_share": "Nhiều đánh giá tiêu cực",
           "device_offline": "Thiết bị mất liên lạc trong giờ làm việc",
           "outbox_growing": "Hàng đợi chưa gửi của thiết bị tăng dần",
           "rejects_spike": "Nhiều bản tin bị từ chối", "device_rejects": "Thiết bị gửi nhiều bản tin bị từ chối",
           "device_shared": "Hai kiosk dùng chung một mã thiết bị",
           "receipts_stalled": "Cơ sở dữ liệu chậm xác nhận đã lưu đánh giá",
           "followup_comment": "Góp ý qua mã QR sau đánh giá chưa hài lòng"},
    "en": {"satisfaction_below": "Low satisfaction", "negative_share": "Many negative answers",
           "device_offline": "Kiosk silent in opening hours", "outbox_growing": "Kiosk backlog growing",
           "rejects_spike": "Many messages rejected", "device_rejects": "Kiosk sending rejected messages",
           "device_shared": "Two kiosks share one device id",
           "receipts_stalled": "Database slow to confirm stored ratings",
           "followup_comment": "A comment by QR after an unsatisfied rating"},
}
PER = {"vi": {"centre": "theo bộ phận một cửa", "counter": "theo quầy", "officer": "theo cán bộ",
              "all": "toàn phạm vi"},
       "en": {"centre": "per centre", "counter": "per counter", "officer": "per officer", "all": "whole scope"}}
RATE_KINDS = ("satisfaction_below", "negative_share")


def rule_title(kind: str, lang: str, per: str | None = None) -> str:
    """A rule's name for people: 'Tỷ lệ hài lòng thấp, theo quầy' / 'Low satisfaction, per counter'."""
    words = TITLES.get(lang, TITLES["vi"])
    title = words.get(kind, kind)
    if kind in RATE_KINDS and per:
        title += ", " + PER.get(lang, PER["vi"]).get(per, per)
    return title


def alert_title(alert: dict, lang: str) -> str:
    """The title of the rule behind a stored alert (its subject says per what: 'counter:...')."""
    per = str(alert.get("subject") or "").split(":", 1)[0]
    return rule_title(alert["kind"], lang, per if per in PER["vi"] else None)


def alerts_link(public_url: str | None) -> str | None:
    """The dashboard's Alerts page at ``dashboard.public_url``, or None when it is not configured."""
    return public_url.rstrip("/") + "/alerts" if public_url else None


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
    if kind == "followup_comment":
        if not d.get("comment"):
            return t["followup_purged"]
        about = t["about"].format(officer=d.get("officer") or "–", service=d.get("service") or "–",
                                  ticket=d.get("ticket") or "–")
        return t[kind].format(face=d.get("face", ""), comment=d.get("comment", ""), about=about)
    rate_kind = kind in ("satisfaction_below", "negative_share", "device_rejects")
    return t[kind].format(
        value=_pct(value) if rate_kind else f"{value:g}" if isinstance(value, (int, float)) else value,
        threshold=_pct(d.get("threshold")) if rate_kind else f"{d.get('threshold', 0):g}",
        count=d.get("count", ""), rejected=d.get("rejected", ""), window=window, minutes=f"{d.get('minutes', 0):g}",
        depths=" → ".join(str(x) for x in d.get("depths", [])))


def subject_line(alert: dict, event: str, lang: str) -> str:
    t = TEXT[lang]
    return f"[{PRODUCT}] {t[event]}: {alert['subject_name']}"


def alert_email(alert: dict, event: str, lang: str, sender: str, to: str, key: str,
                public_url: str | None = None) -> bytes:
    """The whole message, ready to be queued; the Message-ID comes from the queue key so a receiver can
    recognise a repeat. ``public_url`` (dashboard.public_url) gives a link to the Alerts page."""
    t = TEXT[lang]
    lines = [f"{t[event]}: {alert['subject_name']}", "", describe(alert, lang), "",
             f"{t['rule']}: {alert_title(alert, lang)} ({alert['rule']})", f"{t['fired_at']}: {alert['fired_local']}"]
    if event == "clear":
        lines.append(f"{t['cleared_at']}: {alert['cleared_local']} ({t['now']}: "
                     f"{describe(alert, lang, alert.get('clear_value'))})")
    link = alerts_link(public_url)
    lines += ["", f"{t['link']}: {link}" if link else t["no_link"]]
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


def webhook_payload(alert: dict, event: str, lang: str, public_url: str | None = None) -> bytes:
    """JSON for a webhook; ``text`` alone is what chat apps (Slack, Mattermost, Google Chat, Rocket.Chat)
    display, the other fields are for systems that act on alerts."""
    text = f"{subject_line(alert, event, lang)}: {describe(alert, lang, alert.get('clear_value') if event == 'clear' else None)}"
    link = alerts_link(public_url)
    if link:
        text += f" {link}"
    body = {"event": event, "text": text, "title": alert_title(alert, lang), "url": link, "alert": {
        k: alert.get(k) for k in ("id", "rule", "kind", "subject", "subject_name", "place", "fired_at", "cleared_at",
                                  "value", "clear_value")} | {"detail": alert["detail"]}}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
