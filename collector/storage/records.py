"""Turning contract ratings and events into database rows and rollup increments (pure, no I/O but `apply`)."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Iterable, NamedTuple
from zoneinfo import ZoneInfo

from broker.contract import Event, Rating, format_ts
from collector.storage.placement import FUTURE_TOLERANCE_MS, PAST_LIMIT_MS, place

RATING_COLUMNS = ("id", "v", "site", "device", "ts", "ts_ms", "rating", "scale", "reason", "lang",
                  "officer", "service", "flags", "received_at",
                  # contract v2 and time placement (schema v3); None for v1 ratings
                  "at_ms", "time_unverified", "epoch", "seq", "boot", "mono_ms", "clock", "request", "dossier",
                  "ticket",
                  # schema v15: "speaking" for a rating made in the kiosk's speaking mode, else None
                  "mode")
INSERT_RATING_SQL = (f"INSERT INTO ratings ({', '.join(RATING_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(RATING_COLUMNS))}) ON CONFLICT (id) DO NOTHING")


class RatingRow(NamedTuple):
    id: str
    v: int
    site: str
    device: str
    ts: str  # the kiosk's own time, kept as evidence
    ts_ms: int
    rating: int
    scale: int
    reason: str | None
    lang: str
    officer: str | None
    service: str | None
    flags: str  # comma-separated, '' when none
    received_at: str
    at_ms: int = 0  # the time reports use: the kiosk's ts, or corrected (see collector.storage.placement)
    time_unverified: int = 0  # 1 when neither the kiosk clock nor a live status vouches for at_ms
    epoch: str | None = None
    seq: int | None = None
    boot: str | None = None
    mono_ms: int | None = None
    clock: str | None = None
    request: str | None = None
    dossier: str | None = None
    ticket: str | None = None
    mode: str | None = None


def rating_row(r: Rating, received_at: str, received_ms: int | None = None,
               offset_ms: int | None = None) -> RatingRow:
    """``received_ms`` enables the future-time check; ``offset_ms`` is the live anchor of a v2 rating's boot."""
    ts_ms = int(r.ts.timestamp() * 1000)
    if r.v == 1:
        if received_ms is not None and not received_ms - PAST_LIMIT_MS <= ts_ms <= received_ms + FUTURE_TOLERANCE_MS:
            at, unverified = received_ms, 1  # the rules of collector/storage/placement.py, inline on the v1 hot path
        else:
            at, unverified = ts_ms, 0
        return RatingRow(r.id, 1, r.site, r.device, format_ts(r.ts), ts_ms, r.rating, r.scale, r.reason, r.lang,
                         r.officer, r.service, ",".join(r.flags), received_at, at, unverified)
    p = place(ts_ms, received_ms, mono_ms=r.mono_ms, clock=r.clock, offset_ms=offset_ms)
    return RatingRow(r.id, r.v, r.site, r.device, format_ts(r.ts), ts_ms, r.rating, r.scale, r.reason, r.lang,
                     r.officer, r.service, ",".join(r.flags), received_at, p.at_ms, int(p.unverified), r.epoch,
                     r.seq, r.boot, r.mono_ms, r.clock, r.request, r.dossier, r.ticket,
                     getattr(r, "mode", None))


EVENT_COLUMNS = ("id", "v", "site", "device", "type", "ts", "ts_ms", "at_ms", "time_unverified", "epoch", "seq",
                 "boot", "mono_ms", "clock", "officer", "service", "request", "dossier", "ticket", "config_hash",
                 "detail", "received_at")


class EventRow(NamedTuple):
    id: str
    v: int
    site: str
    device: str
    type: str
    ts: str
    ts_ms: int
    at_ms: int
    time_unverified: int
    epoch: str
    seq: int
    boot: str
    mono_ms: int
    clock: str
    officer: str | None
    service: str | None
    request: str | None
    dossier: str | None
    ticket: str | None
    config_hash: str | None
    detail: str | None
    received_at: str


def event_row(e: Event, received_at: str, received_ms: int | None = None, offset_ms: int | None = None) -> EventRow:
    ts_ms = int(e.ts.timestamp() * 1000)
    p = place(ts_ms, received_ms, mono_ms=e.mono_ms, clock=e.clock, offset_ms=offset_ms)
    return EventRow(e.id, e.v, e.site, e.device, e.type, format_ts(e.ts), ts_ms, p.at_ms, int(p.unverified),
                    e.epoch, e.seq, e.boot, e.mono_ms, e.clock, e.officer, e.service, e.request, e.dossier,
                    e.ticket, e.config_hash, e.detail, received_at)


# Bits of the rollup's flagged column: FLAG_PRESS, the kiosk flagged the press (e.g. rapid_repeat);
# FLAG_TIME, time_unverified (the hour it is counted in is the kiosk's word only).
FLAG_PRESS, FLAG_TIME = 1, 2


class RollupKey(NamedTuple):
    hour: int  # UTC hours since the epoch, of the placed time (at_ms)
    site: str
    device: str
    officer: str
    service: str
    reason: str
    scale: int
    rating: int
    flagged: int  # bits: FLAG_PRESS when any kiosk flag was set, FLAG_TIME when the time is unverified


def rollup_key(row: RatingRow) -> RollupKey:
    return RollupKey(row.at_ms // 3_600_000, row.site, row.device, row.officer or "", row.service or "",
                     row.reason or "", row.scale, row.rating,
                     (FLAG_PRESS if row.flags else 0) | (FLAG_TIME if row.time_unverified else 0))


def increments(rows: Iterable[RatingRow]) -> Counter:
    """Count per rollup key; feed only rows that were actually inserted (not duplicates)."""
    return Counter(rollup_key(r) for r in rows)


def _add_on_conflict(table: str, key: type[tuple]) -> str:
    """Appended to an INSERT INTO a rollup: a key already counted gets the new count added."""
    return f" ON CONFLICT ({', '.join(key._fields)}) DO UPDATE SET n = {table}.n + excluded.n"


ROLLUP_COLUMNS = ", ".join((*RollupKey._fields, "n"))
ROLLUP_CONFLICT = _add_on_conflict("rollup_hour", RollupKey)
UPSERT_ROLLUP_SQL = (f"INSERT INTO rollup_hour ({ROLLUP_COLUMNS}) "
                     f"VALUES ({', '.join('?' * (len(RollupKey._fields) + 1))}){ROLLUP_CONFLICT}")


def rollup_rows(counts: Counter) -> list[tuple]:
    """Rows for rollup_hour in key order: concurrent collectors on PostgreSQL then lock rollup rows in
    one order (no deadlock)."""
    return [(*k, n) for k, n in sorted(counts.items())]


# ------------------------------------------------------------------ coarse rollups, in local time
# rollup_day   per local day x site x device x scale x rating x flagged: day-by-day and place figures
# rollup_month per local month x every column of rollup_hour: whole months, quarters and years
# rollup_month_wh per local month x site x local weekday x local hour of day x scale x rating x flagged:
#              hour-of-day and weekday patterns of whole months, quarters and years
# All are in the time zone recorded in rollup_zone; every rating counted in rollup_hour is counted in
# exactly one row of each, by its placed time (at_ms), so sums over whole local days or months are equal.
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class DayKey(NamedTuple):
    day: int  # local date, days since 1970-01-01
    site: str
    device: str
    scale: int
    rating: int
    flagged: int


class MonthKey(NamedTuple):
    month: int  # local year * 12 + month - 1
    site: str
    device: str
    officer: str
    service: str
    reason: str
    scale: int
    rating: int
    flagged: int


class WeekHourKey(NamedTuple):
    month: int  # local year * 12 + month - 1
    site: str
    weekday: int  # local ISO weekday, 1 (Monday) to 7
    hour: int  # local hour of day, 0 to 23
    scale: int
    rating: int
    flagged: int


DAY_COLUMNS = ", ".join((*DayKey._fields, "n"))
WH_COLUMNS = ", ".join((*WeekHourKey._fields, "n"))
MONTH_COLUMNS = ", ".join((*MonthKey._fields, "n"))
DAY_CONFLICT = _add_on_conflict("rollup_day", DayKey)
MONTH_CONFLICT = _add_on_conflict("rollup_month", MonthKey)
WH_CONFLICT = _add_on_conflict("rollup_month_wh", WeekHourKey)
QUARTER_MS = 900_000  # every UTC offset in use, and every change of one, falls on a quarter hour


def weekday_of_day(day: int) -> int:
    """ISO weekday of a day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7 + 1


class Calendar:
    """Local days and months of one time zone. Midnights are the ones reports use for their periods
    (``datetime(y, m, d, tzinfo=zone)``), so a period of whole local days is a range of day numbers."""

    def __init__(self, tz: str):
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self._last = (0, -1, 0)  # [lo, hi) in UTC ms and its day: the ratings of a batch share a few days
        self._quarters: dict[int, tuple[int, int]] = {}  # quarter hour since the epoch -> local (day, hour)
        self._week: dict[tuple[int, int], int] | None = None

    def day_of(self, at_ms: int) -> int:
        lo, hi, d = self._last
        if lo <= at_ms < hi:
            return d
        d = datetime.fromtimestamp(at_ms // 1000, self.zone).date().toordinal() - EPOCH_ORDINAL
        lo, hi = self.day_start_ms(d), self.day_start_ms(d + 1)
        if lo <= at_ms < hi:
            self._last = (lo, hi, d)
        return d

    def day_hour(self, at_ms: int) -> tuple[int, int]:
        """Local (day number, hour of day) of ``at_ms``: the same for a whole quarter hour, since every
        offset and every change of offset falls on one (cached: a batch's ratings share a few)."""
        q = at_ms // QUARTER_MS
        hit = self._quarters.get(q)
        if hit is None:
            if len(self._quarters) > 100_000:
                self._quarters.clear()
            local = datetime.fromtimestamp(q * (QUARTER_MS // 1000), self.zone)
            hit = self._quarters[q] = (local.date().toordinal() - EPOCH_ORDINAL, local.hour)
        return hit

    def weekday_hour_ms(self, weekday: int, hour: int) -> int:
        """An instant (UTC ms) whose local ISO weekday and hour of day are the ones given: the start of that
        hour in the first week from 2001-01-01 (a Monday) in which every local hour exists (no clock change
        skips one). Rows of rollup_month_wh carry it, so reports find the weekday and hour from their start
        as usual."""
        if self._week is None:
            monday = date(2001, 1, 1)
            while True:
                week = {}
                for wd in range(1, 8):
                    d = monday + timedelta(days=wd - 1)
                    for h in range(24):
                        ms = int(datetime(d.year, d.month, d.day, h, tzinfo=self.zone).timestamp() * 1000)
                        local = datetime.fromtimestamp(ms / 1000, self.zone)
                        if (local.isoweekday(), local.hour) == (wd, h):
                            week[(wd, h)] = ms
                if len(week) == 7 * 24:
                    self._week = week
                    break
                monday += timedelta(days=7)
        return self._week[(weekday, hour)]

    def offsets(self, start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int]]:
        """[(from_ms, UTC offset in ms)] over [start_ms, end_ms), checked every ``step_ms`` from start_ms:
        the first from_ms is start_ms, each next one where the offset changes."""
        out: list[tuple[int, int]] = []
        for t in range(start_ms, end_ms, step_ms):
            off = int(datetime.fromtimestamp(t // 1000, self.zone).utcoffset().total_seconds()) * 1000
            if not out or out[-1][1] != off:
                out.append((t, off))
        return out

    @lru_cache(maxsize=4096)
    def day_start_ms(self, day: int) -> int:
        d = date.fromordinal(day + EPOCH_ORDINAL)
        return int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp() * 1000)

    def day_containing(self, at_ms: int) -> int | None:
        """The day number if ``at_ms`` is a local midnight, else None."""
        d = self.day_of(at_ms)
        return d if self.day_start_ms(d) == at_ms else None

    @staticmethod
    def month_of_day(day: int) -> int:
        d = date.fromordinal(day + EPOCH_ORDINAL)
        return d.year * 12 + d.month - 1

    @staticmethod
    def first_day_of_month(month: int) -> int:
        return date(month // 12, month % 12 + 1, 1).toordinal() - EPOCH_ORDINAL

    def month_start_ms(self, month: int) -> int:
        return self.day_start_ms(self.first_day_of_month(month))

    def month_containing(self, at_ms: int) -> int | None:
        """The month number if ``at_ms`` is the local midnight starting a month, else None."""
        d = self.day_containing(at_ms)
        if d is None or date.fromordinal(d + EPOCH_ORDINAL).day != 1:
            return None
        return self.month_of_day(d)

    def day_span(self, start_ms: int, end_ms: int) -> tuple[int, int] | None:
        """(first day, day after the last) when [start_ms, end_ms) is whole local days, else None."""
        return _span(self.day_containing, start_ms, end_ms)

    def month_span(self, start_ms: int, end_ms: int) -> tuple[int, int] | None:
        """(first month, month after the last) when [start_ms, end_ms) is whole local months, else None."""
        return _span(self.month_containing, start_ms, end_ms)


def _span(unit_at, start_ms: int, end_ms: int) -> tuple[int, int] | None:
    try:
        first, end = unit_at(start_ms), unit_at(end_ms)
    except (OverflowError, OSError, ValueError):  # a bound outside the calendar (open-ended periods)
        return None
    return (first, end) if first is not None and end is not None and first < end else None


@lru_cache(maxsize=16)
def calendar(tz: str) -> Calendar:
    return Calendar(tz)


class Increments(NamedTuple):
    hour: Counter  # RollupKey -> n
    day: Counter  # DayKey -> n (empty without a zone)
    month: Counter  # MonthKey -> n
    wh: Counter  # WeekHourKey -> n


def fine_counts(rows: Iterable[RatingRow], cal: Calendar | None) -> Counter:
    """(hourly key, local day, local hour of day) -> n: one pass over the rows; every rollup is derived
    from these few keys."""
    if cal is None:
        return Counter((rollup_key(r), 0, 0) for r in rows)
    day_hour = cal.day_hour
    return Counter((rollup_key(r), *day_hour(r.at_ms)) for r in rows)


def split(fine: Counter, cal: Calendar | None) -> Increments:
    """The increments of every rollup from ``fine_counts`` (possibly a difference); zero counts dropped.
    Keys are built as plain tuples (field order of DayKey, MonthKey and WeekHourKey): this runs for every
    batch."""
    hour: Counter = Counter()
    day: Counter = Counter()
    month: Counter = Counter()
    wh: Counter = Counter()
    months: dict[int, tuple[int, int]] = {}
    negative = False
    for (k, d, h), n in fine.items():
        if n <= 0:
            if not n:
                continue
            negative = True
        hour[k] += n
        if cal is not None:
            mw = months.get(d)
            if mw is None:
                mw = months[d] = (cal.month_of_day(d), weekday_of_day(d))
            day[(d, k[1], k[2], k[6], k[7], k[8])] += n
            month[(mw[0], *k[1:])] += n
            wh[(mw[0], k[1], mw[1], h, k[6], k[7], k[8])] += n
    if not negative:
        return Increments(hour, day, month, wh)
    drop = lambda c: Counter({k: n for k, n in c.items() if n})  # noqa: E731
    return Increments(drop(hour), drop(day), drop(month), drop(wh))


def apply(db, counts: Counter) -> None:
    """Add counts to the rollup; call inside the transaction that inserted the ratings."""
    if counts:
        db.executemany(UPSERT_ROLLUP_SQL, rollup_rows(counts))
