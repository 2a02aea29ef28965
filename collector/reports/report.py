"""Satisfaction figures from rollup rows: pure functions, no SQL, no I/O.

A rollup row is a count of identical ratings in one time bucket (an hour from ``rollup_hour``, or a
smaller bucket when the time zone is not a whole number of hours from UTC). Grouping by local day,
week, month, hour or weekday converts the bucket start to the configured time zone; because a whole-
hour zone maps every UTC hour onto exactly one local hour, hourly rollups give exact local figures.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Iterable, NamedTuple, Sequence
from zoneinfo import ZoneInfo

# Bits of the rollup's ``flagged`` column, defined with the rows (storage/records.py): a kiosk-flagged press, an
# unverified time.
from ..storage.records import FLAG_PRESS, FLAG_TIME  # noqa: F401  (report.FLAG_*, as before)
from .hierarchy import Hierarchy

TIME_DIMS = ("day", "week", "month", "hour", "weekday")
PLACE_DIMS = ("province", "commune", "centre", "counter")
PLAIN_DIMS = ("site", "device", "officer", "service", "reason")
DIMENSIONS = ("site", "device", "officer", "service", "reason", "day", "week", "month", "hour", "weekday",
              "province", "commune", "centre", "counter")
# Columns of the rollup a grouping needs; the query sums over all the others.
NEEDS = {"site": ("site",), "device": ("site", "device"), "officer": ("officer",), "service": ("service",),
         "reason": ("reason",), "province": ("site",), "commune": ("site",), "centre": ("site",),
         "counter": ("site", "device"), **{d: ("start",) for d in TIME_DIMS}}

WEEKDAYS = {"vi": ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"],
            "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]}
NONE_LABEL = {"vi": "(không ghi)", "en": "(none)"}
# Scores are kept as integers (x12, the lcm of scale-1 for scales 2..5) so sums are exact on any database.
_SCORE_UNIT = 12


class RollupRow(NamedTuple):
    start_ms: int  # UTC start of the bucket, epoch milliseconds (0 when the query summed over time)
    site: str
    device: str
    officer: str
    service: str
    reason: str
    scale: int
    rating: int
    flagged: int
    n: int


@dataclass
class ReportRow:
    group: str
    name: str
    count: int = 0  # ratings in the figures (flagged ones only with include_flagged)
    satisfied: int = 0
    flagged: int = 0  # flagged by the repeated-press filter, always counted here
    unverified: int = 0  # time_unverified: placed by the kiosk's word only, always counted here
    levels: Counter = field(default_factory=Counter)  # (scale, rating) -> count
    score_units: int = 0
    keys: tuple = ()
    hidden: bool = False  # an officer below evaluation.min_ratings: count only, no figures (collector/reports/privacy.py)

    @property
    def satisfied_rate(self) -> float | None:
        return round(self.satisfied / self.count, 4) if self.count and not self.hidden else None

    @property
    def mean_score(self) -> float | None:
        """Mean of (rating-1)/(scale-1)*100: 0 is the saddest face, 100 the happiest."""
        return round(self.score_units * 100 / _SCORE_UNIT / self.count, 1) if self.count and not self.hidden else None

    def level_dict(self) -> dict[str, int]:
        return {f"{r}/{s}": n for (s, r), n in sorted(self.levels.items(), key=lambda kv: (-kv[0][0], kv[0][1]))}

    def to_dict(self) -> dict:
        out = {"group": self.group, "name": self.name, "count": self.count,
               "satisfied": None if self.hidden else self.satisfied, "satisfied_rate": self.satisfied_rate,
               "mean_score": self.mean_score, "flagged": self.flagged, "time_unverified": self.unverified,
               "levels": self.level_dict()}
        if self.hidden:
            out["hidden"] = True
        return out


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(start_ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(start_ms / 1000, _zone(tz))


def time_key(dim: str, local: datetime) -> str:
    if dim == "day":
        return local.date().isoformat()
    if dim == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if dim == "month":
        return f"{local.year}-{local.month:02d}"
    if dim == "hour":
        return f"{local.hour:02d}"
    if dim == "weekday":
        return str(local.isoweekday())
    raise ValueError(dim)


def _name(dim: str, key: str, lang: str) -> str:
    if dim == "weekday":
        return WEEKDAYS[lang][int(key) - 1]
    if dim == "hour":
        return f"{key}:00–{(int(key) + 1) % 24:02d}:00"
    return NONE_LABEL[lang] if key == "" else key


def _group_of(dim: str, row: RollupRow, tz: str, hierarchy: Hierarchy, lang: str, local_cache: dict) -> tuple[str, str]:
    if dim in TIME_DIMS:
        local = local_cache.get(row.start_ms)
        if local is None:
            local = local_cache[row.start_ms] = local_time(row.start_ms, tz)
        key = time_key(dim, local)
        return key, _name(dim, key, lang)
    if dim in PLACE_DIMS:
        return hierarchy.group(dim, row.site, row.device)
    if dim == "site":
        return row.site, hierarchy.site_name(row.site)
    if dim == "device":
        key = f"{row.site}/{row.device}"
        name = hierarchy.counters.get((hierarchy.centre_of(row.site), row.device))
        return key, name or key
    key = getattr(row, dim)
    return key, hierarchy.label(dim, key, lang) or _name(dim, key, lang)


def _sort_key(dims: Sequence[str], hierarchy: Hierarchy):
    def key(row: ReportRow):
        parts = []
        for dim, k in zip(dims, row.keys):
            if dim in ("hour", "weekday"):
                parts.append((0, int(k), ""))
            elif dim == "device":
                site, _, device = k.partition("/")
                parts.append((*hierarchy.sort_key(site), device))
            elif dim in PLACE_DIMS or dim == "site":
                parts.append(hierarchy.sort_key(k))
            else:
                parts.append((0, 0, k))
        return tuple(parts)
    return key


_COLUMN = {"start": 0, "site": 1, "device": 2, "officer": 3, "service": 4, "reason": 5}  # in RollupRow


def _summed(rows: Iterable[RollupRow], dims: Sequence[str]) -> list[tuple[RollupRow, tuple]]:
    """The rows summed over the columns no grouping in ``dims`` reads (keeping scale, rating and flags),
    each with the values of the columns it does read. A scope's rows are one per site, officer or hour and
    many fall into one group, and adding two counts costs far less than naming a group; the sums are exact
    and every group still gets a row (in the order of its first one), so the figures are unchanged."""
    read = sorted({_COLUMN[c] for d in dims for c in NEEDS[d]})
    pick = itemgetter(*read, 6, 7, 8)
    sums: dict[tuple, int] = {}
    for row in rows:
        k = pick(row)
        sums[k] = sums.get(k, 0) + row[9]
    out = []
    for k, n in sums.items():
        fields = [0, "", "", "", "", ""]
        for i, v in zip(read, k):
            fields[i] = v
        out.append((RollupRow(*fields, *k[-3:], n), k[:-3]))
    return out


def aggregate(rows: Iterable[RollupRow], by: str | Sequence[str] | None, *, satisfied: dict[int, list[int]],
              tz: str, hierarchy: Hierarchy | None = None, include_flagged: bool = False,
              lang: str = "vi", include_unverified: bool = False) -> list[ReportRow]:
    """One ReportRow per group (``by`` None: a single total row), sorted in a natural order.

    Flagged presses and ratings whose time is unverified are counted apart (``flagged``, ``unverified``)
    and left out of the figures unless ``include_flagged`` / ``include_unverified``."""
    dims = (by,) if isinstance(by, str) else tuple(by or ())
    for dim in dims:
        if dim not in DIMENSIONS:
            raise ValueError(f"cannot group by {dim!r}; choose one of {', '.join(DIMENSIONS)}")
    hierarchy = hierarchy or Hierarchy()
    happy = {scale: frozenset(levels) for scale, levels in satisfied.items()}
    groups: dict[tuple, ReportRow] = {}
    local_cache: dict[int, datetime] = {}
    named: dict[tuple, tuple] = {}  # the columns a grouping reads -> its group key and name
    for row, columns in _summed(rows, dims):
        key = named.get(columns)
        if key is None:
            key = named[columns] = tuple(_group_of(d, row, tz, hierarchy, lang, local_cache) for d in dims)
        out = groups.get(key)
        if out is None:
            keys = tuple(k for k, _ in key)
            out = groups[key] = ReportRow(" · ".join(keys) if dims else "total",
                                          " · ".join(n for _, n in key) if dims else "total", keys=keys)
        if row.flagged:
            press, unsure = row.flagged & FLAG_PRESS, row.flagged & FLAG_TIME
            if press:
                out.flagged += row.n
            if unsure:
                out.unverified += row.n
            if (press and not include_flagged) or (unsure and not include_unverified):
                continue
        out.count += row.n
        out.levels[(row.scale, row.rating)] += row.n
        if row.rating in happy.get(row.scale, ()):
            out.satisfied += row.n
        out.score_units += row.n * (row.rating - 1) * (_SCORE_UNIT // (row.scale - 1))
    result = list(groups.values())
    # Groups whose ratings were all flagged (or unverified) still appear, so those counts are never hidden.
    result.sort(key=_sort_key(dims, hierarchy))
    if not dims and not result:
        result = [ReportRow("total", "total")]
    return result


def merge(parts: Iterable[Sequence[ReportRow]], by: str | Sequence[str] | None,
          hierarchy: Hierarchy | None = None) -> list[ReportRow]:
    """The figures of disjoint sets of ratings (e.g. each site's, grouped the same way) as those of all of them:
    rows of the same group add up (integer sums, so exact), sorted as ``aggregate`` sorts."""
    dims = (by,) if isinstance(by, str) else tuple(by or ())
    groups: dict[tuple, ReportRow] = {}
    for part in parts:
        for r in part:
            out = groups.get(r.keys)
            if out is None:
                out = groups[r.keys] = ReportRow(r.group, r.name, keys=r.keys)
            _add(out, r)
    result = sorted(groups.values(), key=_sort_key(dims, hierarchy or Hierarchy()))
    return result if dims or result else [ReportRow("total", "total")]


def _add(out: ReportRow, r: ReportRow) -> None:
    out.count += r.count
    out.satisfied += r.satisfied
    out.flagged += r.flagged
    out.unverified += r.unverified
    out.score_units += r.score_units
    out.levels.update(r.levels)


def combine(rows: Iterable[ReportRow], group: str = "total", name: str = "total") -> ReportRow:
    """One row adding up several (e.g. this month's days, or all centres); exact, since sums are integers."""
    out = ReportRow(group, name)
    for r in rows:
        _add(out, r)
    return out


def unsatisfied_only(rows: Iterable[RollupRow], satisfied: dict[int, list[int]]) -> list[RollupRow]:
    """The rollup rows of ratings below the satisfied levels (where reasons are asked)."""
    return [r for r in rows if r.rating not in satisfied.get(r.scale, ())]


# ------------------------------------------------------------------ periods in local time
class Period(NamedTuple):
    label: str
    start: datetime  # aware, local midnight
    end: datetime  # exclusive

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def _midnight(d: date, tz: str) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=_zone(tz))


def month_start(year: int, month: int) -> date:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)  # what a report may cover; stored times fit inside


def _check_year(year: int) -> int:
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise ValueError
    return year


def _check_day(day: date, name: str) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{name} {day}: give a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def parse_period(text: str, tz: str) -> Period:
    """``2026-10`` (a month), ``2026-Q4`` (a quarter) or ``2026`` (a year), in local time, 2000 to 2199."""
    text = text.strip()
    try:
        if len(text) == 7 and text[4] == "-" and text[5:].upper().startswith("Q"):
            year, q = _check_year(int(text[:4])), int(text[6])
            if not 1 <= q <= 4:
                raise ValueError
            first = date(year, 3 * q - 2, 1)
            return Period(f"{year}-Q{q}", _midnight(first, tz), _midnight(month_start(year, 3 * q + 1), tz))
        if len(text) == 7 and text[4] == "-":
            year, month = _check_year(int(text[:4])), int(text[5:])
            first = date(year, month, 1)
            return Period(text, _midnight(first, tz), _midnight(month_start(year, month + 1), tz))
        if len(text) == 4:
            year = _check_year(int(text))
            return Period(text, _midnight(date(year, 1, 1), tz), _midnight(date(year + 1, 1, 1), tz))
    except ValueError:
        pass
    raise ValueError(f"period {text!r} is not a month (2026-10), a quarter (2026-Q4) or a year (2026) "
                     f"from {FIRST_DAY.year} to {LAST_DAY.year}")


def date_range(since: date | None, until: date | None, tz: str) -> Period:
    """From the start of ``since`` to the end of ``until`` (both days included), local time; days outside
    2000-01-01..2199-12-31 are refused (ValueError), not left to overflow later."""
    since = _check_day(since, "since") if since else None
    until = _check_day(until, "until") if until else None
    start = _midnight(since, tz) if since else datetime(2000, 1, 1, tzinfo=timezone.utc)
    end = _midnight(until + timedelta(days=1), tz) if until else datetime(2200, 1, 1, tzinfo=timezone.utc)
    if end <= start:
        raise ValueError(f"--until {until} is before --since {since}")
    return Period(f"{since or '…'}..{until or '…'}", start, end)


def current_month(now: datetime, tz: str) -> Period:
    local = now.astimezone(_zone(tz))
    return parse_period(f"{local.year}-{local.month:02d}", tz)


def hour_aligned(tz: str, start_ms: int, end_ms: int) -> bool:
    """True when every UTC hour in the range is exactly one local hour (offset a whole number of hours).

    Checked at every local day's start: offsets change a few times a year at most, and a zone with a
    half-hour offset keeps it for more than a day.
    """
    zone = _zone(tz)
    step = 86_400_000
    t = start_ms
    while True:
        offset = datetime.fromtimestamp(t / 1000, zone).utcoffset()
        if offset.total_seconds() % 3600:
            return False
        if t >= end_ms - 1:
            return True
        t = min(t + step, end_ms - 1)
