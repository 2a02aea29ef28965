"""The officers page (/officers), its printable evaluation sheet (/officers/print) and the figures of
/api/v1/officers: per officer of the account's scope and a period, from collector/reports/officer_report.py
(the same figures as ``python -m collector report --by officer-evaluation``).

Figures of an officer with fewer than ``evaluation.min_ratings`` ratings in the period are hidden here
as in every report: rate, grade, rank and reasons; the count and the hours stay."""
from __future__ import annotations

from ..reports.hierarchy import Hierarchy
from ..reports.officer_report import evaluation_tables, to_html
from ..reports.officers import OfficerRow
from .layout import Page, query
from .officer_data import figures, label_of, pct_text

TOP_REASONS = 3
WORDS = {
    "vi": {"officers": "Cán bộ", "title": "Đánh giá cán bộ", "officer": "Cán bộ", "rank": "Hạng",
           "ratings": "Số đánh giá", "rate": "Tỷ lệ hài lòng", "grade": "Xếp loại", "reasons": "Lý do chính",
           "hours": "Giờ trực", "per_hour": "Đánh giá/giờ", "answered": "Yêu cầu được đánh giá",
           "expired": "Yêu cầu hết hạn", "hidden": "ẩn", "no_officer": "Đánh giá không rõ cán bộ",
           "no_officer_of": "{n} / {total} lượt đánh giá", "all_centres": "Toàn phạm vi",
           "print": "Bản in phiếu đánh giá", "xlsx": "Tải XLSX",
           "privacy": "Cán bộ có dưới {n} lượt đánh giá trong kỳ không hiện tỷ lệ, xếp loại, hạng và lý do "
                      "(để không đoán được lựa chọn của một người dân).",
           "grades": "Xếp loại theo tỷ lệ hài lòng, từ {n} lượt đánh giá trở lên:",
           "quality_note": "Tỷ lệ đánh giá không gắn với cán bộ nào (quầy không có ai đăng nhập): "
                           "số liệu cán bộ chỉ đúng khi tỷ lệ này thấp.",
           "no_grade": "chưa đủ"},
    "en": {"officers": "Officers", "title": "Officer evaluation", "officer": "Officer", "rank": "Rank",
           "ratings": "Ratings", "rate": "Satisfied", "grade": "Grade", "reasons": "Top reasons",
           "hours": "Hours on duty", "per_hour": "Ratings per hour", "answered": "Requests answered",
           "expired": "Requests expired", "hidden": "hidden", "no_officer": "Ratings with no officer",
           "no_officer_of": "{n} of {total} ratings", "all_centres": "Whole scope",
           "print": "Printable evaluation sheet", "xlsx": "Download XLSX",
           "privacy": "Officers with fewer than {n} ratings in the period show no rate, grade, rank or reasons "
                      "(so that no single citizen's choice can be guessed).",
           "grades": "Grades by satisfied rate, from {n} ratings up:",
           "quality_note": "The share of ratings tied to no officer (nobody signed in at the counter): the "
                           "officers' figures are only right when it is low.",
           "no_grade": "too few"},
}


# ---------------------------------------------------------------------------------------- the page
def _row_view(o: OfficerRow, hierarchy: Hierarchy, lang: str, w: dict) -> dict:
    hidden = w["hidden"]
    reasons = [f"{label_of(hierarchy, 'reason', k, lang)} ({n})" for k, n in o.reasons.most_common(TOP_REASONS)]
    return {"officer": o.officer, "name": label_of(hierarchy, "officer", o.officer, lang), "suppressed": o.suppressed,
            "rank": hidden if o.suppressed else ("–" if o.rank is None else str(o.rank)),
            "ratings": str(o.ratings), "rate": hidden if o.suppressed else pct_text(o.rate),
            "grade": hidden if o.suppressed else (o.grade or w["no_grade"]),
            "reasons": hidden if o.suppressed else ("; ".join(reasons) or "–"),
            "hours": f"{o.hours:.2f}", "per_hour": "–" if o.per_hour is None else f"{o.per_hour:.2f}",
            "answered": str(o.answered), "expired": str(o.expired)}


def _quality_view(label: str, ratings: int, no_officer: int, w: dict) -> dict:
    share = no_officer / ratings if ratings else None
    return {"label": label, "value": pct_text(share), "detail": w["no_officer_of"].format(n=no_officer, total=ratings),
            "warn": share is not None and share >= 0.2}


def officers(ctx) -> Page:
    """The officers of the account's scope for a period: one section per centre, its data-quality figure
    first, then each officer's figures (a table on a desktop, one card per officer on a phone)."""
    lang, cfg, hierarchy = ctx.lang, ctx.cfg, ctx.hierarchy
    w = WORDS[lang]
    period, error = ctx.period()
    rows, quality = figures(ctx.db, cfg, period, hierarchy, ctx.sites)
    tables = evaluation_tables(ctx.db, cfg, period, hierarchy, lang, figures=(rows, quality))
    by_centre: dict[str, dict] = {}
    for q in quality:
        by_centre[q.site] = {"quality": _quality_view(w["no_officer"], q.ratings, q.no_officer, w), "rows": []}
    for o in rows:
        by_centre.setdefault(o.site, {"quality": None, "rows": []})["rows"].append(_row_view(o, hierarchy, lang, w))
    centres = [{"slug": slug, "name": hierarchy.group("centre", slug)[1], **v}
               for slug, v in sorted(by_centre.items(), key=lambda kv: hierarchy.sort_key(kv[0]))]
    total = _quality_view(w["no_officer"] + " · " + w["all_centres"], sum(q.ratings for q in quality),
                          sum(q.no_officer for q in quality), w) if len(quality) > 1 else None
    ev = cfg.evaluation
    links = {k: v for k, v in ctx.params.items() if k in ("province", "commune", "centre", "site")}
    links = query(links, period=period.label)
    values = {"w": w, "period": period, "error": error, "centres": centres, "total": total,
              "privacy": w["privacy"].format(n=ev.min_ratings), "grades_note": w["grades"].format(n=ev.grade_min_ratings),
              "grades": [(g.name, pct_text(g.min_satisfied)) for g in ev.grades],
              "print_href": "/officers/print" + links, "xlsx_href": "/officers.xlsx" + links}
    return Page("officers", f"{w['title']} {period.label}", "officers.html", values, tables,
                f"officers-{period.label}")


def printable(ctx) -> str:
    """The evaluation sheet as the CLI prints it (--format html), for the account's scope."""
    period, _ = ctx.period()
    rows_quality = figures(ctx.db, ctx.cfg, period, ctx.hierarchy, ctx.sites)
    return to_html(evaluation_tables(ctx.db, ctx.cfg, period, ctx.hierarchy, ctx.lang, figures=rows_quality), ctx.lang)


# The printable sheet carries its own inline style and nothing else: no script, no image, no form.
PRINT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; form-action 'none'; "
             "frame-ancestors 'none'; base-uri 'none'")


def routes(app, answering, session_of) -> list:
    """GET /officers/print: signed-in accounts only, within their scope, logged as an export."""
    from starlette.requests import Request
    from starlette.routing import Route

    from . import filters
    from .context import Ctx
    from .errors import page as error_page
    from .base import PAGE_PARAMS, answer, client_of, lang_of, params_of, refuse_api, to_login

    def render(request: Request, params: dict, lang: str, set_cookies: list[str]):
        session = session_of(app, request)
        if session is None:
            return to_login(request, set_cookies)
        client = client_of(app, request)
        plain = {k: v for k, v in params.items() if k in PAGE_PARAMS}
        try:
            sites = filters.filter_sites(app, session.account.scope, plain)
        except filters.ApiError as exc:
            return refuse_api(exc)
        ctx = Ctx(app.data, app.cfg, app.hierarchy, lang, plain, app.now(), sites, session.account.scope)
        period, error = ctx.period()
        if error:
            return answer(400, error_page(400, *error.split(" / ", 1)))
        body = printable(ctx)
        app.store.audit(session.account.username, "export", f"officers-{period.label}.html", client=client,
                        scope=session.account.scope)
        return answer(200, body, headers={"Content-Security-Policy": PRINT_CSP})

    @answering
    async def handle(request: Request):
        params = params_of(request)
        lang, set_cookies = lang_of(app, request, params)
        return await app.work(render, request, params, lang, set_cookies, long=True)

    return [Route("/officers/print", handle, methods=["GET", "HEAD"])]
