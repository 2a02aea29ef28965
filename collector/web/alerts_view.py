"""Alerts pushed by collector/alerting on the dashboard: the list within the account's scope, acknowledge
and comment (POST with the form token), and the alert rules an admin may read."""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..accounts.accounts import Scope, site_allowed
from ..alerting.history import acknowledge, add_comment, list_alerts
from ..alerting.messages import RATE_KINDS
from ..alerting.recipients import covers
from ..reports.export import Table
from .layout import table_view


def alert_scope(scope: Scope) -> str:
    """The account's scope as the alerting module writes scopes: 'all' or a place slug."""
    return "all" if scope.is_all else scope.slug


def pushed(db, tz: str, hierarchy, scope: Scope, sites: frozenset[str] | None = None, limit: int = 100) -> list[dict]:
    """Alerts within ``scope`` (and the page's place filter), newest first, with their notes."""
    alerts = list_alerts(db, tz, hierarchy, alert_scope(scope), limit=limit)
    if sites is not None:
        alerts = [a for a in alerts if a["place"] and (site_allowed(a["place"], sites, hierarchy)
                                                       or any(covers(a["place"], s, hierarchy) for s in sites))]
    return alerts


def rules_in_scope(app, scope: Scope, lang: str = "vi"):
    """The alert rules of collector.yaml whose subjects lie within ``scope``, as a table (None when none)."""
    from ..alerting.messages import rule_title
    from .i18n import t

    rows = []
    for rule in getattr(app.cfg.alerts, "rules", []) or []:
        place = rule.scope
        if place.startswith("device:"):
            place = place.split(":", 1)[1].split("/")[0]
        visible = scope.is_all or (not place.startswith("officer:") and place != "all"
                                   and covers(alert_scope(scope), place, app.hierarchy))
        if visible:
            per = getattr(rule, "per", None)
            rows.append([rule_title(rule.kind, lang, per or ("centre" if rule.kind in RATE_KINDS else None)),
                         rule.name, rule.scope, rule.threshold])
    if not rows:
        return None
    return table_view(Table("", [t(lang, "name"), t(lang, "key"), t(lang, "scope"), t(lang, "threshold")], rows),
                      num_from=3, caption=False)


def routes(app, answering, read_form, session_of, cross_site) -> list[Route]:
    from starlette.concurrency import run_in_threadpool

    from . import guards
    from .base import client_of, redirect, refuse

    def act(session, action: str, form: dict, client: str) -> int:
        try:
            alert_id = int(form.get("alert", ""))
        except ValueError:
            return 400
        mine = {a["id"]: a for a in pushed(app.db, app.cfg.timezone, app.hierarchy, session.account.scope, limit=1000)}
        if alert_id not in mine:
            return 404  # outside the scope looks the same as missing
        who = session.account.username
        if action == "ack":
            acknowledge(app.db, alert_id, who, form.get("comment", "")[:1000])
        else:
            try:
                add_comment(app.db, alert_id, who, form.get("comment", "")[:1000])
            except ValueError:
                return 400
        app.store.audit(who, f"alert-{action}", str(alert_id), form.get("comment", "")[:200], client,
                        session.account.scope)
        return 303

    @answering
    async def post(request: Request):
        action = request.path_params["action"]
        form = await read_form(app, request)
        if action not in ("ack", "comment"):
            return refuse(404, "not_found")
        session = await run_in_threadpool(session_of, app, request)
        if session is None:
            return redirect("/login?next=/alerts")
        if cross_site(request) or not guards.same_token(session.csrf, form.get("csrf")):
            return refuse(403, "form_alerts")
        status = await run_in_threadpool(act, session, action, form, client_of(app, request))
        if status == 303:
            return redirect("/alerts")
        return refuse(status, "no_alert" if status == 404 else "comment")

    return [Route("/alerts/{action}", post, methods=["POST"])]
