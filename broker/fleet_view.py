"""One line per kiosk of the fleet: desired vs applied config, refusals, health.

Shared by ``python -m broker fleet status`` (fields from the retained statuses) and the dashboard's
devices page (fields from the statuses the collector stored), so both say the same thing about the
same kiosk. ``get`` reads one status field by its contract name (``config_hash``, ``state``, ...).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, NamedTuple, Optional

from broker.contract import format_ts

HASH_CHARS = 12  # the status carries 12 hex digits of the running kiosk.yaml's SHA-256
# A kiosk whose status says pushes "off" (no fleet.public_key in its kiosk.yaml) ignores every push.
NO_PUSHES = "Không nhận cấu hình đẩy / takes no pushes"


# Why a kiosk refused a config, from the reason its event or status starts with (kiosk/config_apply.py):
# Vietnamese first, English beside; the kiosk's own words follow.
REASONS = {
    "stale": ("cấu hình cũ hơn cấu hình thiết bị đã chạy hoặc đã từ chối, có thể bị phát lại",
              "older than a config the kiosk already ran or refused: a replay?"),
    "rolled back": ("đã quay về cấu hình trước vì không kết nối được máy chủ với cấu hình mới",
                    "rolled back: the broker could not be reached with it"),
    "unknown_key": ("ký bằng khóa không được tin cậy", "signed with a key the kiosk does not trust"),
    "bad_signature": ("chữ ký không hợp lệ", "the signature does not match"),
    "bad_hash": ("nội dung không khớp mã băm", "the YAML does not match its hash"),
    "wrong_device": ("cấu hình dành cho thiết bị khác", "meant for another device"),
    "topic_mismatch": ("cấu hình dành cho thiết bị khác", "meant for another device"),
    "schema": ("cấu hình có lỗi", "the config has a mistake"),
    "no_fleet": ("cấu hình thiếu khóa công khai của tỉnh", "no fleet public key in it"),
    "missing_file": ("thiết bị không có tệp mà cấu hình cần", "the kiosk lacks a file the config names"),
}
OTHER_REASON = ("tin nhắn cấu hình không hợp lệ", "not a valid config message")


def refusal_text(refusal: str) -> str:
    """'<Vietnamese> / <English>: <the kiosk's words>' for a refusal as ConfigView.refused gives it
    (optionally '<hash>: ' first)."""
    if not refusal:
        return ""
    head, sep, rest = refusal.partition(": ")
    config_hash = ""
    if sep and len(head) == 12 and all(c in "0123456789abcdef" for c in head):
        config_hash, refusal = head + ": ", rest
    code = refusal.split(":", 1)[0].strip()
    vi, en = REASONS.get(code, OTHER_REASON)
    return f"{vi} / {en} ({config_hash}{refusal})"


def short_hash(value: Optional[str]) -> str:
    return (value or "")[:HASH_CHARS]


def on_desired(desired: Optional[str], applied: Optional[str]) -> Optional[bool]:
    """True when the kiosk runs the config the fleet wants, False when not, None when nothing was pushed."""
    want = short_hash(desired)
    if not want:
        return None
    return want == short_hash(applied)


def verdict(desired: Optional[str], applied: Optional[str]) -> str:
    """``yes``, ``no`` or empty (nothing pushed to this kiosk): the column `fleet status` prints."""
    match = on_desired(desired, applied)
    return "" if match is None else ("yes" if match else "no")


class FleetLine(NamedTuple):
    site: str
    device: str
    state: str  # online / offline / never seen
    app_version: str
    applied: str
    desired: str
    current: str  # verdict(): yes / no / ''
    config_error: str
    clock: str
    backlog: str
    fault: str
    last_rating: str
    pushes: str = ""  # on / off / '' (a kiosk that does not say)


HEAD = ("device", "state", "version", "applied", "desired", "current", "config error", "clock", "backlog",
        "last rating", "fault")


def line(site: str, device: str, get: Callable[[str], object], desired: Optional[str]) -> FleetLine:
    """``get`` returns None for a field the status lacks (a v1 kiosk, a kiosk never seen)."""
    def text(name: str) -> str:
        value = get(name)
        if isinstance(value, datetime):  # a decoded status; the collector stores the same text
            return format_ts(value)
        return "" if value is None else str(value)

    applied = short_hash(text("config_hash"))
    return FleetLine(site, device, text("state") or "never seen", text("app_version"), applied, short_hash(desired),
                     verdict(desired, applied), " ".join(text("config_error").split()), text("clock"),
                     text("outbox_depth"), text("fault"), text("last_rating_ts"), text("pushes"))


def table(lines: list[FleetLine]) -> list[str]:
    """The text table `fleet status` prints, header first."""
    rows = [HEAD] + [(f"{x.site}/{x.device}", x.state, x.app_version, x.applied, x.desired, current_text(x),
                      refusal_text(x.config_error), x.clock, x.backlog, x.last_rating, x.fault) for x in lines]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(HEAD))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]


def current_text(x: FleetLine) -> str:
    """The "current" column: yes / no, and why a kiosk that takes no pushes will never be current."""
    if x.pushes == "off":
        return f"{x.current} ({NO_PUSHES})" if x.current else NO_PUSHES
    return x.current


def behind(lines: list[FleetLine]) -> int:
    return sum(1 for x in lines if x.current == "no")
