"""What managers see of the thank-you QR's answers, within their scope (the dashboard's accounts and tokens):

- /followup            a dashboard page: the five SIPAS elements' mean scores and one line per answer with
                       the rating's face, centre, counter, officer, service, the scores and the comment;
- /followup.csv, .xlsx the same lines (texts never run as formulas: collector/reports/export.py);
- /api/v1/followup     JSON or CSV (?format=csv), for a token or a signed-in account.
Contact details go only to admin accounts signed in to the dashboard, and each time they are shown or
exported an audit line says who saw them. API tokens never get them.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.routing import Route

from ..reports.export import Table, to_csv, to_xlsx
from . import answers

ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                  lstrip_blocks=True, auto_reload=False)
LIMIT = 2000
WORDS = {
    "vi": {"title": "Góp ý qua mã QR", "period": "Kỳ", "show": "Xem", "answers": "câu trả lời",
           "empty": "Chưa có góp ý nào trong kỳ này.",
           "note": "Người dân quét mã QR trên màn hình cảm ơn và trả lời trên điện thoại; mỗi góp ý gắn với "
                   "lượt đánh giá tại quầy.",
           "no_contact": "Thông tin liên hệ chỉ hiện với tài khoản quản trị.",
           "time": "Thời gian", "centre": "Trung tâm", "counter": "Quầy", "face": "Mặt đánh giá",
           "officer": "Cán bộ", "service": "Thủ tục", "ticket": "Số phiếu", "comment": "Ý kiến",
           "contact": "Liên hệ", "rating_id": "Mã lượt đánh giá",
           "elements": ("Tiếp cận dịch vụ", "Thủ tục hành chính", "Công chức", "Kết quả", "Xử lý góp ý")},
    "en": {"title": "Feedback by QR", "period": "Period", "show": "Show", "answers": "answers",
           "empty": "No answers in this period.",
           "note": "Citizens scan the QR on the thank-you screen and answer on their phone; each answer is tied "
                   "to the rating made at the counter.",
           "no_contact": "Contact details are shown to admin accounts only.",
           "time": "Time", "centre": "Centre", "counter": "Counter", "face": "Face", "officer": "Officer",
           "service": "Procedure", "ticket": "Ticket", "comment": "Comment", "contact": "Contact",
           "rating_id": "Rating id",
           "elements": ("Access", "Procedures", "Civil servant", "Result", "Feedback handling")},
}


def collect(app, scope, params: dict, lang: str, with_contact: bool) -> dict:
    """The answers of the scope and period (?period= like every page, default this month)."""
    from ..web.filters import filter_sites, period_of

    period = period_of(params, app.cfg.timezone, app.now())
    sites = filter_sites(app, scope, params)
    rows = answers.joined(app.db, sites, period.start_ms, period.end_ms, with_contact, LIMIT)
    tz = period.start.tzinfo
    h = app.hierarchy
    for r in rows:
        r["time"] = datetime.fromtimestamp(r.pop("submitted_ms") / 1000, timezone.utc).astimezone(tz) \
            .strftime("%Y-%m-%d %H:%M")
        r["centre_name"] = h.group("centre", r["site"])[1] if r["site"] else ""
        r["officer_name"] = (h.label("officer", r["officer"], lang) or r["officer"]) if r["officer"] else None
        r["service_name"] = (h.label("service", r["service"], lang) or r["service"]) if r["service"] else None
    means = []
    for e in answers.ELEMENTS:
        got = [r[e] for r in rows if r[e] is not None]
        means.append((e, round(sum(got) / len(got), 2) if got else None, len(got)))
    return {"period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
            "scope": str(scope), "contact_included": with_contact, "truncated": len(rows) >= LIMIT,
            "means": [{"element": e, "mean": m, "answers": n} for e, m, n in means], "answers": rows}


def table(data: dict, lang: str) -> Table:
    w = WORDS[lang]
    head = [w["time"], w["centre"], w["counter"], w["face"], w["officer"], w["service"], w["ticket"],
            *w["elements"], w["comment"]]
    if data["contact_included"]:
        head.append(w["contact"])
    head.append(w["rating_id"])
    rows = []
    for r in data["answers"]:
        face = f"{r['rating']}/{r['scale']}" if r["rating"] is not None else ""
        line = [r["time"], r["centre_name"] or r["site"], r["device"], face, r["officer_name"] or "", r["service_name"] or "",
                r["ticket"] or "", *[r[e] for e in answers.ELEMENTS], r["comment"] or ""]
        if data["contact_included"]:
            line.append(r["contact"] or "")
        line.append(r["rating_id"])
        rows.append(line)
    return Table(w["title"], head, rows)


def routes(app, answering, session_of, shell_values) -> list[Route]:
    """Added to the dashboard's routes (collector/web/server.py assembles them)."""
    from ..web import guards
    from ..web.base import XLSX_TYPE, answer, client_of, csv_text, lang_of, params_of, text, to_login
    from ..web.filters import ApiError
    from ..web.layout import Page, render

    def page(request: Request, fmt: str | None):
        session = session_of(app, request)
        params = params_of(request)
        lang, set_cookies = lang_of(app, request, params)
        if session is None:
            return to_login(request, set_cookies)
        account = session.account
        w = WORDS[lang]
        try:
            data = collect(app, account.scope, params, lang, account.is_admin)
        except ApiError as exc:
            return text(exc.status, str(exc))
        if account.is_admin and any(r["contact"] for r in data["answers"]):
            app.store.audit(account.username, "followup-contacts", f"{data['period']['label']}{'.' + fmt if fmt else ''}",
                            detail=f"{sum(1 for r in data['answers'] if r['contact'])} contacts",
                            client=client_of(app, request), scope=account.scope)
        tbl = table(data, lang)
        name = f"followup-{data['period']['label']}"
        if fmt:
            app.store.audit(account.username, "export", f"{name}.{fmt}", client=client_of(app, request),
                            scope=account.scope)
            body = to_csv([tbl]) if fmt == "csv" else to_xlsx([tbl])
            ctype = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
            return answer(200, body, ctype, {"Content-Disposition": guards.attachment(f"{name}.{fmt}")})
        means = [(label, "–" if m["mean"] is None else f"{m['mean']:.2f}", m["answers"])
                 for label, m in zip(w["elements"], data["means"])]
        rows = [{"rating_id": r[-1], "cells": list(zip(tbl.headers, ["–" if v is None or v == "" else v for v in r]))}
                for r in tbl.rows]
        content = Markup(ENV.get_template("followup_list.html").render(
            w=w, period_label=data["period"]["label"], error="", with_contact=data["contact_included"],
            means=means, head=tbl.headers, rows=rows))
        pg = Page("followup", w["title"], "", tables=[tbl])
        plain = {k: v for k, v in params.items() if k in ("period", "province", "commune", "centre", "site")}
        html = render("shell.html", lang, content=content, **shell_values(app, session, pg, lang, plain, "/followup"))
        return answer(200, html, set_cookies=set_cookies)

    def api_answer(request: Request):
        auth = request.headers.get("authorization", "")
        if auth:
            kind, _, secret = auth.partition(" ")
            token = app.store.token(secret.strip()) if kind.lower() == "bearer" else None
            caller = (token.scope, "token:" + token.id, False) if token else None
        else:
            session = session_of(app, request)
            caller = (session.account.scope, "account:" + session.account.username, session.account.is_admin) \
                if session else None
        if caller is None:
            return text(401, "send 'Authorization: Bearer <token>' with a token an admin created",
                        {"WWW-Authenticate": 'Bearer realm="hailong"'})
        scope, key, admin = caller
        wait = app.api_limiter.take(key)
        if wait:
            return text(429, f"too many requests; try again in {int(wait) + 1} s", {"Retry-After": str(int(wait) + 1)})
        params = params_of(request)
        fmt = params.get("format", "json")
        if fmt not in ("json", "csv"):
            return text(400, "format must be json or csv")
        lang = params.get("lang") if params.get("lang") in ("vi", "en") else app.cfg.dashboard.lang
        try:
            data = collect(app, scope, params, lang, admin)
        except ApiError as exc:
            return answer(exc.status, json.dumps({"error": str(exc)}), "application/json")
        if admin and any(r["contact"] for r in data["answers"]):
            app.store.audit(key.split(":", 1)[1], "followup-contacts", f"api {data['period']['label']}",
                            client=client_of(app, request), scope=scope)
        if fmt == "csv":
            tbl = table(data, lang)
            return answer(200, csv_text([tbl.headers, *tbl.rows]), "text/csv; charset=utf-8")
        return answer(200, json.dumps(data, ensure_ascii=False), "application/json")

    def handler(fn, *args):
        @answering
        async def handle(request: Request):
            return await app.work(fn, request, *args)
        return handle

    return [Route("/followup", handler(page, None), methods=["GET", "HEAD"]),
            Route("/followup.csv", handler(page, "csv"), methods=["GET", "HEAD"]),
            Route("/followup.xlsx", handler(page, "xlsx"), methods=["GET", "HEAD"]),
            Route("/api/v1/followup", handler(api_answer), methods=["GET", "HEAD"])]
