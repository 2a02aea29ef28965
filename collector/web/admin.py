"""The admin page: accounts (with where their scheduled reports go), sessions, API tokens and the audit
log, each limited to the admin's scope.

Every change is a POST carrying the session's form token (CSRF), is checked against the admin's scope
by accounts.Store, and is written to the audit log.
"""
from __future__ import annotations

from datetime import datetime, timezone

from starlette.requests import Request
from starlette.routing import Route

from ..accounts.accounts import LANGS, LEVELS, REPORT_KINDS, ROLES, AccountError, Scope, delivery_detail, within
from ..reports.report import _zone
from .i18n import t
from .layout import Page, render

ACTIONS = ("add-account", "disable", "enable", "reset-password", "set-reports", "revoke-session", "add-token",
           "revoke-token")
# Words of the reports columns and forms (the rest of the page uses i18n.TEXT)
WORDS = {
    "vi": {"email": "Thư điện tử", "lang": "Ngôn ngữ báo cáo", "reports": "Báo cáo định kỳ", "save": "Lưu",
           "no_email": "không gửi (chưa có thư điện tử)", "none": "không nhận",
           "kinds": {"month": "Tháng", "quarter": "Quý", "6m": "6 tháng", "9m": "9 tháng", "year": "Năm"},
           "langs": {"vi": "Tiếng Việt", "en": "English"}},
    "en": {"email": "E-mail", "lang": "Report language", "reports": "Scheduled reports", "save": "Save",
           "no_email": "none sent (no e-mail address)", "none": "none",
           "kinds": {"month": "Month", "quarter": "Quarter", "6m": "6 months", "9m": "9 months", "year": "Year"},
           "langs": {"vi": "Tiếng Việt", "en": "English"}},
}


def reports_words(account, lang: str) -> str:
    """The periods an account receives, in words ("Tháng, Quý, Năm"), or why it receives none."""
    w = WORDS[lang if lang in WORDS else "vi"]
    if not account.email:
        return w["no_email"]
    return ", ".join(w["kinds"][k] for k in account.reports) or w["none"]


def form_reports(form: dict) -> list[str]:
    """The ticked period boxes of a form (one field per period: a form dict keeps one value per name)."""
    return [k for k in REPORT_KINDS if form.get(f"report-{k}")]


def scope_choices(app, admin_scope: Scope, lang: str) -> list[tuple[str, str]]:
    """Every scope an admin may hand out: its own and each place below it."""
    out, seen = [], set()
    if admin_scope.is_all:
        out.append(("all", app.scope_name(Scope("all"), lang)))
    for p in app.hierarchy.places.values():
        for level in LEVELS:
            scope = Scope(level, getattr(p, level))
            if str(scope) in seen or not within(admin_scope, scope, app.hierarchy):
                continue
            seen.add(str(scope))
            depth = "\u2003" * LEVELS.index(level)
            out.append((str(scope), f"{depth}{getattr(p, level + '_name')} ({scope})"))
    return out


def _when(app, ms: int | None) -> str:
    if not ms:
        return "–"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(_zone(app.cfg.timezone)).strftime("%Y-%m-%d %H:%M")


def admin_values(app, session, lang: str) -> dict:
    scope = session.account.scope
    store = app.store
    rules = []
    try:  # the alert rules of collector.yaml within the admin's scope, when alerting is configured
        from .alert_lists import rules_in_scope
        rules = rules_in_scope(app, scope, lang)
    except ImportError:
        pass
    return {
        "accounts": store.list(scope), "sessions": [{**s, "created": _when(app, s["created_ms"]),
                                                       "expires": _when(app, s["expires_ms"])}
                                                      for s in store.sessions(scope)],
        "tokens": [{**tk, "created": _when(app, tk["created_ms"])} for tk in store.tokens(scope)],
        "audit": [{**a, "time": _when(app, a["ts_ms"])} for a in store.audit_log(scope)],
        "scopes": scope_choices(app, scope, lang), "roles": ROLES, "rules": rules,
        "w": WORDS[lang if lang in WORDS else "vi"], "kinds": REPORT_KINDS, "langs": LANGS,
        "reports_words": lambda a: reports_words(a, lang),
    }


def routes(app, answering, read_form, session_of, shell_values, cross_site) -> list[Route]:
    from starlette.concurrency import run_in_threadpool

    from .base import answer, client_of, lang_of, params_of, redirect, refuse, to_login

    def page_html(session, lang, params, message="", error="", new_token=""):
        from markupsafe import Markup

        page = Page("admin", t(lang, "admin"), "admin.html")
        content = render("admin.html", lang, message=message, error=error, new_token=new_token, csrf=session.csrf,
                         **admin_values(app, session, lang))
        return render("shell.html", lang, content=Markup(content), **shell_values(app, session, page, lang, {}, "/admin"))

    @answering
    async def show(request: Request):
        params = params_of(request)
        lang, set_cookies = lang_of(app, request, params)
        session = await run_in_threadpool(session_of, app, request)
        if session is None:
            return to_login(request, set_cookies)
        if not session.account.is_admin:
            return refuse(403, "admin_only")
        message = t(lang, "done") if params.get("done") else ""
        html = await run_in_threadpool(page_html, session, lang, params, message)
        return answer(200, html, set_cookies=set_cookies)

    @answering
    async def act(request: Request):
        action = request.path_params["action"]
        form = await read_form(app, request)
        if action not in ACTIONS:
            return refuse(404, "not_found")
        session = await run_in_threadpool(session_of, app, request)
        if session is None:  # a form sent after the session ended: back to the admin page once signed in
            return redirect("/login?next=/admin")
        from . import guards
        if cross_site(request) or not guards.same_token(session.csrf, form.get("csrf")):
            return refuse(403, "form_admin")
        if not session.account.is_admin:
            return refuse(403, "admin_only")
        lang, _ = lang_of(app, request, {})
        client = client_of(app, request)
        try:
            new_token = await run_in_threadpool(perform, app, session.account, action, form, client)
        except AccountError as exc:
            html = await run_in_threadpool(page_html, session, lang, {}, "", str(exc))
            return answer(400, html)
        if new_token:  # shown once, in this answer only
            html = await run_in_threadpool(page_html, session, lang, {}, t(lang, "done"), "", new_token)
            return answer(200, html)
        return redirect("/admin?done=1")

    return [Route("/admin", show, methods=["GET", "HEAD"]), Route("/admin/{action}", act, methods=["POST"])]


def perform(app, by, action: str, form: dict, client: str) -> str:
    """Carries out one admin action (raising AccountError when refused); returns a new token's secret."""
    store = app.store
    user = form.get("username", "")
    if action == "add-account":
        account = store.add(user, form.get("password", ""), form.get("role", "viewer"),
                            Scope.parse(form.get("scope", "")), by=by, email=form.get("email", ""),
                            lang=form.get("lang", "vi"), reports=form_reports(form))
        store.audit(by.username, "account-added", account.username, f"{account.role} {account.scope}"
                    + delivery_detail(account), client, account.scope)
    elif action == "set-reports":
        account, changed = store.set_delivery(user, email=form.get("email", ""), lang=form.get("lang", ""),
                                              reports=form_reports(form), by=by)
        if changed:
            store.audit(by.username, "account-changed", user, changed, client, account.scope)
    elif action in ("disable", "enable"):
        account = store.set_disabled(user, action == "disable", by=by)
        store.audit(by.username, f"account-{action}d", user, "", client, account.scope)
    elif action == "reset-password":
        account = store.reset_password(user, form.get("password", ""), by=by)
        store.audit(by.username, "password-reset", user, "", client, account.scope)
    elif action == "revoke-session":
        owner = store.revoke_session(form.get("session", ""), by=by)
        account = store.get(owner)
        store.audit(by.username, "session-revoked", owner, "", client, account.scope if account else None)
    elif action == "add-token":
        token, secret = store.add_token(form.get("name", ""), Scope.parse(form.get("scope", "")), by=by)
        store.audit(by.username, "token-added", f"{token.id} {token.name}", str(token.scope), client, token.scope)
        return secret
    elif action == "revoke-token":
        token = store.revoke_token(form.get("token", ""), by=by)
        store.audit(by.username, "token-revoked", f"{token.id} {token.name}", "", client, token.scope)
    return ""
