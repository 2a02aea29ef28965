"""The fleet at a glance on the devices page: each kiosk's desired vs applied config, a config it
refused and why, and its clock. The comparison is broker/fleet_view.py's, the one
`python -m broker fleet status` prints, so page and command say the same of the same kiosk."""
from __future__ import annotations

from broker.fleet_view import NO_PUSHES, FleetLine, line

from ..fleet import fleet_state

WORDS = {
    "vi": {"applied": "Cấu hình đang chạy", "desired": "Cấu hình đã gửi", "current": "Đúng cấu hình",
           "yes": "đúng", "no": "chưa", "refused": "Cấu hình bị từ chối", "clock": "Đồng hồ",
           "synced": "đã đồng bộ", "unsynced": "chưa đồng bộ", "last_rating": "Đánh giá gần nhất",
           "refusals": "Cấu hình bị từ chối gần đây",
           "no_refusals": "Không có cấu hình nào bị từ chối.",
           "summary": "{n} thiết bị; {behind} chưa chạy cấu hình đã gửi; "
                      "{refused} từ chối cấu hình.",
           "time": "Thời gian", "config": "Cấu hình", "reason": "Lý do",
           "shared": "hai kiosk dùng chung mã thiết bị này",
           "waiting_db": "Chờ CSDL xác nhận", "since": "từ {t}", "fallback": "không có biên nhận: tin máy chủ MQTT",
           "receipts_off": "tắt biên nhận"},
    "en": {"applied": "Config running", "desired": "Config pushed", "current": "On pushed config",
           "yes": "yes", "no": "no", "refused": "Config refused", "clock": "Clock",
           "synced": "synced", "unsynced": "not synced", "last_rating": "Last rating",
           "refusals": "Recently refused configs", "no_refusals": "No config was refused.",
           "summary": "{n} devices; {behind} not on the pushed config; {refused} refused a config.",
           "time": "Time", "config": "Config", "reason": "Reason",
           "shared": "two kiosks share this device id",
           "waiting_db": "Waiting for the database", "since": "since {t}",
           "fallback": "no receipts: trusting the broker", "receipts_off": "receipts off"},
}


def is_shared(d: dict, now_ms: int) -> bool:
    """Two kiosks use this device id now (collector/ingest/clones.py)."""
    from ..ingest.clones import CLEAR_AFTER_MS

    last = d.get("shared_last_ms")
    return last is not None and now_ms - int(last) <= CLEAR_AFTER_MS


def waiting_text(lang: str, d: dict, local) -> str | None:
    """What a kiosk keeps until the database confirms it (receipts): "12 (since 08:15)", or that it
    trusts the broker's acknowledgement instead. ``local`` formats a time for the page."""
    mode, n = d.get("receipts"), d.get("unreceipted")
    if mode == "fallback":
        return w(lang, "fallback")
    if mode == "off":
        return w(lang, "receipts_off")
    if n is None:
        return None
    since = local(d.get("unreceipted_since")) if n else None
    return f"{n} ({w(lang, 'since', t=since)})" if since else str(n)


def w(lang: str, key: str, **kw) -> str:
    return WORDS.get(lang, WORDS["en"])[key].format(**kw)


class ConfigView:
    """Loaded once per page: the pushed hashes and the refusals not yet followed by an applied config."""

    def __init__(self, db):
        self.desired = fleet_state.desired(db)
        self.open = fleet_state.open_rejections(db)

    def line(self, d: dict) -> FleetLine:
        want = self.desired.get((d["site"], d["device"]))
        return line(d["site"], d["device"], d.get, want.config_hash if want else None)

    def refused(self, d: dict, fl: FleetLine) -> str:
        """The refusal to show: its latest config_rejected event not followed by an applied config, else
        the config_error its status carries (the event may still be on its way)."""
        r = self.open.get((d["site"], d["device"]))
        if r is not None:  # the event names the refused config's hash
            return f"{r.config_hash}: {r.detail}" if r.config_hash else r.detail
        return fl.config_error


def current_cell(lang: str, fl: FleetLine) -> str | None:
    """On the pushed config: yes / no, and, for a kiosk whose status says it takes no pushes (no
    fleet.public_key), that it never will (Vietnamese first, English beside)."""
    verdict = w(lang, fl.current) if fl.current else ""
    if fl.pushes == "off":
        return f"{verdict} ({NO_PUSHES})" if verdict else NO_PUSHES
    return verdict or None


def clock_text(lang: str, clock: str | None) -> str:
    return w(lang, clock) if clock in ("synced", "unsynced") else ""
