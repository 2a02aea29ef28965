"""Alerts pushed by collector/alerting on the dashboard: the list within the account's scope, acknowledge
and comment (POST with the form token), and the alert rules an admin may read."""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..alerting.history import acknowledge, add_comment
from .alert_lists import pushed


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
