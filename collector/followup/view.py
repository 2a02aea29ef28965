"""What managers see of the thank-you QR's answers, within their scope (the dashboard's accounts and tokens):

- /followup            a dashboard page: the five SIPAS elements' mean scores and one line per answer with
                       the rating's face, centre, counter, officer, service, the scores and the comment;
- /followup.csv, .xlsx the same lines (texts never run as formulas: collector/reports/export.py); the XLSX adds the
                       grouping by SIPAS element (CSV: ?by=element);
- /followup.pdf        the elements' table and the comments, printable (never the contact details);
- /api/v1/followup     JSON or CSV (?format=csv), for a token or a signed-in account.
Contact details go only to admin accounts signed in to the dashboard, and each time they are shown or
exported an audit line says who saw them. API tokens never get them.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.routing import Route

from ..reports.export import to_csv, to_xlsx
from . import answers
from .summary import GROUPS, WORDS, element_table, gather, general_table, grouped_table, table

ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                  lstrip_blocks=True, auto_reload=False)
def collect(app, scope, params: dict, lang: str, with_contact: bool) -> dict:
    """The answers of the scope and period (?period= like every page, default this month)."""
    from ..web.filters import filter_sites, period_of

    period = period_of(params, app.cfg.timezone, app.now())
    sites = filter_sites(app, scope, params)
    data = gather(app.db, app.cfg, app.hierarchy, sites, period, lang, with_contact)
    data["scope"] = str(scope)
    return data



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
            data = collect(app, account.scope, params, lang, account.is_admin and fmt != "pdf")  # paper: no contacts
        except ApiError as exc:
            return text(exc.status, str(exc))
        if account.is_admin and any(r["contact"] for r in data["answers"] + data["general"]["answers"]):
            app.store.audit(account.username, "followup-contacts", f"{data['period']['label']}{'.' + fmt if fmt else ''}",
                            detail=f"{sum(1 for r in data['answers'] + data['general']['answers'] if r['contact'])} contacts",
                            client=client_of(app, request), scope=account.scope)
        tbl = table(data, lang)
        by_element = element_table(data, lang, lambda k: app.hierarchy.label("reason", k, lang) or k)
        gen = general_table(data, lang)
        group = params.get("group") if params.get("group") in GROUPS else None
        by_group = grouped_table(data, group, lang, app.hierarchy) if group else None
        name = f"followup-{data['period']['label']}"
        if fmt:
            app.store.audit(account.username, "export", f"{name}.{fmt}", client=client_of(app, request),
                            scope=account.scope)
            if fmt == "csv":  # one table a file: ?by=element the grouping by SIPAS element, ?by=general the counter QR's
                body = to_csv([by_group if by_group else {"element": by_element, "general": gen}.get(params.get("by", ""), tbl)])
            elif fmt == "pdf":
                from ..alerting.followup_pdf import render as render_pdf

                body = render_pdf(w["title"], str(account.scope), data["period"]["label"], by_element, data, lang)
            else:
                body = to_xlsx([tbl, by_element, gen] + ([by_group] if by_group else []))
            ctype = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}.get(fmt, XLSX_TYPE)
            return answer(200, body, ctype, {"Content-Disposition": guards.attachment(f"{name}.{fmt}")})
        means = [(label, "–" if m["mean"] is None else f"{m['mean']:.2f}", m["answers"])
                 for label, m in zip(w["elements"], data["means"])]
        rows = [{"rating_id": r[-1], "cells": list(zip(tbl.headers, ["–" if v is None or v == "" else v for v in r]))}
                for r in tbl.rows]
        content = Markup(ENV.get_template("followup_list.html").render(
            by_group=by_group, group=group, groups=[(g, w["group_" + g], "/followup?" + urlencode({
                "period": data["period"]["label"], "group": g, **{
                    k: v for k, v in params.items() if k in ("province", "commune", "centre", "site")}})) for g in GROUPS],
            pdf_href="/followup.pdf?" + urlencode({"period": data["period"]["label"], **{
                k: v for k, v in params.items() if k in ("province", "commune", "centre", "site")}}),
            w=w, period_label=data["period"]["label"], error="", with_contact=data["contact_included"],
            means=means, head=tbl.headers, rows=rows, by_element=by_element, general=gen, general_count=len(gen.rows),
            general_means=[(label, "–" if m["mean"] is None else f"{m['mean']:.2f}", m["answers"])
                           for label, m in zip(w["elements"], data["general"]["means"])]))
        pg = Page("followup", w["title"], "", tables=[tbl, by_element])
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
        if admin and any(r["contact"] for r in data["answers"] + data["general"]["answers"]):
            app.store.audit(key.split(":", 1)[1], "followup-contacts", f"api {data['period']['label']}",
                            client=client_of(app, request), scope=scope)
        if fmt == "csv":
            if params.get("by") == "element":
                tbl = element_table(data, lang, lambda k: app.hierarchy.label("reason", k, lang) or k)
            elif params.get("by") == "general":
                tbl = general_table(data, lang)
            elif params.get("group") in GROUPS:
                tbl = grouped_table(data, params["group"], lang, app.hierarchy)
            else:
                tbl = table(data, lang)
            return answer(200, csv_text([tbl.headers, *tbl.rows]), "text/csv; charset=utf-8")
        if params.get("group") in GROUPS:  # the elements' means per centre, counter, officer or service
            t = grouped_table(data, params["group"], lang, app.hierarchy)
            data["groups"] = [dict(zip(("name", "answers", "comments", "face_mean", *answers.ELEMENTS), r)) for r in t.rows]
        return answer(200, json.dumps(data, ensure_ascii=False), "application/json")

    def handler(fn, *args):
        @answering
        async def handle(request: Request):
            return await app.work(fn, request, *args)
        return handle

    return [Route("/followup", handler(page, None), methods=["GET", "HEAD"]),
            Route("/followup.csv", handler(page, "csv"), methods=["GET", "HEAD"]),
            Route("/followup.xlsx", handler(page, "xlsx"), methods=["GET", "HEAD"]),
            Route("/followup.pdf", handler(page, "pdf"), methods=["GET", "HEAD"]),
            Route("/api/v1/followup", handler(api_answer), methods=["GET", "HEAD"])]
