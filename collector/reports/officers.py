"""Per-officer figures for evaluations, computed from stored ratings and shift events. Pure: rows in,
figures out; the SQL is in collector/reports/officer_report.py.

Hours on duty come from the kiosks' ``sign_in`` / ``sign_out`` / ``auto_sign_out`` events, per
counter in the order the counter made them. A shift whose end never came closes at the first of: the
counter's next shift event; the last sign of life of the kiosk boot it was signed in on (its last
status, rating or event: a power cut mid-shift ends the shift there, not at closing time); the end of
that day's opening hours (signed in after closing: local midnight); and now, for a shift still open. A
sign-out the officer or the kiosk made is taken as it is. Shifts are clipped to the period.

A figure that could reveal one citizen's choice is never shown: below ``min_ratings`` ratings in the
period the satisfied rate, reasons, grade and rank of that officer are suppressed (None).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Callable, Iterable, NamedTuple, Optional, Sequence
from zoneinfo import ZoneInfo

SHIFT_EVENTS = ("sign_in", "sign_out", "auto_sign_out")


class ORating(NamedTuple):
    at_ms: int
    site: str
    device: str
    officer: Optional[str]
    service: Optional[str]
    rating: int
    scale: int
    reason: Optional[str]
    request: Optional[str]
    dossier: Optional[str]
    ticket: Optional[str]
    flagged: bool


class OEvent(NamedTuple):
    at_ms: int
    site: str
    device: str
    type: str
    officer: Optional[str]
    service: Optional[str]
    seq: int = 0
    boot: Optional[str] = None  # the kiosk boot that made it


class Shift(NamedTuple):
    site: str
    device: str
    officer: str
    start_ms: int
    end_ms: int
    closed_by: str   # sign_out, auto_sign_out, next_event, last_sign_of_life, now, closing_time, midnight


@dataclass
class Grade:
    name: str
    min_satisfied: float


@dataclass
class OfficerRow:
    site: str
    officer: str
    ratings: int = 0
    satisfied: int = 0
    reasons: Counter = field(default_factory=Counter)
    hours: float = 0.0
    answered: int = 0        # ratings that answered a request from the desk
    expired: int = 0         # requests on this officer's counter that nobody answered
    suppressed: bool = False
    rate: Optional[float] = None
    per_hour: Optional[float] = None
    rank: Optional[int] = None
    grade: Optional[str] = None


@dataclass
class SiteQuality:
    site: str
    ratings: int = 0
    no_officer: int = 0

    @property
    def no_officer_share(self) -> Optional[float]:
        return self.no_officer / self.ratings if self.ratings else None


# ------------------------------------------------------------------ shifts
def closing_of(hours_for: Callable[[str, date], Sequence[tuple[dtime, dtime]]], site: str, day: date,
               tz: ZoneInfo, after: datetime) -> datetime:
    """When a shift begun at ``after`` (local) ends at the latest: the day's last closing, or midnight
    when the centre is closed that day or the shift began after closing."""
    spans = hours_for(site, day)
    if spans:
        close = datetime.combine(day, spans[-1][1], tzinfo=tz)
        if close > after:
            return close
    return datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=tz)


def shifts(events: Iterable[OEvent], tz: str,
           hours_for: Callable[[str, date], Sequence[tuple[dtime, dtime]]],
           life: dict[tuple[str, str, str], int] | None = None, now_ms: int | None = None) -> list[Shift]:
    """``life``: the last sign of life (ms) of each (site, device, boot); ``now_ms``: no shift runs past it."""
    zone = ZoneInfo(tz)
    life = life or {}
    by_device: dict[tuple[str, str], list[OEvent]] = defaultdict(list)
    for e in events:
        if e.type in SHIFT_EVENTS and e.officer:
            by_device[(e.site, e.device)].append(e)
    out: list[Shift] = []
    for (site, device), evs in by_device.items():
        evs.sort(key=lambda e: (e.at_ms, e.seq))
        open_: Optional[OEvent] = None

        def close(at_ms: Optional[int], how: str) -> None:
            start = datetime.fromtimestamp(open_.at_ms / 1000, zone)
            limit = closing_of(hours_for, site, start.date(), zone, start)
            limit_ms = int(limit.timestamp() * 1000)
            if how in ("", "next_event") and (at_ms is None or at_ms > limit_ms):  # the end never came
                at_ms, how = limit_ms, ("closing_time" if limit.time() != dtime(0) else "midnight")
            if how not in ("sign_out", "auto_sign_out"):
                alive = life.get((site, device, open_.boot)) if open_.boot else None
                if alive is not None and alive + 1 < at_ms:  # the kiosk went dark mid-shift (a power cut)
                    at_ms, how = alive + 1, "last_sign_of_life"  # its last message is still in the shift
                if now_ms is not None and now_ms < at_ms:  # still on duty: counted up to now
                    at_ms, how = now_ms, "now"
            out.append(Shift(site, device, open_.officer, open_.at_ms, max(at_ms, open_.at_ms), how))

        for e in evs:
            if e.type == "sign_in":
                if open_ is not None:
                    close(e.at_ms, "next_event")
                open_ = e
            elif open_ is not None:
                close(e.at_ms, e.type)
                open_ = None
            # a sign-out without a sign-in seen (before the period's margin) adds nothing
        if open_ is not None:
            close(None, "")
    return sorted(out, key=lambda s: (s.start_ms, s.site, s.device))


def on_duty_at(shift_list: Sequence[Shift], site: str, device: str, at_ms: int) -> Optional[str]:
    for s in shift_list:
        if s.site == site and s.device == device and s.start_ms <= at_ms < s.end_ms:
            return s.officer
    return None


# ------------------------------------------------------------------ figures
def grade_for(rate: float, bands: Sequence[Grade]) -> Optional[str]:
    for band in sorted(bands, key=lambda b: -b.min_satisfied):
        if rate >= band.min_satisfied:
            return band.name
    return None


def evaluate(ratings: Iterable[ORating], events: Iterable[OEvent], *, start_ms: int, end_ms: int, tz: str,
             satisfied: dict[int, list[int]], hours_for: Callable[[str, date], Sequence[tuple[dtime, dtime]]],
             min_ratings: int = 5, grade_min_ratings: int = 30, grades: Sequence[Grade] = (),
             include_flagged: bool = False, life: dict[tuple[str, str, str], int] | None = None,
             now_ms: int | None = None) -> tuple[list[OfficerRow], list[SiteQuality]]:
    """Rows per (centre, officer) and the data-quality line per centre, for [start_ms, end_ms)."""
    events = list(events)
    shift_list = shifts(events, tz, hours_for, life, now_ms)
    rows: dict[tuple[str, str], OfficerRow] = {}
    quality: dict[str, SiteQuality] = {}

    def row(site: str, officer: str) -> OfficerRow:
        found = rows.get((site, officer))  # made once per officer: a month of ratings calls this for each
        return found if found is not None else rows.setdefault((site, officer), OfficerRow(site, officer))

    for s in shift_list:
        lo, hi = max(s.start_ms, start_ms), min(s.end_ms, end_ms)
        if hi > lo:
            row(s.site, s.officer).hours += (hi - lo) / 3_600_000
    for r in ratings:
        if not start_ms <= r.at_ms < end_ms or (r.flagged and not include_flagged):
            continue
        q = quality.setdefault(r.site, SiteQuality(r.site))
        q.ratings += 1
        if not r.officer:
            q.no_officer += 1
            continue
        o = row(r.site, r.officer)
        o.ratings += 1
        good = r.rating in satisfied.get(r.scale, ())
        o.satisfied += good
        if r.reason:
            o.reasons[r.reason] += 1
        if r.request:
            o.answered += 1
    for e in events:
        if e.type != "request_expired" or not start_ms <= e.at_ms < end_ms:
            continue
        officer = on_duty_at(shift_list, e.site, e.device, e.at_ms) or e.officer
        if officer:
            row(e.site, officer).expired += 1
    for o in rows.values():
        o.hours = round(o.hours, 4)
        o.per_hour = round(o.ratings / o.hours, 2) if o.hours > 0 else None
        if o.ratings < min_ratings:
            o.suppressed, o.satisfied, o.reasons = True, 0, Counter()
            continue
        o.rate = o.satisfied / o.ratings
        if o.ratings >= grade_min_ratings and grades:
            o.grade = grade_for(o.rate, grades)
    by_site: dict[str, list[OfficerRow]] = defaultdict(list)
    for o in rows.values():
        if o.rate is not None:
            by_site[o.site].append(o)
    for site_rows in by_site.values():  # competition ranking: equal rates share a rank
        site_rows.sort(key=lambda o: -o.rate)
        for i, o in enumerate(site_rows):
            o.rank = site_rows[i - 1].rank if i and site_rows[i - 1].rate == o.rate else i + 1
    ordered = sorted(rows.values(), key=lambda o: (o.site, o.rank is None, o.rank or 0, o.officer))
    return ordered, sorted(quality.values(), key=lambda q: q.site)
