"""The SQL behind reports: fetch rollup rows for a period, summed over the columns a grouping ignores.

The coarsest rollup that answers exactly is read:
- ``rollup_month`` for whole local months (a month, quarter or year) grouped by anything but day, week,
  hour or weekday: a year over ten million ratings is some tens of thousands of rows;
- ``rollup_month_wh`` for whole local months grouped by hour of day (with or without weekday) and site or
  the places above it only: the patterns grid of a month is a few thousand rows, not every hourly one;
- ``rollup_day`` for whole local days grouped by time (day, week, weekday, month) and place only;
- ``rollup_hour`` otherwise, or when the coarse rollups are kept in another time zone than the one asked
  (rollup_zone; a collector rebuilds them in its configured zone when it starts).
Only when the time zone is not a whole number of hours from UTC (India, Nepal, ...) and no coarse rollup
applies do they fall back to the ``ratings`` table, in 15-minute buckets (every zone offset in use is a
multiple of 15 minutes). Groups whose counts add up to zero (ratings moved to another hour by placement)
are left out on every path, as the ratings table would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..storage.db import Database
from .hierarchy import Hierarchy
from ..storage.records import calendar
from .report import NEEDS, Period, ReportRow, RollupRow, aggregate, hour_aligned

HOUR_MS = 3_600_000
FALLBACK_BUCKET_MS = 900_000

_ROLLUP_COLS = {"start": "hour * 3600000", "site": "site", "device": "device", "officer": "officer",
                "service": "service", "reason": "reason"}
_RATING_COLS = {"start": f"(at_ms / {FALLBACK_BUCKET_MS}) * {FALLBACK_BUCKET_MS}", "site": "site",
                "device": "device", "officer": "COALESCE(officer, '')", "service": "COALESCE(service, '')",
                "reason": "COALESCE(reason, '')"}
_ORDER = ("start", "site", "device", "officer", "service", "reason")


# The finest time a grouping needs, beside "start" in a fetch's needs; "start" alone means hours.
GRAIN = {"hour": "grain:hour", "day": "grain:day", "week": "grain:day", "weekday": "grain:day",
         "month": "grain:month"}
_DAY_COLUMNS = {"start", "site", "device"}  # what rollup_day keeps
_WH_COLUMNS = {"start", "site"}  # what rollup_month_wh keeps, beside the local weekday and hour
# Which time groupings a fetch serves, beside its grain: rollup_month_wh answers only "weekday" and "hour".
TIME_MARK = "time:"
_WH_TIMES = {TIME_MARK + "weekday", TIME_MARK + "hour"}


def needs_for(dims: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for dim in dims:
        out.update(NEEDS[dim])
        if dim in GRAIN:
            out.add(GRAIN[dim])
            out.add(TIME_MARK + dim)
    return out


def _grain(needs: set[str]) -> str | None:
    if "start" not in needs:
        return None
    if "grain:hour" in needs or not needs & {"grain:day", "grain:month"}:
        return "hour"
    return "day" if "grain:day" in needs else "month"


def coarse_zone(db: Database) -> str:
    """The time zone rollup_day and rollup_month are complete in; '' while they are not built."""
    return db.scalar("SELECT zone FROM rollup_zone") or ""


def coarse_source(db: Database, tz: str, start_ms: int, end_ms: int, needs: set[str]) -> tuple[str, int, int] | None:
    """("month" | "month_wh" | "day", first, end) when rollup_month, rollup_month_wh or rollup_day answers
    [start_ms, end_ms) exactly."""
    grain = _grain(needs)
    times = {c for c in needs if c.startswith(TIME_MARK)}
    by_hour = grain == "hour" and TIME_MARK + "hour" in times and times <= _WH_TIMES \
        and {c for c in needs if c in _ORDER} <= _WH_COLUMNS
    if (grain == "hour" and not by_hour) or coarse_zone(db) != tz:
        return None
    cal = calendar(tz)
    if by_hour:
        months = cal.month_span(start_ms, end_ms)
        return ("month_wh", *months) if months else None
    if grain in (None, "month"):
        months = cal.month_span(start_ms, end_ms)
        if months:
            return ("month", *months)
    if {c for c in needs if c in _ORDER} <= _DAY_COLUMNS:
        days = cal.day_span(start_ms, end_ms)
        if days:
            return ("day", *days)
    return None


def uses_rollup(tz: str, start_ms: int, end_ms: int) -> bool:
    """[start_ms, end_ms) is made of whole UTC hours in ``tz``, so sums of rollup_hour answer it exactly."""
    return start_ms % HOUR_MS == 0 and end_ms % HOUR_MS == 0 and hour_aligned(tz, start_ms, end_ms)


def data_bounds(db: Database) -> tuple[int, int] | None:
    """First and last rated hour (UTC epoch ms), to clamp open-ended periods."""
    # Two statements: SQLite answers a lone MIN or MAX from the primary key index without a scan.
    lo = db.scalar("SELECT MIN(hour) FROM rollup_hour")
    hi = db.scalar("SELECT MAX(hour) FROM rollup_hour")
    return None if lo is None else (int(lo) * HOUR_MS, (int(hi) + 1) * HOUR_MS)


def _in_sites(where: str, params: list, sites: Sequence[str] | None) -> tuple[str, list]:
    """The WHERE clause and its parameters, limited to ``sites`` unless None (everything)."""
    if sites is None:
        return where, params
    return where + f" AND site IN ({', '.join('?' * len(sites))})", params + list(sites)


def _grouping(cols: dict[str, str], needs: set[str]) -> tuple[list[str], list[str]]:
    """SELECT expressions in ``_ORDER`` (a column not needed is summed over: 0 or '') and the GROUP BY
    positions: the needed columns, then scale, rating and flagged."""
    select = [cols[c] if c in needs else ("0" if c == "start" else "''") for c in _ORDER]
    return select, [str(i + 1) for i, c in enumerate(_ORDER) if c in needs] + ["7", "8", "9"]


def fetch(db: Database, start_ms: int, end_ms: int, needs: set[str], *, tz: str,
          sites: Sequence[str] | None = None) -> list[RollupRow]:
    """Rollup rows in [start_ms, end_ms), one per distinct combination of the needed columns."""
    if sites is not None and not sites:
        return []
    source = coarse_source(db, tz, start_ms, end_ms, needs)
    if source is not None and source[0] == "month_wh":
        return _fetch_weekday_hour(db, *source[1:], needs, tz, sites)
    if source is not None:
        return _fetch_coarse(db, *source, needs, tz, sites)
    bounds = data_bounds(db)
    if bounds is None:
        return []
    start_ms, end_ms = max(start_ms, bounds[0] - HOUR_MS * 24), min(end_ms, bounds[1] + HOUR_MS * 24)
    if end_ms <= start_ms:
        return []
    if uses_rollup(tz, start_ms, end_ms):
        cols, table, scale_cols = _ROLLUP_COLS, "rollup_hour", "scale, rating, flagged"
        count, where, params = "CAST(SUM(n) AS BIGINT)", "hour >= ? AND hour < ?", [start_ms // HOUR_MS, end_ms // HOUR_MS]
        having = " HAVING SUM(n) <> 0"
    else:
        cols, table = _RATING_COLS, "ratings"
        # The same flag bits as the rollup (collector.storage.records.rollup_key), by the placed time.
        scale_cols = "scale, rating, CASE WHEN flags <> '' THEN 1 ELSE 0 END + 2 * time_unverified"
        count, where, params = "COUNT(*)", "at_ms >= ? AND at_ms < ?", [start_ms, end_ms]
        having = ""
    where, params = _in_sites(where, params, sites)
    select, group = _grouping(cols, needs)
    sql = (f"SELECT {', '.join(select)}, {scale_cols}, {count} FROM {table} WHERE {where} "
           f"GROUP BY {', '.join(group)}{having}")
    return [RollupRow(int(r[0]), *r[1:6], int(r[6]), int(r[7]), int(r[8]), int(r[9])) for r in db.query(sql, params)]


def _fetch_coarse(db: Database, unit: str, first: int, end: int, needs: set[str], tz: str,
                  sites: Sequence[str] | None) -> list[RollupRow]:
    """Rows of rollup_day or rollup_month; ``start_ms`` is the local midnight the day or month starts at."""
    cols = {**_ROLLUP_COLS, "start": unit}
    where, params = f"{unit} >= ? AND {unit} < ?", [first, end]
    where, params = _in_sites(where, params, sites)
    select, group = _grouping(cols, needs)
    sql = (f"SELECT {', '.join(select)}, scale, rating, flagged, CAST(SUM(n) AS BIGINT) FROM rollup_{unit} "
           f"WHERE {where} GROUP BY {', '.join(group)} HAVING SUM(n) <> 0")
    cal = calendar(tz)
    to_ms = cal.day_start_ms if unit == "day" else cal.month_start_ms
    timed = "start" in needs
    return [RollupRow(to_ms(int(r[0])) if timed else 0, *r[1:6], int(r[6]), int(r[7]), int(r[8]), int(r[9]))
            for r in db.query(sql, params)]


def _fetch_weekday_hour(db: Database, first: int, end: int, needs: set[str], tz: str,
                        sites: Sequence[str] | None) -> list[RollupRow]:
    """Rows of rollup_month_wh summed over the months; ``start_ms`` is an instant of the local weekday and
    hour of day (``Calendar.weekday_hour_ms``), which is all a grouping by weekday and hour reads of it."""
    weekday = TIME_MARK + "weekday" in needs
    where, params = "month >= ? AND month < ?", [first, end]
    where, params = _in_sites(where, params, sites)
    site = "site" if "site" in needs else "''"
    group = (["1"] if "site" in needs else []) + (["2"] if weekday else []) + ["3", "4", "5", "6"]
    sql = (f"SELECT {site}, {'weekday' if weekday else '1'}, hour, scale, rating, flagged, CAST(SUM(n) AS BIGINT) "
           f"FROM rollup_month_wh WHERE {where} GROUP BY {', '.join(group)} HAVING SUM(n) <> 0")
    at = calendar(tz).weekday_hour_ms
    return [RollupRow(at(int(r[1]), int(r[2])), r[0], "", "", "", "", int(r[3]), int(r[4]), int(r[5]), int(r[6]))
            for r in db.query(sql, params)]


@dataclass
class ReportSpec:
    period: Period
    by: tuple[str, ...] = ()
    sites: Sequence[str] | None = None  # any province, commune, centre or site slugs
    include_flagged: bool = False
    lang: str = "vi"
    include_unverified: bool = False


def run_reports(db: Database, cfg, spec: ReportSpec, bys: Sequence[tuple[str, ...]],
                hierarchy: Hierarchy | None = None, only: callable = None, fetcher=fetch) -> list[list[ReportRow]]:
    """Several groupings from one query (e.g. commune, centre and counter all need only site and device),
    officers below ``evaluation.min_ratings`` hidden (collector/reports/privacy.py).

    ``only`` filters the rollup rows first (e.g. poor ratings); ``fetcher`` may add a cache in front of fetch.
    """
    hierarchy = hierarchy or Hierarchy.from_config(cfg.sites, cfg.labels)
    sites = sorted(hierarchy.expand(spec.sites)) if spec.sites else None
    needs = needs_for(d for by in bys for d in by)
    rows = fetcher(db, spec.period.start_ms, spec.period.end_ms, needs, tz=cfg.timezone, sites=sites)
    from .privacy import private  # officers below evaluation.min_ratings: count only

    return private(figures(rows, cfg, spec, bys, hierarchy, only), bys, cfg)


def figures(rows: list[RollupRow], cfg, spec: ReportSpec, bys: Sequence[tuple[str, ...]], hierarchy: Hierarchy,
            only: callable = None) -> list[list[ReportRow]]:
    """Each grouping of ``bys`` over fetched rows (``only`` filters them first)."""
    if only is not None:
        rows = only(rows)
    return [aggregate(rows, by or None, satisfied=cfg.satisfied, tz=cfg.timezone, hierarchy=hierarchy,
                      include_flagged=spec.include_flagged, lang=spec.lang,
                      include_unverified=spec.include_unverified) for by in bys]


def run_report(db: Database, cfg, spec: ReportSpec, hierarchy: Hierarchy | None = None,
               only: callable = None, fetcher=fetch) -> list[ReportRow]:
    """Fetch and aggregate one grouping (``spec.by``; empty for a single total row)."""
    return run_reports(db, cfg, spec, [spec.by], hierarchy, only, fetcher)[0]


DEVICE_COLUMNS = ("site", "device", "state", "status_ts", "last_seen", "app_version", "outbox_depth",
                  "last_rating_ts", "config_hash", "clock_skew_s", "boot", "clock", "epoch", "seq_last", "officer",
                  "config_error", "fault", "unreceipted", "unreceipted_since", "receipts", "shared_since_ms",
                  "shared_last_ms", "pushes")


def devices(db: Database) -> list[dict]:
    """The last known status of every kiosk."""
    rows = db.query(f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices ORDER BY site, device")
    return [dict(zip(DEVICE_COLUMNS, r)) for r in rows]
