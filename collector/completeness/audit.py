"""The reconciliation a province signs monthly (pure, no SQL, no I/O): per device, what its outboxes
created against what arrived, the missing ranges, outbox replacements, ratings whose time could not be
verified, and the clock corrections applied.

The period's scope is every outbox epoch active in it (a message placed in the period, or a status heard
in it); created and received count the whole epoch, so a gap left from an earlier month stays listed
until it fills. Anything missing makes the audit fail (``exit_code`` 1)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence

from .completeness import EpochState, Range, Replacement, Summary, ranges_text, replaced_text, summarize
from ..reports.hierarchy import Hierarchy

HOUR_MS = 3_600_000


@dataclass
class Correction:
    boot: str
    n: int
    min_delta_ms: int
    max_delta_ms: int
    first_ms: int
    last_ms: int

    def text(self) -> str:
        lo, hi = self.min_delta_ms / HOUR_MS, self.max_delta_ms / HOUR_MS
        shift = f"{lo:+.1f} h" if abs(hi - lo) < 0.05 else f"{lo:+.1f} h to {hi:+.1f} h"
        return f"{self.n} moved {shift} (boot {self.boot or '-'})"


@dataclass
class DeviceAudit:
    site: str
    device: str
    name: str
    ratings: int = 0  # ratings placed in the period (v1 and v2)
    epochs: int = 0
    created: int = 0
    received: int = 0
    missing: int = 0
    ranges: list[tuple[str, Range]] = field(default_factory=list)  # (epoch, missing range)
    replacements: list[Replacement] = field(default_factory=list)
    unverified: int = 0
    corrections: list[Correction] = field(default_factory=list)
    shared: tuple[int, int] | None = None  # two kiosks used this id (first and last sign, ms): counts merged

    @property
    def numbered(self) -> bool:
        """False for a device that sent only v1 ratings: nothing to count against."""
        return self.epochs > 0

    @property
    def corrected(self) -> int:
        return sum(c.n for c in self.corrections)


def build(epochs: Sequence[EpochState], replaced: Sequence[Replacement], unverified: dict[tuple[str, str], int],
          corrections: Iterable[dict], ratings: dict[tuple[str, str], int],
          hierarchy: Hierarchy | None = None,
          shared: dict[tuple[str, str], tuple[int, int]] | None = None) -> list[DeviceAudit]:
    """One DeviceAudit per device with anything to say in the period, in the hierarchy's order."""
    hierarchy = hierarchy or Hierarchy()
    out: dict[tuple[str, str], DeviceAudit] = {}

    def get(site: str, device: str) -> DeviceAudit:
        a = out.get((site, device))
        if a is None:
            a = out[(site, device)] = DeviceAudit(site, device, hierarchy.group("counter", site, device)[1])
        return a

    for e in epochs:
        a = get(e.site, e.device)
        a.epochs += 1
        a.created += e.created
        a.received += min(e.received, e.created)
        a.missing += e.missing
        a.ranges.extend((e.epoch, r) for r in e.ranges)
    for r in replaced:
        get(r.site, r.device).replacements.append(r)
    for key, n in unverified.items():
        get(*key).unverified += n
    for c in corrections:
        get(c["site"], c["device"]).corrections.append(
            Correction(c["boot"], int(c["n"]), int(c["min_delta_ms"]), int(c["max_delta_ms"]), int(c["first_ms"]),
                       int(c["last_ms"])))
    for key, n in ratings.items():
        get(*key).ratings += n
    for key, span in (shared or {}).items():
        get(*key).shared = span
    return sorted(out.values(), key=lambda a: (*hierarchy.sort_key(a.site), a.device))


def total(audits: Sequence[DeviceAudit], epochs: Sequence[EpochState], replaced: int) -> Summary:
    return summarize(epochs, replaced, sum(a.unverified for a in audits), sum(a.corrected for a in audits))


def exit_code(audits: Sequence[DeviceAudit]) -> int:
    """1 when any device misses anything, or two kiosks shared one id (their figures are merged), else 0."""
    return 1 if any(a.missing or a.shared for a in audits) else 0


def shared_text(a: DeviceAudit, tz) -> str:
    if not a.shared:
        return ""
    return f"hai kiosk dùng chung mã này / two kiosks share this id ({_day(a.shared[0], tz)} - {_day(a.shared[1], tz)})"


def _day(ms: int | None, tz) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d") if ms is not None else "?"


def to_dict(audits: Sequence[DeviceAudit], summary: Summary, period: str, tz) -> dict:
    return {
        "period": period,
        "complete": exit_code(audits) == 0,
        "summary": summary.to_dict(),
        "devices": [{
            "site": a.site, "device": a.device, "name": a.name, "ratings": a.ratings,
            "numbered": a.numbered, "epochs": a.epochs, "created": a.created if a.numbered else None,
            "received": a.received if a.numbered else None, "missing": a.missing,
            "missing_ranges": [{"epoch": epoch, "first": r.first, "last": r.last, "open_since": r.open_since}
                               for epoch, r in a.ranges],
            "epoch_changes": [{"old_epoch": r.old_epoch, "new_epoch": r.new_epoch, "on": _day(r.at_ms, tz),
                               "text": f"outbox replaced on {_day(r.at_ms, tz)}"} for r in a.replacements],
            "time_unverified": a.unverified,
            "shared_id": {"first": _day(a.shared[0], tz), "last": _day(a.shared[1], tz)} if a.shared else None,
            "clock_corrections": [{"boot": c.boot, "n": c.n, "min_delta_ms": c.min_delta_ms,
                                   "max_delta_ms": c.max_delta_ms} for c in a.corrections],
        } for a in audits],
    }


HEADERS = {
    "en": ["Site", "Device", "Name", "Ratings in period", "Created", "Received", "Missing", "Missing seqs",
           "Epoch changes", "Unverified time", "Clock corrections"],
    "vi": ["Điểm phục vụ", "Thiết bị", "Tên", "Đánh giá trong kỳ", "Đã tạo", "Đã nhận", "Thiếu", "Số thứ tự thiếu",
           "Thay hộp thư", "Giờ chưa xác minh", "Hiệu chỉnh đồng hồ"],
}


def rows(audits: Sequence[DeviceAudit], tz, lang: str = "en") -> list[list]:
    """Plain values only (text and numbers): what a table, CSV or spreadsheet shows."""
    out = []
    for a in audits:
        out.append([a.site, a.device, a.name, a.ratings, a.created if a.numbered else "v1",
                    a.received if a.numbered else "v1", a.missing, ranges_text([r for _, r in a.ranges]),
                    "; ".join([replaced_text(r, tz, lang) for r in a.replacements]
                              + ([shared_text(a, tz)] if a.shared else [])),
                    a.unverified, "; ".join(c.text() for c in a.corrections)])
    return out
