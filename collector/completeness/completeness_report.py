"""Completeness as it appears beside every report: one line of text and a small table (received /
created, missing, outboxes replaced, ratings with unverified time) for the report's scope and period."""
from __future__ import annotations

from typing import Sequence

from .completeness import Summary
from .completeness_queries import Scope
from ..reports.export import Table
from ..reports.report import Period

LABELS = {
    "vi": {"title": "Độ đầy đủ", "created": "Bản tin đã tạo", "received": "Đã nhận", "rate": "Tỷ lệ đã nhận",
           "missing": "Thiếu", "ranges": "Khoảng thiếu", "replaced": "Thay hộp thư",
           "unverified": "Giờ chưa xác minh (tính riêng)", "corrections": "Hiệu chỉnh đồng hồ"},
    "en": {"title": "Completeness", "created": "Messages created", "received": "Received", "rate": "Received rate",
           "missing": "Missing", "ranges": "Missing ranges", "replaced": "Outboxes replaced",
           "unverified": "Unverified time (counted apart)", "corrections": "Clock corrections"},
}


def completeness_summary(db, period: Period, sites: Sequence[str] | None) -> Summary:
    """The scope's completeness over the period."""
    return Scope(db, period.start_ms, period.end_ms, sites).summary()


def completeness_table(db, period: Period, sites: Sequence[str] | None, lang: str = "vi",
                       summary: Summary | None = None) -> Table:
    """The scope's completeness over the period as a table; the title is the one-line summary."""
    s = summary or completeness_summary(db, period, sites)
    h = LABELS[lang]
    return Table(s.line(lang), [h[k] for k in ("created", "received", "rate", "missing", "ranges", "replaced",
                                                "unverified", "corrections")],
                 [[s.created, s.received, s.rate, s.missing, s.ranges, s.replaced, s.unverified, s.corrections]],
                 sheet=h["title"])
