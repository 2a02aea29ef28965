"""Who receives alerts and reports, and whether a scope covers a place.

Scheduled reports and alert e-mails go to the dashboard accounts that have an e-mail address (each its own
scope, language and report periods; disabled accounts get nothing), and to the extra recipients of
``notify.recipients`` in collector.yaml. Anything that yields ``Recipient`` objects is a
``RecipientSource``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from ..reports.hierarchy import Hierarchy


@dataclass(frozen=True)
class Recipient:
    key: str  # stable identity: a scheduled report is sent once per (period, key)
    name: str
    email: str
    lang: str = "vi"
    scope: str = "all"  # all, a province, commune or centre slug
    reports: tuple[str, ...] = ()  # month, quarter, 6m, 9m, year
    alerts: bool = True


class RecipientSource(Protocol):
    def recipients(self) -> list[Recipient]: ...


class ConfigRecipients:
    """``notify.recipients`` of collector.yaml."""

    def __init__(self, cfg):
        self._list = [Recipient(r.email.lower(), r.name, r.email, r.lang, r.scope, tuple(r.reports), r.alerts)
                      for r in cfg.notify.recipients]

    def recipients(self) -> list[Recipient]:
        return list(self._list)


class AccountRecipients:
    """Enabled dashboard accounts with an e-mail address, read from the database at each call (an account
    changed on the admin page counts from the next round on). They receive the scheduled reports they take
    and the alert e-mails of their scope, as the dashboard's Alerts page shows them."""

    def __init__(self, db):
        self.db = db

    def recipients(self) -> list[Recipient]:
        from ..accounts.accounts import Store
        from ..reports.hierarchy import Hierarchy

        return [Recipient(account_key(a.username), a.username, a.email, a.lang,
                          "all" if a.scope.is_all else a.scope.slug, a.reports, alerts=True)
                for a in Store(self.db, Hierarchy()).report_accounts()]


def account_key(username: str) -> str:
    """An account's identity in the sent-reports record: its name, so a changed address does not resend."""
    return f"account:{username}"


class Combined:
    """Several sources, one after the other (accounts first, then collector.yaml)."""

    def __init__(self, *sources: RecipientSource):
        self.sources = sources

    def recipients(self) -> list[Recipient]:
        return [r for s in self.sources for r in s.recipients()]


def everyone(cfg, db) -> RecipientSource:
    """The recipients of a collector: its accounts with an e-mail address and ``notify.recipients``."""
    return Combined(AccountRecipients(db), ConfigRecipients(cfg))


def ancestors(place: str, hierarchy: Hierarchy) -> set[str]:
    """The place itself and every level above it (centre -> commune -> province); "" is the whole system."""
    if not place:
        return {""}
    out = {place}
    p = hierarchy.places.get(place)
    if p is not None:
        out |= {p.province, p.commune, p.centre}
        return out
    for site, pl in hierarchy.places.items():
        if pl.commune == place:
            out.add(pl.province)
            break
    return out


def covers(scope: str, place: str, hierarchy: Hierarchy) -> bool:
    """True when a recipient of ``scope`` may see something about ``place``."""
    return scope == "all" or scope in ancestors(place, hierarchy)


def scope_name(scope: str, hierarchy: Hierarchy, lang: str) -> str:
    if scope == "all":
        return {"vi": "Toàn hệ thống", "en": "Whole system"}[lang]
    for pl in hierarchy.places.values():
        for slug, name in ((pl.province, pl.province_name), (pl.commune, pl.commune_name), (pl.centre, pl.centre_name)):
            if slug == scope:
                return name
    return scope


def known_scopes(hierarchy: Hierarchy) -> set[str]:
    out = {"all"}
    for site, pl in hierarchy.places.items():
        out |= {site, pl.province, pl.commune, pl.centre}
    return out


def for_alerts(recipients: Iterable[Recipient], place: str, hierarchy: Hierarchy) -> list[Recipient]:
    return [r for r in recipients if r.alerts and covers(r.scope, place, hierarchy)]
