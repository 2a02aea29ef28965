"""Run the alert rules of collector.yaml over the database, record alerts, queue their notifications.

Figures come from the same tables as the reports and are counted the same way: ``rollup_hour``
through ``report_queries.fetch`` (flagged ratings excluded, as ``report.aggregate`` does), ``ratings`` for
"the last N ratings", ``devices`` for kiosks and ``rejects``. State per (rule, subject) lives in
``alert_state``; a transition is written only if the stored state is still the one read, so two
collectors evaluating at once announce an alert once.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from ..storage.db import Database
from ..reports.hierarchy import Hierarchy
from ..reports.report import _zone
from ..reports.report_queries import HOUR_MS, fetch
from . import rules
from .calendar import Calendar
from .messages import alert_email, subject_line, webhook_payload
from .outbox import enqueue
from .recipients import ConfigRecipients, RecipientSource, covers, for_alerts
from .rules import State
from .timefmt import iso, parse

log = logging.getLogger("collector.alerts")
LOOKBACK = timedelta(days=92)  # "the last N ratings" never reach further back than this
PER_DEFAULT = {"satisfaction_below": "centre", "negative_share": "centre", "device_offline": "counter",
               "outbox_growing": "counter", "rejects_spike": "all", "device_rejects": "counter",
               "receipts_stalled": "centre", "device_shared": "counter", "followup_comment": "answer"}
LIVE_WITHIN = timedelta(minutes=15)  # receipts_stalled: a kiosk heard from this recently is live


@dataclass
class Reading:
    subject: str  # e.g. centre:ubnd-xa-tan-lap, counter:ubnd-xa-tan-lap/quay-01, officer:nguyen-van-an, all
    name: str
    place: str  # centre slug, or the slug of the rule's scope; "" for the whole system
    verdict: Optional[bool]
    value: Optional[float]
    detail: dict = field(default_factory=dict)
    quiet: bool = False
    memo: Optional[str] = None


@dataclass
class Scope:
    sites: Optional[list[str]]  # None: every site
    device: Optional[str] = None
    officer: Optional[str] = None
    place: str = ""


def rule_scope(scope: str, hierarchy: Hierarchy) -> Scope:
    if scope == "all":
        return Scope(None)
    if scope.startswith("device:"):
        site, _, device = scope[7:].partition("/")
        centre = hierarchy.centre_of(site)
        return Scope(sorted(hierarchy.expand([centre])), device, place=centre)
    if scope.startswith("officer:"):
        return Scope(None, officer=scope[8:])
    return Scope(sorted(hierarchy.expand([scope])), place=scope)


class Evaluator:
    def __init__(self, cfg, db: Database, recipients: RecipientSource | None = None,
                 hierarchy: Hierarchy | None = None, calendar: Calendar | None = None):
        self.cfg, self.db = cfg, db
        self.recipients = recipients or ConfigRecipients(cfg)
        self.hierarchy = hierarchy or Hierarchy.from_config(cfg.sites, cfg.labels)
        self.calendar = calendar or Calendar.from_config(cfg)
        self._open: dict = {}
        self._kiosks: dict[str, tuple[str, str]] = {}  # subject -> (centre, display name)
        self._names: dict[tuple[str, str], str] = {}
        self._happy = {scale: frozenset(v) for scale, v in cfg.satisfied.items()}
        self._negative = {scale: frozenset(v) for scale, v in cfg.alerts.negative.items()}
        self._centre_sites: dict[str, list[str]] = {}  # centre -> its current and merged site slugs
        for site, place in self.hierarchy.places.items():
            self._centre_sites.setdefault(place.centre, []).append(site)

    def sites_of(self, centre: str) -> list[str]:
        return sorted(self._centre_sites.get(centre, [centre]))

    # ------------------------------------------------------------------ one evaluation
    def run(self, now: datetime) -> list[tuple[str, str, str]]:
        """Evaluate every rule once; returns the (rule, subject, event) announced."""
        events = []
        devices = None
        self._open = {}
        for rule in self.cfg.alerts.rules:
            try:
                if rule.kind in ("device_offline", "outbox_growing"):
                    if devices is None:
                        devices = self.db.query("SELECT site, device, state, status_ts, last_seen, outbox_depth "
                                                "FROM devices")
                    states = self._states(rule.name)
                    readings = self._device_readings(rule, devices, states, now)
                else:
                    states = self._states(rule.name)
                    readings = {"satisfaction_below": self._rate_readings, "negative_share": self._rate_readings,
                                "rejects_spike": self._reject_readings, "receipts_stalled": self._receipt_readings,
                                "device_shared": self._shared_readings,
                                "device_rejects": self._device_reject_readings,
                                "followup_comment": self._followup_readings}[rule.kind](rule, now, states)
                events += self._apply(rule, readings, states, now)
            except Exception:
                log.exception("alert rule %s could not be evaluated", rule.name)
        return events

    def is_open(self, centre: str | None, now: datetime) -> bool:
        """Calendar.is_open, once per set of opening hours in a run (thousands of kiosks share a few)."""
        hours = self.calendar.hours(centre)
        key = (hours, now)
        if key not in self._open:
            self._open[key] = self.calendar.is_open(centre, now)
        return self._open[key]

    def _states(self, rule: str) -> dict[str, State]:
        rows = self.db.query("SELECT subject, status, since, alert_id, value, memo FROM alert_state WHERE rule = ?",
                             (rule,))
        return {r[0]: State(r[1], parse(r[2]), r[3], r[4], r[5] or "") for r in rows}

    # ------------------------------------------------------------------ rate rules
    def _rate_readings(self, rule, now: datetime, states: dict | None = None) -> list[Reading]:
        per = rule.per or PER_DEFAULT[rule.kind]
        sc = rule_scope(rule.scope, self.hierarchy)
        if rule.hours is not None:
            groups = self._window_groups(rule, per, sc, now)
            window = f"hours:{rule.hours:g}"
        else:
            groups = self._last_n_groups(rule, per, sc, now)
            window = f"ratings:{rule.last_ratings}"
        out = []
        for key, name, count, satisfied, negative in groups:
            place = key.split("/")[0] if per in ("centre", "counter") else sc.place
            if rule.kind == "satisfaction_below":
                value = satisfied / count if count else None
                verdict = rules.rate_below(value, count, rule.threshold, rule.clear_at, rule.min_ratings)
            else:
                value = negative / count if count else None
                verdict = rules.share_above(value, count, rule.threshold, rule.clear_at, rule.min_ratings)
            quiet = not self.is_open(place if per in ("centre", "counter") else None, now)
            out.append(Reading(f"{per}:{key}" if per != "all" else "all", name, place, verdict,
                               None if value is None else round(value, 4),
                               {"count": count, "threshold": rule.threshold, "window": window}, quiet))
        return out

    def _window_groups(self, rule, per: str, sc: Scope, now: datetime) -> list[tuple]:
        """(key, name, count, satisfied, negative) per subject over the last N hours, from the hourly rollup
        (the window ends at the next whole hour). Counted as ``report.aggregate`` counts: flagged ratings
        left out, satisfied by the ``satisfied:`` levels of each scale; summed here directly because
        thousands of counters are evaluated every minute."""
        end_ms = (int(now.timestamp() * 1000) // HOUR_MS + 1) * HOUR_MS
        start_ms = end_ms - math.ceil(rule.hours) * HOUR_MS
        needs = {"centre": {"site"}, "counter": {"site", "device"}, "officer": {"officer"}, "all": set()}[per]
        if sc.device:
            needs |= {"site", "device"}
        if sc.officer:
            needs |= {"officer"}
        rows = fetch(self.db, start_ms, end_ms, needs, tz=self.cfg.timezone, sites=sc.sites)
        groups: dict[str, list[int]] = {}
        centre_of = self.hierarchy.centre_of
        for r in rows:
            if r.flagged or (sc.device is not None and r.device != sc.device) \
                    or (sc.officer is not None and r.officer != sc.officer):
                continue
            if per == "centre":
                key = centre_of(r.site)
            elif per == "counter":
                key = f"{centre_of(r.site)}/{r.device}"
            elif per == "officer":
                if not r.officer:
                    continue  # ratings without an officer are nobody's alert
                key = r.officer
            else:
                key = "all"
            g = groups.get(key)
            if g is None:
                g = groups[key] = [0, 0, 0]
            g[0] += r.n
            if r.rating in self._happy.get(r.scale, ()):
                g[1] += r.n
            if r.rating in self._negative.get(r.scale, ()):
                g[2] += r.n
        return [(key, self._name(per, key, rule), *g) for key, g in sorted(groups.items())]

    def _name(self, per: str, key: str, rule) -> str:
        """Display name of a subject, looked up once."""
        if per == "all":
            return self._all_name(rule)
        name = self._names.get((per, key))
        if name is None:
            lang = self.cfg.dashboard.lang
            if per == "centre":
                name = self.hierarchy.group("centre", key)[1]
            elif per == "counter":
                centre, _, device = key.partition("/")
                name = self.hierarchy.group("counter", centre, device)[1]
            else:
                name = self.hierarchy.label("officer", key, lang) or key
            self._names[(per, key)] = name
        return name

    def _all_name(self, rule) -> str:
        return rule.scope if rule.scope != "all" else {"vi": "Toàn hệ thống", "en": "Whole system"}[self.cfg.dashboard.lang]

    def _last_n_groups(self, rule, per: str, sc: Scope, now: datetime) -> list[tuple]:
        """The last N unflagged ratings of each subject, from the ratings table."""
        since_ms = int((now - LOOKBACK).timestamp() * 1000)
        subjects: list[tuple[str, str, str, list]] = []  # key, name, extra where, params
        if per == "centre":
            centres = sorted({self.hierarchy.centre_of(s) for s in (sc.sites or self._sites(since_ms))})
            for c in centres:
                sites = self.sites_of(c)
                subjects.append((c, self._name("centre", c, rule), f"site IN ({', '.join('?' * len(sites))})", sites))
        elif per == "counter":
            seen = set()
            for site, device in self.db.query("SELECT site, device FROM devices"):
                if sc.sites is not None and site not in sc.sites:
                    continue
                key = f"{self.hierarchy.centre_of(site)}/{device}"
                name = self._name("counter", key, rule)
                if key in seen:
                    continue
                seen.add(key)
                sites = self.sites_of(self.hierarchy.centre_of(site))
                subjects.append((key, name, f"site IN ({', '.join('?' * len(sites))}) AND device = ?", [*sites, device]))
        elif per == "officer":
            officers = [sc.officer] if sc.officer else [r[0] for r in self.db.query(
                "SELECT DISTINCT officer FROM rollup_hour WHERE hour >= ? AND officer <> ''", (since_ms // HOUR_MS,))]
            for o in sorted(officers):
                subjects.append((o, self._name("officer", o, rule), "officer = ?", [o]))
        else:
            subjects.append(("all", self._all_name(rule), "1 = 1", []))
        out = []
        for key, name, where, params in subjects:
            if sc.sites is not None and per in ("officer", "all"):
                where += f" AND site IN ({', '.join('?' * len(sc.sites))})"
                params = [*params, *sc.sites]
            if sc.device and per != "counter":
                where += " AND device = ?"
                params = [*params, sc.device]
            if sc.officer and per != "officer":
                where += " AND officer = ?"
                params = [*params, sc.officer]
            rows = self.db.query(f"SELECT scale, rating FROM ratings WHERE at_ms >= ? AND flags = '' "
                                 f"AND time_unverified = 0 AND {where} ORDER BY at_ms DESC LIMIT ?",
                                 [since_ms, *params, rule.last_ratings])
            satisfied = sum(1 for scale, rating in rows if rating in self._happy.get(scale, ()))
            negative = sum(1 for scale, rating in rows if rating in self._negative.get(scale, ()))
            out.append((key, name, len(rows), satisfied, negative))
        return out

    def _sites(self, since_ms: int) -> list[str]:
        known = set(self.hierarchy.places)
        return sorted(known | {r[0] for r in self.db.query("SELECT DISTINCT site FROM devices")})

    # ------------------------------------------------------------------ kiosks
    def _device_readings(self, rule, devices: list[tuple], states: dict[str, State], now: datetime) -> list[Reading]:
        sc = rule_scope(rule.scope, self.hierarchy)
        wanted = None if sc.sites is None else set(sc.sites)
        out = []
        for site, device, state, status_ts, last_seen, depth in devices:
            if (wanted is not None and site not in wanted) or (sc.device and device != sc.device):
                continue
            subject = f"device:{site}/{device}"
            known = self._kiosks.get(subject)
            if known is None:  # thousands of kiosks, every minute: look each one up once
                known = self._kiosks[subject] = (self.hierarchy.centre_of(site),
                                                 self.hierarchy.group("counter", site, device)[1])
            centre, name = known
            quiet = not self.is_open(centre, now)
            if rule.kind == "device_offline":
                last = parse(last_seen)
                limit = rule.minutes
                if last is not None and now - last < timedelta(minutes=limit):
                    minutes = (now - last).total_seconds() / 60  # fresh: no need to consult the calendar
                else:
                    minutes = self.calendar.open_minutes(centre, last, now, enough=limit) if last else limit
                verdict = rules.silent(minutes, limit)
                out.append(Reading(subject, name, centre, verdict, round(minutes, 1),
                                   {"threshold": limit, "state": state, "last_seen": last_seen}, quiet))
            else:
                old = states.get(subject, State()).memo
                memo = rules.depths_push(old, status_ts, depth, max(rule.statuses, 2))
                history = rules.depths(memo)
                verdict = rules.backlog_growing(history, rule.statuses, rule.min_depth)
                out.append(Reading(subject, name, centre, verdict, history[-1] if history else None,
                                   {"threshold": rule.min_depth, "depths": history}, quiet, memo))
        return out

    def _receipt_readings(self, rule, now: datetime, states: dict | None = None) -> list[Reading]:
        """Per centre: every live kiosk waits longer than ``minutes`` for a receipt (or gave up on them and
        trusts the broker): the collector is not storing, or its receipts do not reach the kiosks."""
        sc = rule_scope(rule.scope, self.hierarchy)
        wanted = None if sc.sites is None else set(sc.sites)
        live_since = iso(now - LIVE_WITHIN)
        waits: dict[str, list[float]] = {}
        for site, device, last_seen, waiting, since, mode in self.db.query(
                "SELECT site, device, last_seen, unreceipted, unreceipted_since, receipts FROM devices "
                "WHERE receipts IN ('on', 'fallback') AND last_seen >= ?", (live_since,)):
            if (wanted is not None and site not in wanted) or (sc.device and device != sc.device):
                continue
            if mode == "fallback":
                minutes = float("inf")
            elif waiting and since:
                minutes = max(0.0, (now - parse(since)).total_seconds() / 60)
            else:
                minutes = 0.0
            waits.setdefault(self.hierarchy.centre_of(site), []).append(minutes)
        out = []
        for centre, minutes in sorted(waits.items()):
            shortest = min(minutes)
            value = round(shortest, 1) if shortest != float("inf") else rule.minutes
            out.append(Reading(f"centre:{centre}", self._name("centre", centre, rule), centre,
                               shortest >= rule.minutes, value,
                               {"threshold": rule.minutes, "kiosks": len(minutes)}, not self.is_open(centre, now)))
        return out

    def _shared_readings(self, rule, now: datetime, states: dict | None = None) -> list[Reading]:
        """Per kiosk: two kiosks take turns on its device id (collector/ingest/clones.py), day and night."""
        from ..ingest.clones import CLEAR_AFTER_MS

        sc = rule_scope(rule.scope, self.hierarchy)
        wanted = None if sc.sites is None else set(sc.sites)
        now_ms = int(now.timestamp() * 1000)
        out = []
        for site, device, last, flips in self.db.query(
                "SELECT site, device, shared_last_ms, shared_flips FROM devices WHERE shared_last_ms IS NOT NULL"):
            if (wanted is not None and site not in wanted) or (sc.device and device != sc.device):
                continue
            name = self.hierarchy.group("counter", site, device)[1]
            out.append(Reading(f"device:{site}/{device}", name, self.hierarchy.centre_of(site),
                               now_ms - int(last) <= CLEAR_AFTER_MS, int(flips or 0), {"threshold": 1}))
        return out

    # ------------------------------------------------------------------ comments on the phone
    def _followup_readings(self, rule, now: datetime, states: dict[str, State]) -> list[Reading]:
        """Per answer on the thank-you QR's form (collector/followup): a comment joined to a rating at or below
        ``threshold`` within the last ``hours`` fires its own alert (the comment in it, never the contact);
        the alert clears once the answer is older than ``hours``. Day and night: a citizen writes after hours."""
        sc = rule_scope(rule.scope, self.hierarchy)
        since_ms = int((now - timedelta(hours=rule.hours)).timestamp() * 1000)
        where, params = ["a.state = 'joined'", "a.submitted_ms >= ?", "a.comment IS NOT NULL", "r.rating <= ?"], \
            [since_ms, int(rule.threshold)]
        if sc.sites is not None:
            if not sc.sites:
                return []
            where.append(f"a.site IN ({', '.join('?' * len(sc.sites))})")
            params += sc.sites
        if sc.device:
            where.append("a.device = ?")
            params.append(sc.device)
        if sc.officer:
            where.append("r.officer = ?")
            params.append(sc.officer)
        rows = self.db.query(
            "SELECT a.rating_id, a.site, a.device, r.rating, r.scale, r.officer, r.service, r.ticket, a.comment "
            f"FROM followup_answers a JOIN ratings r ON r.id = a.rating_id WHERE {' AND '.join(where)} "
            "ORDER BY a.submitted_ms LIMIT 500", params)
        lang = self.cfg.dashboard.lang
        out, seen = [], set()
        for rid, site, device, rating, scale, officer, service, ticket, comment in rows:
            subject = f"answer:{rid}"
            seen.add(subject)
            detail = {"threshold": rule.threshold, "hours": rule.hours, "face": f"{rating}/{scale}",
                      "comment": comment[:300] + ("…" if len(comment) > 300 else ""),
                      "officer": (self.hierarchy.label("officer", officer, lang) or officer) if officer else "",
                      "service": (self.hierarchy.label("service", service, lang) or service) if service else "",
                      "ticket": ticket or "", "rating_id": rid}
            out.append(Reading(subject, self.hierarchy.group("counter", site, device)[1],
                               self.hierarchy.centre_of(site), True, float(rating), detail))
        for subject, state in states.items():  # older answers: their alerts clear, then their state is forgotten
            if subject in seen:
                continue
            if state.status != rules.OK:
                out.append(Reading(subject, "", "", False, None))
            else:
                self.db.execute("DELETE FROM alert_state WHERE rule = ? AND subject = ? AND status = 'ok'",
                                (rule.name, subject))
        return out

    # ------------------------------------------------------------------ rejects
    def _reject_readings(self, rule, now: datetime, states: dict | None = None) -> list[Reading]:
        # a row counts its repeats (collector/ingest/rejects.py); it is in the window if its last one is
        since = iso(now - timedelta(minutes=rule.minutes))
        count = int(self.db.scalar("SELECT COALESCE(SUM(repeats), 0) FROM rejects "
                                   "WHERE COALESCE(last_at, received_at) >= ?", (since,)) or 0)
        name = {"vi": "Bản tin bị từ chối", "en": "Rejected messages"}[self.cfg.dashboard.lang]
        return [Reading("all", name, "", rules.spike(count, rule.threshold, rule.clear_at), count,
                        {"threshold": rule.threshold, "minutes": rule.minutes}, not self.is_open(None, now))]

    def _device_reject_readings(self, rule, now: datetime, states: dict[str, State]) -> list[Reading]:
        """Per kiosk: the share of its messages over the last ``minutes`` that were rejected (rejects against
        rejects plus ratings received). Kiosks with rejects in the window, and those alerted before (so
        their alert clears)."""
        sc = rule_scope(rule.scope, self.hierarchy)
        wanted = None if sc.sites is None else set(sc.sites)
        since = now - timedelta(minutes=rule.minutes)
        tapped_ms = int((since - timedelta(days=7)).timestamp() * 1000)
        rejected = {(site, device): int(n) for site, device, n in self.db.query(
            "SELECT site, device, SUM(repeats) FROM rejects WHERE COALESCE(last_at, received_at) >= ? "
            "AND device <> '' GROUP BY site, device", (iso(since),))}
        for subject in states:
            site, _, device = subject.removeprefix("device:").partition("/")
            rejected.setdefault((site, device), 0)
        out = []
        for (site, device), n in sorted(rejected.items()):
            if (wanted is not None and site not in wanted) or (sc.device and device != sc.device):
                continue
            # by the (site, at_ms) index: ratings received in the window and tapped within the week before it
            valid = self.db.scalar("SELECT COUNT(*) FROM ratings WHERE site = ? AND at_ms >= ? AND device = ? "
                                   "AND received_at >= ?", (site, tapped_ms, device, iso(since))) or 0
            total = n + valid
            share = n / total if total else None
            centre = self.hierarchy.centre_of(site)
            name = self.hierarchy.group("counter", site, device)[1]
            verdict = False if n == 0 else rules.share_above(share, total, rule.threshold, rule.clear_at,
                                                             rule.min_ratings)
            out.append(Reading(f"device:{site}/{device}", name, centre, verdict,
                               None if share is None else round(share, 4),
                               {"threshold": rule.threshold, "minutes": rule.minutes, "rejected": n, "count": total},
                               False))  # an attack does not keep opening hours
        return out

    # ------------------------------------------------------------------ transitions
    def _apply(self, rule, readings: list[Reading], states: dict[str, State], now: datetime) -> list[tuple]:
        events = []
        for rd in readings:
            old = states.get(rd.subject)
            base = old or State(rules.OK, now)
            new, event = rules.step(base, rd.verdict, now, rule.for_minutes, rd.quiet)
            if rd.memo is not None:
                new = State(new.status, new.since, new.alert_id, new.value, rd.memo)
            if old is not None and new == old:
                continue
            if old is None and new.status == rules.OK and not new.memo:
                continue  # nothing to remember about a subject that is fine
            with self.db.transaction():
                if not self._write_state(rule.name, rd.subject, old, new):
                    continue  # another collector moved this state first
                if event == "fire":
                    alert_id = self._fire(rule, rd, now)
                    self.db.execute("UPDATE alert_state SET alert_id = ?, value = ? WHERE rule = ? AND subject = ?",
                                    (alert_id, rd.value, rule.name, rd.subject))
                elif event == "clear" and old is not None and old.alert_id is not None:
                    self._clear(rule, old.alert_id, rd, now)
            if event:
                events.append((rule.name, rd.subject, event))
                log.info("alert %s %s: %s (value %s)", rule.name, event, rd.subject, rd.value)
        return events

    def _write_state(self, rule: str, subject: str, old: State | None, new: State) -> bool:
        values = (new.status, iso(new.since), new.alert_id, new.value, new.memo)
        if old is None:
            cur = self.db.execute("INSERT INTO alert_state (status, since, alert_id, value, memo, rule, subject) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule, subject) DO NOTHING",
                                  (*values, rule, subject))
        else:
            cur = self.db.execute("UPDATE alert_state SET status = ?, since = ?, alert_id = ?, value = ?, memo = ? "
                                  "WHERE rule = ? AND subject = ? AND status = ? AND since = ?",
                                  (*values, rule, subject, old.status, iso(old.since)))
        return cur.rowcount == 1

    def _fire(self, rule, rd: Reading, now: datetime) -> int:
        detail = json.dumps(rd.detail, ensure_ascii=False)
        alert_id = self.db.scalar(
            "INSERT INTO alerts (rule, kind, subject, subject_name, place, fired_at, value, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (rule.name, rule.kind, rd.subject, rd.name, rd.place, iso(now), rd.value, detail))
        self._notify(rule, int(alert_id), "fire", now)
        return int(alert_id)

    def _clear(self, rule, alert_id: int, rd: Reading, now: datetime) -> None:
        self.db.execute("UPDATE alerts SET cleared_at = ?, clear_value = ? WHERE id = ?", (iso(now), rd.value, alert_id))
        self._notify(rule, alert_id, "clear", now)

    def _notify(self, rule, alert_id: int, event: str, now: datetime) -> None:
        alert = load_alert(self.db, alert_id, self.cfg.timezone)
        cfg = self.cfg
        told = 0
        if rule.email and cfg.notify.smtp is not None:
            for r in for_alerts(self.recipients.recipients(), alert["place"], self.hierarchy):
                key = f"alert:{alert_id}:{event}:email:{r.key}"
                told += enqueue(self.db, key, "email", r.email, subject_line(alert, event, r.lang),
                                alert_email(alert, event, r.lang, cfg.notify.smtp.sender, r.email, key,
                                            cfg.dashboard.public_url), now)
        for hook in cfg.notify.webhooks:
            if rule.webhooks is not None and hook.name not in rule.webhooks:
                continue
            if not covers(hook.scope, alert["place"], self.hierarchy):
                continue
            key = f"alert:{alert_id}:{event}:webhook:{hook.name}"
            told += enqueue(self.db, key, "webhook", hook.name, subject_line(alert, event, cfg.dashboard.lang),
                            webhook_payload(alert, event, cfg.dashboard.lang, cfg.dashboard.public_url), now)
        if not told:
            log.warning("alert %s on %s: no recipient or webhook covers %s; add one with scope 'all' or a wider scope",
                        rule.name, alert["subject"], alert["place"] or "the whole system")


ALERT_COLUMNS = ("id", "rule", "kind", "subject", "subject_name", "place", "fired_at", "value", "detail",
                 "cleared_at", "clear_value", "acked_at", "acked_by")


def _local(ts: str | None, tz: str) -> str | None:
    dt = parse(ts)
    return dt.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M") if dt else None


def alert_dict(row, tz: str) -> dict:
    a = dict(zip(ALERT_COLUMNS, row))
    a["id"] = int(a["id"])
    a["detail"] = json.loads(a["detail"] or "{}")
    a["fired_local"], a["cleared_local"] = _local(a["fired_at"], tz), _local(a["cleared_at"], tz)
    a["acked_local"] = _local(a["acked_at"], tz)
    return a


def load_alert(db: Database, alert_id: int, tz: str) -> dict:
    row = db.query(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,))
    if not row:
        raise KeyError(f"no alert with id {alert_id}")
    return alert_dict(row[0], tz)
