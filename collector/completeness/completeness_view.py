"""Completeness on the dashboard: per-device cells for the device health page and the open-gap alert rows.
Computed here so the pages only add a column or a section."""
from __future__ import annotations

from datetime import datetime

from zoneinfo import ZoneInfo

from .completeness import ranges_text, replaced_text
from .completeness_queries import by_device, open_gaps

HEADERS = {"vi": {"complete": "Đầy đủ", "missing": "Thiếu (số thứ tự)", "gaps": "Bản tin thiếu quá {m} phút",
                  "seqs": "Số thứ tự thiếu", "since": "Thiếu từ", "epoch": "Hộp thư (epoch)"},
           "en": {"complete": "Complete", "missing": "Missing (seqs)", "gaps": "Messages missing for over {m} min",
                  "seqs": "Missing seqs", "since": "Missing since", "epoch": "Outbox (epoch)"}}


def header(lang: str, key: str, **kw) -> str:
    return HEADERS.get(lang, HEADERS["en"])[key].format(**kw)


def device_cells(db, tz: str, lang: str = "en") -> dict[tuple[str, str], tuple]:
    """(site, device) -> (received/created as a rate or None, missing seqs and "outbox replaced on <date>",
    Vietnamese first for ``lang`` vi)."""
    zone = ZoneInfo(tz)
    out = {}
    for key, dc in by_device(db).items():
        parts = [ranges_text(dc.ranges, limit=8)] if dc.ranges else []
        parts += [replaced_text(r, zone, lang) for r in dc.replacements[-2:]]  # the latest replacements
        out[key] = (dc.summary.rate, "; ".join(parts))
    return out


def gap_rows(db, now: datetime, after_min: float) -> list[list]:
    """[site, device, epoch, missing seqs, open since] of every gap open longer than ``after_min``."""
    return [[e.site, e.device, e.epoch[:8], r.text(), r.open_since] for e, r in open_gaps(db, now, after_min)]
