"""The alerts an account may see (those pushed within its scope, and the rules of collector.yaml about its
places), for the alerts page, the admin page and the API. Imports no view."""
from __future__ import annotations

from ..accounts.accounts import Scope, site_allowed
from ..alerting.history import list_alerts
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
