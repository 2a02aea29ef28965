"""The satisfaction pages: overview, ranking, hours & reasons, printable report. Each returns a Page whose
tables are also what the CSV/XLSX download of that page holds."""
from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup

from ..reports.export import DIM_NAMES, Table, report_table
from ..reports.report import WEEKDAYS, ReportRow, combine, current_month, date_range, unsatisfied_only
from .charts import bar_chart, heatmap, line_chart, pct
from .context import Ctx, default_report_period
from .i18n import t
from .layout import Page, query, table_view

RANK_DIMS = ("centre", "counter", "officer", "service")


def _card(label: str, row: ReportRow, lang: str, compare: ReportRow | None = None) -> dict:
    card = {"label": label, "value": pct(row.satisfied_rate), "count": f"{row.count:,}".replace(",", chr(0x202f)),
            "delta": "", "delta_class": ""}
    if compare is not None and compare.satisfied_rate is not None and row.satisfied_rate is not None:
        d = (row.satisfied_rate - compare.satisfied_rate) * 100
        card["delta"] = f"{d:+.1f} điểm %" if lang == "vi" else f"{d:+.1f} pts"
        card["delta_class"] = "up" if d >= 0 else "down"
    return card


def overview(ctx: Ctx) -> Page:
    lang, tz = ctx.lang, ctx.tz
    today = ctx.local_now().date()
    this = current_month(ctx.now, tz)
    last = current_month(this.start - timedelta(days=1), tz)
    first = today - timedelta(days=29)
    # Three queries side by side: the last 30 days by day (today adds up from them), this month by centre
    # (the month's total adds up from the centres), last month's total.
    ((days,), (centres,), (last_total,)) = ctx.many([(date_range(first, today, tz), [("day",)], None),
                                                     (this, [("centre",)], None), (last, [()], None)])
    by_day = {r.group: r for r in days}
    totals = {"today": by_day.get(today.isoformat()) or ReportRow("total", "total"),
              "this_month": combine(centres), "last_month": last_total[0]}
    dates = [(first + timedelta(days=i)).isoformat() for i in range(30)]
    trend = [(d, by_day[d].satisfied_rate if d in by_day else None, by_day[d].count if d in by_day else 0) for d in dates]
    threshold = ctx.cfg.alerts.satisfaction_below
    cards = [_card(t(lang, "today"), totals["today"], lang),
             _card(t(lang, "this_month"), totals["this_month"], lang, totals["last_month"]),
             _card(t(lang, "last_month"), totals["last_month"], lang)]
    summary = Table(t(lang, "summary"), [t(lang, "period"), t(lang, "count"), t(lang, "rate"), t(lang, "score"),
                                         t(lang, "flagged")],
                    [[t(lang, k), r.count, r.satisfied_rate, r.mean_score, r.flagged] for k, r in totals.items()])
    trend_table = Table(t(lang, "trend"), [t(lang, "day"), t(lang, "count"), t(lang, "rate")],
                        [[d, c, r] for d, r, c in trend], sheet=t(lang, "sheet_trend"))
    centre_table = report_table(centres, "centre", lang, t(lang, "by_site"))
    centre_table.sheet = t(lang, "sheet_by_site")
    bars = [(r.name, r.satisfied_rate, r.count) for r in centres]
    values = {"cards": cards, "trend_chart": line_chart(trend, t(lang, "trend"), threshold=threshold),
              # drawn twice: wide for a desktop, 350 px for a phone (no sideways scrolling to reach the figures)
              "site_chart": Markup(bar_chart(bars, t(lang, "by_site"), threshold=threshold, css="wide-only")
                                   + bar_chart(bars, t(lang, "by_site"), 350, threshold, "narrow-only"))
              if centres else ""}
    return Page("overview", t(lang, "overview"), "overview.html", values, [summary, trend_table, centre_table],
                f"overview-{this.label}")


def rank_table(rows: list[ReportRow], dim: str, lang: str, min_ratings: int, title: str) -> tuple[Table, list[str]]:
    """Meaningful groups first, best satisfaction first; groups below min_ratings follow, unranked."""
    enough = sorted((r for r in rows if r.count >= min_ratings), key=lambda r: (-(r.satisfied_rate or 0), -(r.mean_score or 0)))
    few = sorted((r for r in rows if r.count < min_ratings), key=lambda r: -r.count)
    table = Table(title, [t(lang, "rank"), DIM_NAMES[lang][dim], t(lang, "name"), t(lang, "count"), t(lang, "rate"),
                          t(lang, "score"), t(lang, "flagged"), ""])
    for i, r in enumerate(enough, start=1):
        table.rows.append([i, r.group, r.name, r.count, r.satisfied_rate, r.mean_score, r.flagged, ""])
    for r in few:
        table.rows.append([None, r.group, r.name, r.count, r.satisfied_rate, r.mean_score, r.flagged, t(lang, "few")])
    return table, [""] * len(enough) + ["few"] * len(few)


def ranking(ctx: Ctx) -> Page:
    lang = ctx.lang
    dim = ctx.params.get("dim", "centre")
    dim = dim if dim in RANK_DIMS else "centre"
    period, error = ctx.period()
    title = f"{t(lang, 'ranking')}: {DIM_NAMES[lang][dim]} · {period.label}"
    table, classes = rank_table(ctx.report(period, (dim,)), dim, lang, ctx.cfg.dashboard.min_ratings, title)
    table.sheet = t(lang, "sheet_ranking", d=DIM_NAMES[lang][dim].lower() if lang == "en" else DIM_NAMES[lang][dim])
    tabs = [(d, "/ranking" + query(ctx.params, dim=d, lang=None), DIM_NAMES[lang][d]) for d in RANK_DIMS]
    same = all(row[1] == row[2] for row in table.rows)  # officers and services: the key is the name
    values = {"tabs": tabs, "dim": dim, "period": period, "error": error, "min_ratings": ctx.cfg.dashboard.min_ratings,
              "table": table_view(table, classes, pct_cols=(4,), num_from=3, skip=(1,) if same else (),
                                  minor=(1, 5, 6))}
    return Page("ranking", t(lang, "ranking"), "ranking.html", values, [table], f"ranking-{dim}-{period.label}")


def patterns(ctx: Ctx) -> Page:
    lang = ctx.lang
    period, error = ctx.period()
    unsatisfied = lambda rows: unsatisfied_only(rows, ctx.cfg.satisfied)  # noqa: E731
    unsatisfied.cache_key = "unsatisfied"
    ((cells_rows,), (reasons,)) = ctx.many([(period, [("weekday", "hour")], None), (period, [("reason",)], unsatisfied)])
    cells = {(int(r.keys[0]), int(r.keys[1])): (r.satisfied_rate, r.count) for r in cells_rows}
    grid = Table(t(lang, "heatmap"), [t(lang, "weekday_hour"), *[f"{h}h" for h in range(24)]],
                 [[WEEKDAYS[lang][wd - 1], *[cells.get((wd, h), (None, 0))[0] for h in range(24)]] for wd in range(1, 8)],
                 sheet=t(lang, "sheet_heatmap"))
    given = [r for r in reasons if r.group]
    total = sum(r.count for r in given) or 1
    reason_table = Table(t(lang, "reasons"), [t(lang, "reason"), t(lang, "count"), t(lang, "share")],
                         [[r.name, r.count, round(r.count / total, 4)] for r in sorted(given, key=lambda r: -r.count)],
                         sheet=t(lang, "sheet_reasons"))
    values = {"period": period, "error": error,
              "heatmap": heatmap(cells, lang, t(lang, "heatmap"), ctx.local_now().isoweekday()) if cells else "",
              "reasons": table_view(reason_table, pct_cols=(2,), num_from=1, caption=False) if given else None}
    return Page("patterns", t(lang, "patterns"), "patterns.html", values, [grid, reason_table], f"patterns-{period.label}")


def printable(ctx: Ctx) -> Page:
    """Monthly or quarterly evaluation on A4: summary and every grouping a manager signs off."""
    lang = ctx.lang
    chosen = ""
    if ctx.params.get("period"):
        period, error = ctx.period()
    else:  # last month is empty on a new installation: the latest period with ratings, and say which
        (period, chosen), error = default_report_period(ctx), ""
    places, people, (weekdays,) = ctx.many([
        (period, [(), ("commune",), ("centre",), ("counter",)], None),  # all from site x device
        (period, [("service",), ("officer",)], None),
        (period, [("weekday",)], None)])
    total = places[0][0]
    tables = [report_table([total], "", lang, t(lang, "summary"))]
    tables[0].rows[0][:2] = [period.label, t(lang, "total")]
    for dim, rows in zip(("commune", "centre", "counter", "service", "officer", "weekday"),
                         [*places[1:], *people, weekdays]):
        tables.append(report_table(rows, dim, lang, DIM_NAMES[lang][dim]))
    from ..completeness.completeness_report import completeness_table

    complete = completeness_table(ctx.db, period, sorted(ctx.sites) if ctx.sites is not None else None, lang)
    values = {"period": period, "error": error, "tz": ctx.tz, "generated": ctx.local_now().strftime("%Y-%m-%d %H:%M"),
              "first_day": period.start.date().isoformat(), "last_day": (period.end - timedelta(days=1)).date().isoformat(),
              "completeness": complete.title, "chosen": chosen,
              "pdf_href": "/report.pdf" + query(ctx.params, period=period.label),
              "tables": [table_view(tb, pct_cols=(3,), skip=(0,), minor=tuple(range(5, len(tb.headers))))
                         for tb in tables]}
    tables.append(complete)  # in the CSV/XLSX downloads of this page too
    return Page("report", f"{t(lang, 'report_title')} {period.label}", "report.html", values, tables,
                f"report-{period.label}")
