"""Opening hours, holidays and report periods, in the local time of collector.yaml (pure, no I/O)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from ..reports.report import Period, _midnight, _zone, month_start, parse_period

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REPORT_KINDS = ("month", "quarter", "6m", "9m", "year")


def _span(text: str) -> tuple[time, time]:
    a, _, b = text.partition("-")
    end = time(23, 59, 59, 999999) if b == "24:00" else time.fromisoformat(b)
    return time.fromisoformat(a), end


class Hours(NamedTuple):
    weekdays: frozenset[int]  # 0 = Monday
    spans: tuple[tuple[time, time], ...]


class Calendar:
    """When each centre is open; ``holidays`` close every centre, weekends close the default hours."""

    def __init__(self, tz: str, default, centres: dict | None = None, holidays=()):
        self.tz = tz
        self.zone = _zone(tz)
        self.default = self._hours(default)
        self.centres = {slug: self._hours(h) for slug, h in (centres or {}).items()}
        self.holidays = frozenset(holidays)

    @classmethod
    def from_config(cls, cfg) -> "Calendar":
        return cls(cfg.timezone, cfg.opening.default, cfg.opening.centres, cfg.holidays)

    @staticmethod
    def _hours(h) -> Hours:
        return Hours(frozenset(WEEKDAYS.index(d) for d in h.weekdays), tuple(_span(s) for s in h.hours))

    def hours(self, centre: str | None) -> Hours:
        return self.centres.get(centre, self.default) if centre else self.default

    def is_open(self, centre: str | None, when: datetime) -> bool:
        local = when.astimezone(self.zone)
        h = self.hours(centre)
        if local.date() in self.holidays or local.weekday() not in h.weekdays:
            return False
        t = local.time()
        return any(a <= t < b for a, b in h.spans)

    def open_minutes(self, centre: str | None, start: datetime, end: datetime, enough: float = float("inf")) -> float:
        """Minutes of opening time between start and end (stops counting once ``enough`` is reached)."""
        if end <= start:
            return 0.0
        h = self.hours(centre)
        local_start, local_end = start.astimezone(self.zone), end.astimezone(self.zone)
        day, total = local_start.date(), 0.0
        while day <= local_end.date() and total < enough:
            if day not in self.holidays and day.weekday() in h.weekdays:
                for a, b in h.spans:
                    lo = max(local_start, datetime.combine(day, a, self.zone))
                    hi = min(local_end, datetime.combine(day, b, self.zone))
                    if hi > lo:
                        total += (hi - lo).total_seconds() / 60
            day += timedelta(days=1)
        return total

    def working_day(self, d: date) -> bool:
        """Monday to Friday and not a holiday: when scheduled reports go out."""
        return d.weekday() < 5 and d not in self.holidays

    def first_working_day_after(self, d: date) -> date:
        d += timedelta(days=1)
        while not self.working_day(d):
            d += timedelta(days=1)
        return d


# ------------------------------------------------------------------ report periods
def report_period(label: str, tz: str) -> tuple[str, Period]:
    """(kind, period) of ``2026-10``, ``2026-Q4``, ``2026-6M`` (January to June), ``2026-9M`` or ``2026``."""
    text = label.strip().upper()
    if len(text) == 7 and text[4] == "-" and text[5:] in ("6M", "9M"):
        year, months = int(text[:4]), int(text[5])
        period = Period(f"{year}-{months}M", _midnight(date(year, 1, 1), tz), _midnight(date(year, months + 1, 1), tz))
        return f"{months}m", period
    try:
        period = parse_period(label, tz)
    except ValueError:
        raise ValueError(f"period {label!r} is not a month (2026-10), a quarter (2026-Q4), six or nine months "
                         "(2026-6M, 2026-9M) or a year (2026)") from None
    kind = "year" if len(period.label) == 4 else "quarter" if "Q" in period.label else "month"
    return kind, period


def last_closed(kind: str, today: date) -> str:
    """The label of the latest period of ``kind`` that ended before ``today``."""
    y, m = today.year, today.month
    if kind == "month":
        prev = month_start(y, m - 1)
        return f"{prev.year}-{prev.month:02d}"
    if kind == "quarter":
        q = (m - 1) // 3  # quarters fully past this year
        return f"{y}-Q{q}" if q else f"{y - 1}-Q4"
    if kind in ("6m", "9m"):
        months = int(kind[0])
        return f"{y}-{months}M" if m > months else f"{y - 1}-{months}M"
    if kind == "year":
        return str(y - 1)
    raise ValueError(f"unknown report kind {kind!r}; choose one of {', '.join(REPORT_KINDS)}")


def due_on(label: str, cal: Calendar) -> date:
    """The first working day after the period closes."""
    _, period = report_period(label, cal.tz)
    return cal.first_working_day_after((period.end - timedelta(days=1)).date())


def due_periods(today: date, cal: Calendar, catch_up_days: int = 7) -> list[tuple[str, str]]:
    """(kind, label) of the periods whose reports are due today, or were due within ``catch_up_days``
    (a collector that was down on the day still sends them; the outbox never sends one twice)."""
    out = []
    for kind in REPORT_KINDS:
        label = last_closed(kind, today)
        due = due_on(label, cal)
        if due <= today <= due + timedelta(days=catch_up_days):
            out.append((kind, label))
    return out
