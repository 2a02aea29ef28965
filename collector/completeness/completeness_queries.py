"""The SQL behind completeness: epochs, missing ranges (a window query over received seqs), unverified
times and clock corrections, for a scope of sites and a period. Decisions live in collector.completeness.completeness."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple, Sequence

from .completeness import (
    EpochState, Range, Replacement, Summary, active_in, ranges_from_runs, replacements, summarize,
)
from ..storage.db import Database
from ..storage.records import calendar
from ..reports.report import FLAG_TIME
from ..reports.report_queries import coarse_zone

HOUR_MS = 3_600_000
_EPOCH_COLS = ("site, device, epoch, received, max_seq, seq_last, first_ms, last_ms, first_seen, last_seen, "
               "seq_last_at")


def _in_sites(sites: Sequence[str] | None, col: str = "site") -> tuple[str, list]:
    if sites is None:
        return "", []
    return f" AND {col} IN ({', '.join('?' * len(sites)) or 'NULL'})", list(sites)


def load_epochs(db: Database, sites: Sequence[str] | None = None) -> list[EpochState]:
    where, params = _in_sites(sites)
    rows = db.query(f"SELECT {_EPOCH_COLS} FROM epochs WHERE 1 = 1{where} ORDER BY site, device, epoch", params)
    return [EpochState(site=r[0], device=r[1], epoch=r[2], received=int(r[3]), max_seq=int(r[4]),
                       seq_last=int(r[5]), first_ms=None if r[6] is None else int(r[6]),
                       last_ms=None if r[7] is None else int(r[7]), first_seen=r[8], last_seen=r[9],
                       seq_last_at=r[10]) for r in rows]


_SEQS = ("SELECT seq, received_at FROM ratings WHERE epoch = ? AND site = ? AND device = ? "
         "UNION ALL SELECT seq, received_at FROM events WHERE epoch = ? AND site = ? AND device = ?")
# Only the places where the numbering jumps, and the last one: a handful of rows, not the whole epoch.
_GAPS_SQL = (f"WITH s AS ({_SEQS}), w AS (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt, "
             f"LEAD(received_at) OVER (ORDER BY seq) AS nxt_at FROM s) "
             f"SELECT seq, nxt, nxt_at FROM w WHERE nxt IS NULL OR nxt > seq + 1 ORDER BY seq")
_FIRST_SQL = f"SELECT seq, received_at FROM ({_SEQS}) s ORDER BY seq LIMIT 1"


def epoch_ranges(db: Database, e: EpochState) -> list[Range]:
    key = (e.epoch, e.site, e.device) * 2
    first = db.query(_FIRST_SQL, key)
    if not first:
        return ranges_from_runs(None, None, [], None, e.created, e.highest_since)
    runs = db.query(_GAPS_SQL, key)
    last_seq = int(runs[-1][0])
    gaps = [(int(seq), int(nxt), at) for seq, nxt, at in runs if nxt is not None]
    return ranges_from_runs(int(first[0][0]), first[0][1], gaps, last_seq, e.created, e.highest_since)


def with_ranges(db: Database, epochs: list[EpochState]) -> list[EpochState]:
    """Fill the missing ranges of the epochs that miss anything (the counters say which)."""
    for e in epochs:
        e.ranges = epoch_ranges(db, e) if e.missing else []
    return epochs


def _per_device(db: Database, start_ms: int, end_ms: int, sites: Sequence[str] | None,
                condition: str = "") -> dict[tuple[str, str], int]:
    """Ratings per device in the period, from rollup_day when the period is whole local days of the zone it
    is kept in (a year is a few hundred thousand rows, not millions), else from the hourly rollup."""
    where, params = _in_sites(sites)
    days = _whole_days(db, start_ms, end_ms)
    if days is not None:
        table, span = "rollup_day", "day >= ? AND day < ?"
        bounds = list(days)
    else:
        table, span = "rollup_hour", "hour >= ? AND hour < ?"
        bounds = [start_ms // HOUR_MS, -(-end_ms // HOUR_MS)]
    rows = db.query(f"SELECT site, device, CAST(SUM(n) AS BIGINT) FROM {table} WHERE {span}{condition}{where} "
                    f"GROUP BY site, device HAVING SUM(n) <> 0", [*bounds, *params])
    return {(s, d): int(n) for s, d, n in rows}


def _whole_days(db: Database, start_ms: int, end_ms: int) -> tuple[int, int] | None:
    zone = coarse_zone(db)
    return calendar(zone).day_span(start_ms, end_ms) if zone else None


def unverified_by_device(db: Database, start_ms: int, end_ms: int,
                         sites: Sequence[str] | None = None) -> dict[tuple[str, str], int]:
    """Ratings placed in the period whose time is unverified."""
    return _per_device(db, start_ms, end_ms, sites, f" AND flagged >= {FLAG_TIME}")


def corrections(db: Database, start_ms: int, end_ms: int, sites: Sequence[str] | None = None) -> list[dict]:
    """Clock corrections (placed more than a minute from the kiosk's ts) per boot, overlapping the period."""
    where, params = _in_sites(sites)
    rows = db.query(f"SELECT site, device, boot, n, min_delta_ms, max_delta_ms, first_ms, last_ms "
                    f"FROM clock_corrections WHERE first_ms < ? AND last_ms >= ?{where} ORDER BY site, device, first_ms",
                    [end_ms, start_ms, *params])
    keys = ("site", "device", "boot", "n", "min_delta_ms", "max_delta_ms", "first_ms", "last_ms")
    return [dict(zip(keys, r)) for r in rows]


def ratings_by_device(db: Database, start_ms: int, end_ms: int,
                      sites: Sequence[str] | None = None) -> dict[tuple[str, str], int]:
    return _per_device(db, start_ms, end_ms, sites)


def shared_ids(db: Database, start_ms: int, end_ms: int,
               sites: Sequence[str] | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """Devices whose id two kiosks shared during the period (collector/ingest/clones.py): (first, last) flip."""
    where, params = _in_sites(sites)
    rows = db.query(f"SELECT site, device, shared_since_ms, shared_last_ms FROM devices WHERE shared_last_ms >= ? "
                    f"AND shared_since_ms < ?{where}", [start_ms, end_ms, *params])
    return {(s, d): (int(a), int(b)) for s, d, a, b in rows}


class Scope:
    """Everything completeness says about some sites over a period, read once."""

    def __init__(self, db: Database, start_ms: int, end_ms: int, sites: Sequence[str] | None = None,
                 ratings: bool = False):
        self.start_ms, self.end_ms = start_ms, end_ms
        all_epochs = load_epochs(db, sites)
        # Replacements need every epoch of a device (the one replaced may be older than the period).
        self.replacements: list[Replacement] = [
            r for r in replacements(all_epochs) if r.at_ms is not None and start_ms <= r.at_ms < end_ms]
        self.epochs = with_ranges(db, [e for e in all_epochs if active_in(e, start_ms, end_ms)])
        self.unverified = unverified_by_device(db, start_ms, end_ms, sites)
        self.corrections = corrections(db, start_ms, end_ms, sites)
        # Ratings per device in the period: the audit lists them; a report has its own figures.
        self.ratings = ratings_by_device(db, start_ms, end_ms, sites) if ratings else {}
        self.shared = shared_ids(db, start_ms, end_ms, sites)

    def summary(self) -> Summary:
        return summarize(self.epochs, len(self.replacements), sum(self.unverified.values()),
                         sum(c["n"] for c in self.corrections))


def summary(db: Database, start_ms: int, end_ms: int, sites: Sequence[str] | None = None) -> Summary:
    return Scope(db, start_ms, end_ms, sites).summary()


def open_gaps(db: Database, now: datetime, after_min: float, sites: Sequence[str] | None = None) -> list[tuple]:
    """(epoch state, range) of every gap known for longer than ``after_min`` minutes and still open."""
    limit = now.astimezone(timezone.utc).timestamp() * 1000 - after_min * 60_000
    out = []
    for e in with_ranges(db, [e for e in load_epochs(db, sites) if e.missing]):
        for r in e.ranges:
            since = _ms(r.open_since)
            if since is not None and since <= limit:
                out.append((e, r))
    return out


class DeviceCompleteness(NamedTuple):
    summary: Summary  # over every epoch of the device
    ranges: list[Range]  # missing ranges of all its epochs, oldest epoch first
    replacements: list[Replacement]


def by_device(db: Database, sites: Sequence[str] | None = None) -> dict[tuple[str, str], DeviceCompleteness]:
    """Whole-history completeness per device (every epoch), for the device health page."""
    per: dict[tuple[str, str], list[EpochState]] = {}
    epochs = with_ranges(db, load_epochs(db, sites))
    for e in epochs:
        per.setdefault((e.site, e.device), []).append(e)
    replaced: dict[tuple[str, str], list[Replacement]] = {}
    for r in replacements(epochs):
        replaced.setdefault((r.site, r.device), []).append(r)
    return {k: DeviceCompleteness(summarize(v, len(replaced.get(k, []))), [r for e in v for r in e.ranges],
                                  replaced.get(k, [])) for k, v in per.items()}


def _ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
