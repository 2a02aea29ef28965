"""The read-only API, /api/v1/...: satisfaction summaries, officers, device health and alerts, in JSON or CSV.

Consumers (a province's information system, a BI tool) send ``Authorization: Bearer hl_...``, a token
an admin created; a signed-in dashboard session works too. Every answer holds only the token's (or
account's) scope; each token has its own request budget (429 with Retry-After past it).
"""
from __future__ import annotations

import json
import threading
import time

from starlette.requests import Request
from starlette.routing import Route

from ..accounts.accounts import Scope, site_allowed
from .base import csv_text  # noqa: F401  (api.csv_text, as before)
from .filters import ApiError, dims_of, filter_sites, outside, period_of  # noqa: F401  (api.X, as before)



class TokenLimiter:
    """A token bucket per API token: ``burst`` requests at once, refilled at ``per_s`` a second."""

    def __init__(self, burst: int = 60, per_s: float = 2.0):
        self.burst, self.per_s = burst, per_s
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        with self._lock:
            now = time.monotonic()
            level, last = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.per_s)
            if level < 1:
                self._buckets[key] = (level, now)
                return (1 - level) / self.per_s
            self._buckets[key] = (level - 1, now)
            return 0.0


def row_filter(params: dict):
    """?device=SITE/DEVICE, ?officer=, ?service= narrow the ratings counted."""
    device, officer, service = params.get("device"), params.get("officer"), params.get("service")
    if not (device or officer or service):
        return None
    site, _, dev = (device or "").partition("/")

    def only(rows):
        return [r for r in rows if (not device or (r.site == site and r.device == dev))
                and (officer is None or r.officer == officer) and (service is None or r.service == service)]
    only.cache_key = ("api", device, officer, service)
    # the columns the filter reads, fetched whatever the grouping (by=reason&officer=X needs the officer too)
    only.needs = frozenset(c for c, v in (("device", device), ("officer", officer), ("service", service)) if v is not None)
    return only


# ---------------------------------------------------------------------------------------- answers
def summary(app, scope: Scope, params: dict) -> dict:
    dims = dims_of(params)
    period = period_of(params, app.cfg.timezone, app.now())
    sites = filter_sites(app, scope, params)
    only = row_filter(params)
    if only is not None and params.get("device"):
        site = params["device"].partition("/")[0]
        if not site_allowed(site, sites, app.hierarchy):
            raise ApiError(403, "the device filter is not within this token's or account's scope",
                           outside("device", params["device"]))
    lang = params.get("lang") if params.get("lang") in ("vi", "en") else app.cfg.dashboard.lang
    rows = app.data.reports([(period, [dims], only, lang, sites)])[0][0]
    if params.get("officer"):  # one officer's ratings: the same minimum as a grouping by officer
        from ..reports.privacy import hide_one_officer
        rows = hide_one_officer(rows, dims, app.cfg.evaluation.min_ratings)
    from ..reports.speaking import speaking_count

    return {"period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
            "by": list(dims), "scope": str(scope),
            "rows": [{"keys": list(r.keys), **r.to_dict()} for r in rows],
            # ratings made in the kiosk's speaking mode, in the period and the sites (not narrowed by ?device=)
            "speaking_mode": speaking_count(app.db, period.start_ms, period.end_ms, sites)}


def device_health(app, scope: Scope, params: dict) -> dict:
    from .context import Ctx
    from .device_state import device_status

    from ..completeness import completeness_view

    sites = filter_sites(app, scope, params)
    ctx = Ctx(app.data, app.cfg, app.hierarchy, app.cfg.dashboard.lang, {}, app.now(), sites)
    from .device_config import ConfigView, is_shared

    complete = completeness_view.device_cells(app.db, app.cfg.timezone)
    configs = ConfigView(app.db)
    out = []
    for d in device_status(ctx, configs.desired):
        rate, missing = complete.get((d["site"], d["device"]), (None, ""))
        fl = configs.line(d)
        out.append({"site": d["site"], "device": d["device"], "name": d["name"], "state": d["state"],
                    "silent": d["silent"], "last_seen": d["last"].isoformat() if d["last"] else None,
                    "outbox_depth": d["outbox_depth"], "clock_skew_s": d["clock_skew_s"],
                    "unreceipted": d.get("unreceipted"), "unreceipted_since": d.get("unreceipted_since"),
                    "receipts": d.get("receipts"), "shared_id": is_shared(d, int(ctx.now.timestamp() * 1000)),
                    "app_version": d["app_version"], "complete_rate": rate, "missing": missing,
                    "last_rating_ts": d.get("last_rating_ts"), "clock": d.get("clock"),
                    "config_hash": fl.applied or None, "desired_config_hash": fl.desired or None,
                    "config_current": {"yes": True, "no": False}.get(fl.current),
                    "config_refused": configs.refused(d, fl) or None,
                    "takes_pushes": {"on": True, "off": False}.get(d.get("pushes"))})
    return {"scope": str(scope), "devices": out}


def alerts(app, scope: Scope, params: dict) -> dict:
    from .context import Ctx
    from .device_state import device_status, low_satisfaction

    sites = filter_sites(app, scope, params)
    ctx = Ctx(app.data, app.cfg, app.hierarchy, app.cfg.dashboard.lang, {}, app.now(), sites)
    out = [{"kind": "low_satisfaction", "level": dim, "group": r.group, "name": r.name, "count": r.count,
            "satisfied_rate": r.satisfied_rate} for dim, r in low_satisfaction(ctx)]
    out += [{"kind": "device_silent", "level": "counter", "group": f"{d['site']}/{d['device']}", "name": d["name"],
             "last_seen": d["last"].isoformat() if d["last"] else None} for d in device_status(ctx) if d["silent"]]
    from ..completeness import completeness_view
    from .alert_lists import pushed

    out += [{"kind": "messages_missing", "level": "counter", "group": f"{site}/{device}", "epoch": epoch,
             "seqs": seqs, "since": str(since)}
            for site, device, epoch, seqs, since in completeness_view.gap_rows(
                app.db, app.now(), app.cfg.completeness.gap_alert_after_min)
            if site_allowed(site, sites, app.hierarchy)]
    sent = [{"id": a["id"], "rule": a["rule"], "kind": a["kind"], "subject": a["subject"], "name": a["subject_name"],
             "place": a["place"], "fired_at": a["fired_at"], "cleared_at": a["cleared_at"], "value": a["value"],
             "acked_at": a["acked_at"], "acked_by": a["acked_by"]}
            for a in pushed(app.db, app.cfg.timezone, app.hierarchy, scope, sites)]
    return {"scope": str(scope), "alerts": out, "pushed": sent}


def officers(app, scope: Scope, params: dict) -> dict:
    """The officer evaluation's figures (collector/reports/officer_report.py) for the scope and period."""
    from . import officer_data

    period = period_of(params, app.cfg.timezone, app.now())
    sites = filter_sites(app, scope, params)
    lang = params.get("lang") if params.get("lang") in ("vi", "en") else app.cfg.dashboard.lang
    rows, quality = officer_data.figures(app.db, app.cfg, period, app.hierarchy, sites)
    return officer_data.api_answer(rows, quality, period, app.cfg, app.hierarchy, scope, lang)


def to_csv_rows(kind: str, data: dict) -> list[list]:
    if kind == "summary":
        head = ["keys", "group", "name", "count", "satisfied", "satisfied_rate", "mean_score", "flagged"]
        return [head] + [[" · ".join(r["keys"]), r["group"], r["name"], r["count"], r["satisfied"],
                          r["satisfied_rate"], r["mean_score"], r["flagged"]] for r in data["rows"]]
    if kind == "officers":
        from .officer_data import csv_rows
        return csv_rows(data)
    items = data["devices"] if kind == "devices" else data["alerts"]
    head = sorted({k for item in items for k in item}) or ["none"]
    return [head] + [[item.get(k) for k in head] for item in items]


ENDPOINTS = {"summary": summary, "devices": device_health, "alerts": alerts, "officers": officers}


def routes(app, answering, session_of) -> list[Route]:
    from .openapi import document
    from .base import answer, params_of, text

    def who(request: Request):
        """(scope, rate-limit key, name for the audit) of a token or a signed-in account; None if neither."""
        auth = request.headers.get("authorization", "")
        if auth:
            kind, _, secret = auth.partition(" ")
            token = app.store.token(secret.strip()) if kind.lower() == "bearer" else None
            return (token.scope, "token:" + token.id, f"token {token.id}") if token else None
        session = session_of(app, request)
        if session is None:
            return None
        return session.account.scope, "account:" + session.account.username, session.account.username

    def respond(kind: str, request: Request):
        caller = who(request)
        if caller is None:
            return text(401, "send 'Authorization: Bearer <token>' with a token an admin created",
                        {"WWW-Authenticate": 'Bearer realm="hailong"'})
        scope, key, _ = caller
        wait = app.api_limiter.take(key)
        if wait:
            return text(429, f"too many requests for this token; try again in {int(wait) + 1} s",
                        {"Retry-After": str(int(wait) + 1)})
        params = params_of(request)
        fmt = params.get("format", "json")
        if fmt not in ("json", "csv"):
            return text(400, "format must be json or csv")
        try:
            data = ENDPOINTS[kind](app, scope, params)
        except ApiError as exc:
            return answer(exc.status, json.dumps({"error": str(exc)}), "application/json")
        if fmt == "csv":
            return answer(200, csv_text(to_csv_rows(kind, data)), "text/csv; charset=utf-8")
        return answer(200, json.dumps(data, ensure_ascii=False), "application/json")

    def endpoint(kind: str):
        @answering
        async def handle(request: Request):
            return await app.work(respond, kind, request, long=kind == "officers")
        return handle

    @answering
    async def openapi(request: Request):
        return answer(200, json.dumps(document(), ensure_ascii=False), "application/json")

    return [Route("/api/v1/openapi.json", openapi, methods=["GET", "HEAD"])] + [
        Route(f"/api/v1/{kind}", endpoint(kind), methods=["GET", "HEAD"]) for kind in ENDPOINTS]
