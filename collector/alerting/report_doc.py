"""One scope's report for one period, as the printable dashboard report lays it out: summary, then
tables by commune, centre, counter, service and officer, and the reasons given for poor ratings.

Figures come from ``report_queries.run_reports`` and ``export.report_table``, exactly as
``python -m collector report`` computes them. ``SharedFetch`` reads the rollup once per period for a
whole round and hands each scope its sites, so 500 recipients cost one query per period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..reports.export import DIM_NAMES, Table, report_table, to_xlsx
from ..reports.hierarchy import Hierarchy
from ..reports.report import Period, ReportRow, _zone, unsatisfied_only
from ..reports.report_queries import ReportSpec, fetch, run_reports
from .recipients import scope_name
from .report_words import WORDS

ALL_NEEDS = {"site", "device", "officer", "service", "reason"}
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
ROMAN = ["I", "II", "III", "IV"]


def period_words(kind: str, period: Period, lang: str) -> str:
    y, m = period.start.year, period.start.month
    q = (m - 1) // 3
    last = (period.end - timedelta(days=1)).date()
    return WORDS[lang][kind].format(y=y, m=m, month=MONTHS_EN[m - 1], q=ROMAN[q], n=q + 1,
                                    first=period.start.date().isoformat(), last=last.isoformat())


def period_kind(period: Period) -> str:
    """month, quarter, 6m, 9m or year from a period's label (2026-10, 2026-Q4, 2026-6M, 2026); any other
    span of days (2026-10-01..2026-10-15) is a range."""
    label = period.label.upper()
    if len(label) == 4 and label.isdigit():
        return "year"
    if len(label) == 7 and label[4] == "-":
        if label[5] == "Q":
            return "quarter"
        if label[5:] in ("6M", "9M"):
            return label[5:].lower()
        if label[5:].isdigit():
            return "month"
    return "range"


class SharedFetch:
    """A ``fetcher`` for run_reports: one rollup query per period, filtered by site for each scope."""

    def __init__(self):
        self.cache: dict[tuple, list] = {}

    def __call__(self, db, start_ms, end_ms, needs, *, tz, sites=None):
        key = (start_ms, end_ms, tz)
        rows = self.cache.get(key)
        if rows is None:
            rows = self.cache[key] = fetch(db, start_ms, end_ms, ALL_NEEDS, tz=tz)
        if sites is None:
            return rows
        wanted = set(sites)
        return [r for r in rows if r.site in wanted]


@dataclass
class ReportDoc:
    title: str
    label: str  # 2026-Q4
    period_text: str  # Quý IV/2026
    dates: str  # 2026-10-01 – 2026-12-31 (Asia/Ho_Chi_Minh)
    scope: str
    scope_name: str
    lang: str
    generated: str
    total: ReportRow
    tables: list[Table]  # summary first, then one per grouping; the XLSX has one sheet each
    low: float = 0.7  # rates under this are printed in red (alerts.satisfaction_below)
    completeness: Table | None = None  # received / created for the scope and period; its title is one line
    # the thank-you QR's answers (collector/followup), when the scope had any: by SIPAS element, the comments
    # (never contacts), and the data the PDF prints them from
    followup: tuple[Table, Table, dict] | None = None

    def xlsx(self) -> bytes:
        extra = list(self.followup[:2]) if self.followup else []
        return to_xlsx(self.tables + ([self.completeness] if self.completeness else []) + extra)

    def pdf(self) -> bytes:
        from .pdf import render

        return render(self)


def file_stem_of(doc: "ReportDoc") -> str:
    """hailong-2026-Q4-xa-tan-lap-vi: the attachment's name, without its extension."""
    import re

    return f"hailong-{doc.label}-{re.sub(r'[^a-z0-9-]', '', doc.scope)}-{doc.lang}"


def dims_for(scope: str, hierarchy: Hierarchy) -> tuple[str, ...]:
    """Groupings worth a table: a commune table only when the scope holds several communes."""
    communes = {p.commune for p in hierarchy.places.values()
                if scope == "all" or scope in (p.province, p.commune, p.centre)}
    return (("commune",) if len(communes) > 1 else ()) + ("centre", "counter", "service", "officer")


def build(db, cfg, hierarchy: Hierarchy, kind: str, period: Period, scope: str, lang: str, now: datetime,
          fetcher=None) -> ReportDoc:
    fetcher = fetcher or SharedFetch()
    w = WORDS[lang]
    sites = None if scope == "all" else [scope]
    dims = dims_for(scope, hierarchy)
    spec = ReportSpec(period, (), sites, False, lang)
    results = run_reports(db, cfg, spec, [(), *[(d,) for d in dims]], hierarchy, fetcher=fetcher)
    reasons = run_reports(db, cfg, spec, [("reason",)], hierarchy, fetcher=fetcher,
                          only=lambda rows: unsatisfied_only(rows, cfg.satisfied))[0]
    total = results[0][0]
    summary = report_table([total], "", lang, w["summary"])
    summary.rows[0][:2] = [period.label, w["total"]]
    tables = [summary] + [report_table(rows, d, lang, DIM_NAMES[lang][d]) for d, rows in zip(dims, results[1:])]
    tables.append(report_table(reasons, "reason", lang, w["reasons"]))
    last_day = (period.end - timedelta(days=1)).date()
    from ..completeness.completeness_report import completeness_table

    complete = completeness_table(db, period, None if scope == "all" else sorted(hierarchy.expand([scope])), lang)
    return ReportDoc(
        followup=followup_section(db, cfg, hierarchy, scope, period, lang),
        title=w["title"], label=period.label, period_text=period_words(kind, period, lang),
        dates=f"{period.start.date().isoformat()} – {last_day.isoformat()} ({cfg.timezone})",
        scope=scope, scope_name=scope_name(scope, hierarchy, lang), lang=lang,
        generated=now.astimezone(_zone(cfg.timezone)).strftime("%Y-%m-%d %H:%M"), total=total, tables=tables,
        low=cfg.alerts.satisfaction_below, completeness=complete)


def followup_section(db, cfg, hierarchy: Hierarchy, scope: str, period: Period, lang: str):
    """The phone answers of the scope and period by SIPAS element, and their comments without contacts; None
    when the scope had no answer (a province without the QR gets no empty section)."""
    from ..followup.summary import element_table, gather, table

    sites = None if scope == "all" else sorted(hierarchy.expand([scope]))
    data = gather(db, cfg, hierarchy, sites, period, lang, with_contact=False)
    if not data["answers"]:
        return None
    by_element = element_table(data, lang, lambda k: hierarchy.label("reason", k, lang) or k)
    return by_element, table(data, lang), data
