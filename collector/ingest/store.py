"""Write one classified batch in one transaction: new ratings and events, their rollups, outbox
completeness counters, boot anchors, clock corrections, devices, rejects.

The rating ``id`` is the key: a rating already stored (a redelivery after a crash, a kiosk resend)
is counted as a duplicate and adds nothing to the rollups (hourly, and daily, monthly and monthly by
weekday and hour in local time). Knowing which rows were new:
PostgreSQL says so with ``RETURNING id`` after a COPY into a staging table, SQLite with ``RETURNING id``
of the multi-row INSERT, inside the ``BEGIN IMMEDIATE`` transaction that holds the write lock (race-free).

Rows go in as multi-row ``INSERT ... VALUES (...), (...)`` statements, not executemany: Python's
sqlite3 releases the GIL around every row of an executemany, and with paho's network thread busy
each re-acquisition can wait a whole switch interval (measured: 300 to 2,000 rows/s instead of
50,000). One statement per few thousand rows keeps the writer fast whatever the other thread does.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import NamedTuple

from collector.ingest import clones
from collector.storage import records
from collector.completeness.completeness import EpochRow, epoch_increments, epoch_rows
from collector.storage.db import Database
from collector.followup import answers as followup_answers
from collector.ingest.ingest import Batch
from collector.storage.placement import Anchors, correction_increments, place
from collector.ingest.rejects import RejectPolicy, RejectWriter
from collector.reports.report_queries import HOUR_MS, coarse_zone, uses_rollup

_SQLITE_IN_CHUNK = 900  # bound on host parameters per SELECT ... IN (...)

_MAX_PARAMS = 30000  # per statement; SQLite allows 32766, PostgreSQL 65535

DEVICE_COLUMNS = ("site, device, state, status_ts, last_seen, app_version, outbox_depth, last_rating_ts, "
                  "config_hash, clock_skew_s, received_ms, live, boot, clock, epoch, seq_last, officer, config_error, "
                  "fault, unreceipted, unreceipted_since, receipts, pushes")
_DEVICE_SET = ", ".join(f"{c} = excluded.{c}" for c in (
    "state", "status_ts", "app_version", "outbox_depth", "last_rating_ts", "config_hash", "received_ms", "live",
    "boot", "clock", "epoch", "seq_last", "officer", "config_error", "fault", "unreceipted", "unreceipted_since",
    "receipts", "pushes"))
UPSERT_DEVICE_TAIL = (
    f" ON CONFLICT (site, device) DO UPDATE SET {_DEVICE_SET}, "
    "last_seen = CASE WHEN excluded.last_seen > devices.last_seen THEN excluded.last_seen ELSE devices.last_seen END, "
    "clock_skew_s = COALESCE(excluded.clock_skew_s, devices.clock_skew_s) "
    # Ordered by the collector's receive time, never the kiosk's clock: a kiosk whose clock jumped back
    # (or says 2199) still moves its row, its last will included. A retained replay (live = 0) never
    # overrides a row made from a live status.
    "WHERE devices.received_ms IS NULL "
    "OR (excluded.live = 1 AND excluded.received_ms >= devices.received_ms) "
    "OR (excluded.live = 0 AND devices.live = 0 AND excluded.received_ms >= devices.received_ms)")
_EPOCH_COLUMNS = ", ".join(EpochRow._fields)
_EPOCH_TAIL = (
    " ON CONFLICT (site, device, epoch) DO UPDATE SET received = epochs.received + excluded.received, "
    "max_seq = CASE WHEN excluded.max_seq > epochs.max_seq THEN excluded.max_seq ELSE epochs.max_seq END, "
    # SET reads the old row everywhere, so seq_last_at compares with the seq_last before this update.
    "seq_last_at = CASE WHEN excluded.seq_last > epochs.seq_last THEN excluded.seq_last_at ELSE epochs.seq_last_at END, "
    "seq_last = CASE WHEN excluded.seq_last > epochs.seq_last THEN excluded.seq_last ELSE epochs.seq_last END, "
    "first_ms = CASE WHEN epochs.first_ms IS NULL OR excluded.first_ms < epochs.first_ms "
    "THEN excluded.first_ms ELSE epochs.first_ms END, "
    "last_ms = CASE WHEN epochs.last_ms IS NULL OR excluded.last_ms > epochs.last_ms "
    "THEN excluded.last_ms ELSE epochs.last_ms END, "
    "first_seen = CASE WHEN epochs.first_seen IS NULL OR excluded.first_seen < epochs.first_seen "
    "THEN excluded.first_seen ELSE epochs.first_seen END, "
    "last_seen = CASE WHEN epochs.last_seen IS NULL OR excluded.last_seen > epochs.last_seen "
    "THEN excluded.last_seen ELSE epochs.last_seen END")
_BOOT_TAIL = (" ON CONFLICT (site, device, boot) DO UPDATE SET "
              "offset_ms = CASE WHEN excluded.offset_ms < boots.offset_ms THEN excluded.offset_ms "
              "ELSE boots.offset_ms END, seen_at = excluded.seen_at")
_CORRECTION_COLUMNS = "site, device, boot, n, min_delta_ms, max_delta_ms, first_ms, last_ms"
_CORRECTION_TAIL = (
    " ON CONFLICT (site, device, boot) DO UPDATE SET n = clock_corrections.n + excluded.n, "
    "min_delta_ms = CASE WHEN excluded.min_delta_ms < clock_corrections.min_delta_ms "
    "THEN excluded.min_delta_ms ELSE clock_corrections.min_delta_ms END, "
    "max_delta_ms = CASE WHEN excluded.max_delta_ms > clock_corrections.max_delta_ms "
    "THEN excluded.max_delta_ms ELSE clock_corrections.max_delta_ms END, "
    "first_ms = CASE WHEN excluded.first_ms < clock_corrections.first_ms "
    "THEN excluded.first_ms ELSE clock_corrections.first_ms END, "
    "last_ms = CASE WHEN excluded.last_ms > clock_corrections.last_ms "
    "THEN excluded.last_ms ELSE clock_corrections.last_ms END")
_EVENT_COLS = ", ".join(records.EVENT_COLUMNS)
_COLS = ", ".join(records.RATING_COLUMNS)
_V1_WIDTH = records.RATING_COLUMNS.index("time_unverified") + 1  # the v1 fields, at_ms, time_unverified
_V1_COLS = ", ".join(records.RATING_COLUMNS[:_V1_WIDTH])


class WriteResult(NamedTuple):
    inserted: int  # ratings and events newly stored
    duplicates: int  # already in the database (duplicates inside the batch are counted by ingest)
    rejects: int
    devices: int


class _PlacedEvent(NamedTuple):
    id: str
    site: str
    device: str
    boot: str
    ts_ms: int
    at_ms: int


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


_PG_VALUES_UP_TO = 32  # rollup rows of a batch written as VALUES on PostgreSQL; more go through COPY
# ISO weekday and hour of day of lh, local hours since 1970-01-01 (a Thursday); without '%', which
# PostgreSQL's driver reads as a placeholder.
_WEEKDAY_HOUR = "(lh / 24 + 3) - (lh / 24 + 3) / 7 * 7 + 1, lh - lh / 24 * 24"
_RAW_FLAGGED = "CASE WHEN flags <> '' THEN 1 ELSE 0 END + 2 * time_unverified"  # as records.rollup_key


def sync_zone(db: Database, tz: str) -> bool:
    """Make the coarse rollups hold local days, months and month x weekday x hour of ``tz``: rebuilt from
    rollup_hour (and from ratings where local days are not whole UTC hours) when rollup_zone names another
    zone or none. True when rebuilt. On PostgreSQL the rebuild holds rollup_zone exclusively: every batch reads the zone
    first (``Store._calendar``), so none writes until the rebuild is committed, then in the new zone."""
    if coarse_zone(db) == tz:
        return False
    with db.transaction():
        if db.dialect == "postgres":
            db.execute("LOCK TABLE rollup_zone IN EXCLUSIVE MODE")
        if coarse_zone(db) == tz:  # another collector just did it
            return False
        rebuild_coarse(db, tz)
        db.execute("UPDATE rollup_zone SET zone = ?", (tz,))
    return True


def rebuild_coarse(db: Database, tz: str) -> None:
    """Fill rollup_day, rollup_month and rollup_month_wh from rollup_hour, one local day or month per
    statement; call inside a transaction. Sums of whole hours are exact whenever the local day or month is
    made of whole UTC hours; otherwise (zones like India's) that day or month is counted from the ratings
    table."""
    db.execute("DELETE FROM rollup_day")
    db.execute("DELETE FROM rollup_month")
    db.execute("DELETE FROM rollup_month_wh")
    lo = db.scalar("SELECT MIN(hour) FROM rollup_hour")
    hi = db.scalar("SELECT MAX(hour) FROM rollup_hour")
    if lo is None:
        return
    cal = records.calendar(tz)
    first, last = cal.day_of(int(lo) * HOUR_MS), cal.day_of((int(hi) + 1) * HOUR_MS - 1)
    day_cols = "site, device, scale, rating"
    for day in range(first, last + 1):
        start, end = cal.day_start_ms(day), cal.day_start_ms(day + 1)
        if uses_rollup(tz, start, end):
            db.execute(f"INSERT INTO rollup_day ({records.DAY_COLUMNS}) SELECT ?, {day_cols}, flagged, SUM(n) "
                       f"FROM rollup_hour WHERE hour >= ? AND hour < ? GROUP BY {day_cols}, flagged "
                       f"HAVING SUM(n) <> 0", (day, start // HOUR_MS, end // HOUR_MS))
        else:
            db.execute(f"INSERT INTO rollup_day ({records.DAY_COLUMNS}) SELECT ?, {day_cols}, {_RAW_FLAGGED}, "
                       f"COUNT(*) FROM ratings WHERE at_ms >= ? AND at_ms < ? GROUP BY {day_cols}, {_RAW_FLAGGED}",
                       (day, start, end))
    month_cols = "site, device, officer, service, reason, scale, rating"
    raw_cols = "site, device, COALESCE(officer, ''), COALESCE(service, ''), COALESCE(reason, ''), scale, rating"
    for month in range(cal.month_of_day(first), cal.month_of_day(last) + 1):
        start, end = cal.month_start_ms(month), cal.month_start_ms(month + 1)
        if uses_rollup(tz, start, end):
            db.execute(f"INSERT INTO rollup_month ({records.MONTH_COLUMNS}) SELECT ?, {month_cols}, flagged, "
                       f"SUM(n) FROM rollup_hour WHERE hour >= ? AND hour < ? GROUP BY {month_cols}, flagged "
                       f"HAVING SUM(n) <> 0", (month, start // HOUR_MS, end // HOUR_MS))
            # Local hours since the epoch: each UTC hour plus the offset in force then (a clock change
            # inside the month starts another segment of the CASE).
            local = f"hour + {_offset_case(cal, start, end, HOUR_MS, 'hour', HOUR_MS)}"
            db.execute(f"INSERT INTO rollup_month_wh ({records.WH_COLUMNS}) SELECT ?, site, "
                       f"{_WEEKDAY_HOUR}, scale, rating, flagged, SUM(n) FROM "
                       f"(SELECT {local} AS lh, site, scale, rating, flagged, n FROM rollup_hour "
                       f"WHERE hour >= ? AND hour < ?) h GROUP BY 2, 3, 4, 5, 6, 7 HAVING SUM(n) <> 0",
                       (month, start // HOUR_MS, end // HOUR_MS))
        else:
            db.execute(f"INSERT INTO rollup_month ({records.MONTH_COLUMNS}) SELECT ?, {raw_cols}, {_RAW_FLAGGED}, "
                       f"COUNT(*) FROM ratings WHERE at_ms >= ? AND at_ms < ? GROUP BY {raw_cols}, {_RAW_FLAGGED}",
                       (month, start, end))
            local = f"(at_ms + {_offset_case(cal, start, end, records.QUARTER_MS, 'at_ms', 1)}) / {HOUR_MS}"
            db.execute(f"INSERT INTO rollup_month_wh ({records.WH_COLUMNS}) SELECT ?, site, "
                       f"{_WEEKDAY_HOUR}, scale, rating, flagged, COUNT(*) FROM "
                       f"(SELECT {local} AS lh, site, scale, rating, {_RAW_FLAGGED} AS flagged FROM ratings "
                       f"WHERE at_ms >= ? AND at_ms < ?) r GROUP BY 2, 3, 4, 5, 6, 7", (month, start, end))


def _offset_case(cal: records.Calendar, start_ms: int, end_ms: int, step_ms: int, column: str, unit_ms: int) -> str:
    """SQL for the UTC offset (in units of ``unit_ms``) at ``column`` (in the same units), over a local
    month: a CASE on the instants where the offset changes. Integers only, written into the statement."""
    segments = cal.offsets(start_ms, end_ms, step_ms)
    if len(segments) == 1:
        return str(segments[0][1] // unit_ms)
    whens = " ".join(f"WHEN {column} < {nxt // unit_ms} THEN {off // unit_ms}"
                     for (_, off), (nxt, _) in zip(segments, segments[1:]))
    return f"CASE {whens} ELSE {segments[-1][1] // unit_ms} END"


class Store:
    def __init__(self, db: Database, anchors: Anchors | None = None, timezone: str | None = None,
                 rejects: RejectPolicy | None = None):
        """``timezone``: the collector's local zone; the coarse rollups are rebuilt in it if they are kept
        in another one (or not built yet). Without it, batches keep them in whatever zone they are in.
        ``rejects``: how rejected messages are bounded (collector/ingest/rejects.py; default RejectPolicy())."""
        self.db = db
        self.reject_writer = RejectWriter(db, rejects)
        self.anchors = anchors  # learns boots other collectors anchored (see _anchor_from_db)
        if db.dialect == "sqlite":
            # Rating ids are random UUIDs, so every batch dirties pages all over the id index. A larger
            # page cache and fewer, larger WAL checkpoints write each such page less often: validating
            # and storing at a million stored ratings went from 22,500 to 30,700 rows/s. Costs up to
            # 64 MB of cache in the writer and a WAL of up to 64 MB between checkpoints.
            db.execute("PRAGMA cache_size=-65536")
            db.execute("PRAGMA wal_autocheckpoint=16384")
        if db.dialect == "postgres":
            # Staging table for COPY; private to this connection, emptied at each commit.
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS ratings_in ON COMMIT DELETE ROWS AS "
                       f"SELECT {_COLS} FROM ratings WITH NO DATA")
            for table in ("rollup_hour", "rollup_day", "rollup_month", "rollup_month_wh"):
                db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_in ON COMMIT DELETE ROWS AS "
                           f"SELECT * FROM {table} WITH NO DATA")
        if timezone is not None:
            sync_zone(db, timezone)

    def _calendar(self) -> records.Calendar | None:
        """The zone of the coarse rollups, read first in each batch's transaction. On PostgreSQL the
        ROW SHARE lock waits for a rebuild in progress (EXCLUSIVE), so a batch never counts in the old zone
        after a rebuild; collectors configured with different zones still keep the tables consistent."""
        if self.db.dialect == "postgres":
            self.db.execute("LOCK TABLE rollup_zone IN ROW SHARE MODE")
        zone = coarse_zone(self.db)
        return records.calendar(zone) if zone else None

    def _add_rollups(self, inc: records.Increments) -> None:
        """Every rollup in one fixed order, each in key order: collectors on PostgreSQL lock rollup rows in
        one order (no deadlock)."""
        self._upsert("rollup_hour", records.ROLLUP_COLUMNS, records.rollup_rows(inc.hour), records.ROLLUP_CONFLICT)
        self._upsert("rollup_day", records.DAY_COLUMNS, records.rollup_rows(inc.day), records.DAY_CONFLICT)
        self._upsert("rollup_month", records.MONTH_COLUMNS, records.rollup_rows(inc.month), records.MONTH_CONFLICT)
        self._upsert("rollup_month_wh", records.WH_COLUMNS, records.rollup_rows(inc.wh), records.WH_CONFLICT)

    def _upsert(self, table: str, columns: str, rows: list, tail: str) -> None:
        """Rollup rows, given in key order. On PostgreSQL through COPY into a staging table, then one
        INSERT ... SELECT in key order: psycopg parses a statement of thousands of placeholders anew each
        time (it caches only short ones), which cost more than the database's own work."""
        if not rows:
            return
        if self.db.dialect != "postgres" or len(rows) <= _PG_VALUES_UP_TO:
            self._values(table, columns, rows, tail)
            return
        with self.db.conn.cursor() as cur:
            with cur.copy(f"COPY {table}_in ({columns}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            key = columns.rsplit(",", 1)[0]  # every column but n
            cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_in ORDER BY {key}{tail}")

    def write(self, batch: Batch) -> WriteResult:
        """Commit the batch or raise (nothing written); the caller acks only after this returns."""
        with self.db.transaction():
            cal = self._calendar()
            self._anchor_from_db(batch)
            new = self._insert_sqlite(batch) if self.db.dialect == "sqlite" else self._insert_postgres(batch)
            new_events = self._insert_events(batch.events)
            if batch.followups:  # the thank-you QR: remember the token hashes, join answers that came first
                fresh = {r.id for r in new}
                followup_answers.on_ratings(self.db, [f for f in batch.followups if f[0] in fresh],
                                            int(time.time() * 1000))
            self._add_rollups(records.split(records.fine_counts(new, cal), cal))
            # One upsert of epoch counters from both the new messages and the statuses, one row per epoch
            # in key order: collectors on PostgreSQL lock these rows in one order (no deadlock).
            durable = [*new, *new_events] if new_events else new
            self._values("epochs", _EPOCH_COLUMNS, epoch_rows(epoch_increments(durable), batch.epoch_status),
                         _EPOCH_TAIL)
            # A v1 rating moved from the future is a correction too.
            self._values("clock_corrections", _CORRECTION_COLUMNS, correction_increments(durable), _CORRECTION_TAIL)
            if batch.anchors:
                best_a: dict[tuple, tuple] = {}
                for a in batch.anchors:
                    k = (a.site, a.device, a.boot)
                    if k not in best_a or a.offset_ms < best_a[k][3]:
                        best_a[k] = (*k, a.offset_ms, a.seen_at)
                first_seen = self._unknown_boots(sorted(best_a))
                self._values("boots", "site, device, boot, offset_ms, seen_at", [best_a[k] for k in sorted(best_a)],
                             _BOOT_TAIL)
                if first_seen:
                    self._place_waiting({k: best_a[k][3] for k in first_seen}, cal)
            self._values("devices", DEVICE_COLUMNS, batch.devices, UPSERT_DEVICE_TAIL)  # unique keys (ingest)
            self._follow_boots(batch.live_boots)
            self.reject_writer.write(batch.rejects)  # bounded: repeats counted, per device and window
            self.reject_writer.expire()  # at most every few minutes
        return WriteResult(len(new) + len(new_events), len(batch.rows) + len(batch.events) - len(new) - len(new_events),
                           len(batch.rejects), len(batch.devices))

    def _follow_boots(self, live: list[tuple[str, str, str, int]]) -> None:
        """Which boots each device's live statuses came from: two kiosks with one id take turns."""
        if not live:
            return
        seen: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for site, device, boot, ms in live:
            seen.setdefault((site, device), []).append((boot, ms))
        keys = sorted(seen)
        changed = []
        for i in range(0, len(keys), _SQLITE_IN_CHUNK // 2):
            chunk = keys[i:i + _SQLITE_IN_CHUNK // 2]
            rows = self.db.query(
                "SELECT site, device, track_boot, prev_boot, prev_boot_ms, shared_since_ms, shared_last_ms, "
                "shared_flips FROM devices WHERE " + " OR ".join(["(site = ? AND device = ?)"] * len(chunk)),
                [v for k in chunk for v in k])
            known = {(r[0], r[1]): clones.BootTrack(r[2], r[3], r[4], r[5], r[6], int(r[7] or 0)) for r in rows}
            for key in chunk:
                old = known.get(key, clones.BootTrack())
                new = clones.follow(old, sorted(seen[key], key=lambda b: b[1]))
                if new != old:
                    changed.append((*new, *key))
        if changed:
            self.db.executemany("UPDATE devices SET track_boot = ?, prev_boot = ?, prev_boot_ms = ?, shared_since_ms = ?, "
                                "shared_last_ms = ?, shared_flips = ? WHERE site = ? AND device = ?", changed)

    def load_anchors(self, days: int = 7, limit: int = 20_000) -> list[tuple[tuple, int]]:
        """The boots seen live most recently, for a collector that starts. Older ones are looked up in the
        database when a message of theirs arrives (``_anchor_from_db``), so this only saves queries."""
        since = datetime.fromtimestamp(time.time() - days * 86400, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        rows = self.db.query("SELECT site, device, boot, offset_ms FROM boots WHERE seen_at >= ? "
                             "ORDER BY seen_at DESC LIMIT ?", (since, limit))
        return [((site, device, boot), int(offset)) for site, device, boot, offset in rows]

    def _anchor_from_db(self, batch: Batch) -> None:
        """Place again the v2 messages whose boot this collector has not seen live, if another collector
        (or an earlier run) did: with several collectors, a kiosk's status and ratings may be split."""
        todo = [r for r in (*batch.rows, *batch.events) if r.time_unverified and r.boot is not None]
        if not todo:
            return
        keys = sorted({(r.site, r.device, r.boot) for r in todo})[:_SQLITE_IN_CHUNK // 3]
        # By the whole primary key, so the lookup stays an index probe however many boots are stored.
        found = {(s, d, b): int(o) for s, d, b, o in self.db.query(
            "SELECT site, device, boot, offset_ms FROM boots WHERE "
            + " OR ".join(["(site = ? AND device = ? AND boot = ?)"] * len(keys)), [v for k in keys for v in k])}
        if not found:
            return
        if self.anchors is not None:
            self.anchors.update(found.items())

        def fix(r):
            offset = found.get((r.site, r.device, r.boot))
            if offset is None:
                return r
            p = place(r.ts_ms, _ms(r.received_at), mono_ms=r.mono_ms, clock=r.clock, offset_ms=offset)
            return r._replace(at_ms=p.at_ms, time_unverified=int(p.unverified))

        batch.rows = [fix(r) if r.time_unverified and r.boot is not None else r for r in batch.rows]
        batch.events = [fix(r) if r.time_unverified else r for r in batch.events]

    def _unknown_boots(self, keys: list[tuple]) -> list[tuple]:
        """The boots of ``keys`` no live status had anchored before (checked by primary key)."""
        known: set[tuple] = set()
        step = _SQLITE_IN_CHUNK // 3
        for i in range(0, len(keys), step):
            chunk = keys[i:i + step]
            known.update((s, d, b) for s, d, b in self.db.query(
                "SELECT site, device, boot FROM boots WHERE "
                + " OR ".join(["(site = ? AND device = ? AND boot = ?)"] * len(chunk)), [v for k in chunk for v in k]))
        return [k for k in keys if k not in known]

    def _place_waiting(self, offsets: dict[tuple, int], cal: records.Calendar | None = None) -> None:
        """A boot seen live for the first time: the ratings and events of it stored before (flagged
        time_unverified: they came while this boot's status was only seen retained, or not yet) are
        placed on real time now, and every rollup moves their counts to the hour, day, month and local
        weekday and hour they belong to (and out of the unverified bit).
        A boot never seen live keeps its ratings flagged, where the kiosk's clock put them."""
        cols = ", ".join(records.RATING_COLUMNS)
        moved: list[tuple] = []
        events: list[tuple] = []
        for (site, device, boot), offset in sorted(offsets.items()):
            for r in self.db.query(f"SELECT {cols} FROM ratings WHERE site = ? AND device = ? AND boot = ? "
                                   "AND time_unverified = 1", (site, device, boot)):
                old = records.RatingRow(*r)
                p = place(old.ts_ms, _ms(old.received_at), mono_ms=old.mono_ms, clock=old.clock, offset_ms=offset)
                if not p.unverified:
                    moved.append((old, old._replace(at_ms=p.at_ms, time_unverified=0)))
            for eid, ts_ms, mono_ms, clock, received_at in self.db.query(
                    "SELECT id, ts_ms, mono_ms, clock, received_at FROM events WHERE site = ? AND device = ? "
                    "AND boot = ? AND time_unverified = 1", (site, device, boot)):
                p = place(ts_ms, _ms(received_at), mono_ms=mono_ms, clock=clock, offset_ms=offset)
                if not p.unverified:
                    events.append(_PlacedEvent(eid, site, device, boot, ts_ms, p.at_ms))
        if events:
            self.db.executemany("UPDATE events SET at_ms = ?, time_unverified = 0 WHERE id = ?",
                                [(e.at_ms, e.id) for e in events])
        self._values("clock_corrections", _CORRECTION_COLUMNS,
                     correction_increments([new for _, new in moved] + events), _CORRECTION_TAIL)
        if not moved:
            return
        fine = records.fine_counts((new for _, new in moved), cal)
        fine.subtract(records.fine_counts((old for old, _ in moved), cal))
        self._add_rollups(records.split(fine, cal))
        self.db.executemany("UPDATE ratings SET at_ms = ?, time_unverified = 0 WHERE id = ?",
                            [(new.at_ms, new.id) for _, new in moved])

    def _insert_events(self, rows: list) -> list:
        """Events are few: one INSERT ... RETURNING per chunk tells which ids were new, on both databases."""
        if not rows:
            return []
        inserted: set[str] = set()
        width = len(records.EVENT_COLUMNS)
        one = "(" + ", ".join("?" * width) + ")"
        per = max(1, _MAX_PARAMS // width)
        for i in range(0, len(rows), per):
            chunk = sorted(rows[i:i + per])  # id order: concurrent collectors lock in one order
            sql = (f"INSERT INTO events ({_EVENT_COLS}) VALUES {', '.join([one] * len(chunk))} "
                   f"ON CONFLICT (id) DO NOTHING RETURNING id")
            inserted.update(r[0] for r in self.db.query(sql, [v for row in chunk for v in row]))
        return [r for r in rows if r.id in inserted]

    def _values(self, table: str, columns: str, rows: list, tail: str = "", width: int = 0,
                returned: set | None = None) -> None:
        """INSERT rows with as few statements as the parameter limit allows; ``width`` > 0 takes only the
        first ``width`` fields of each row; ``returned``: ``tail`` ends in RETURNING one column, whose values
        are added to this set."""
        if not rows:
            return
        cut = width
        width = width or len(rows[0])
        per = max(1, _MAX_PARAMS // width)
        one = "(" + ", ".join("?" * width) + ")"
        i = 0
        while i < len(rows):
            # Chunks of a power of two rows: a dozen distinct statements per table, each prepared once
            # and cached by the driver (a 2,000-row statement holds about 3 MB).
            k = min(per, len(rows) - i)
            k = 1 << (k.bit_length() - 1)
            chunk, i = rows[i:i + k], i + k
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * k)}{tail}"
            cur = self.db.execute(sql, [v for row in chunk for v in row[:cut]] if cut else [v for row in chunk for v in row])
            if returned is not None:
                returned.update(r[0] for r in cur.fetchall())

    def _insert_sqlite(self, batch: Batch) -> list:
        """The new rows of the batch. Inside the ``BEGIN IMMEDIATE`` transaction, which holds the write lock,
        ``ON CONFLICT (id) DO NOTHING RETURNING id`` names exactly the rows this statement stored: one pass
        over the id index instead of a lookup of every id and then the insert."""
        rows = batch.rows
        if not rows:
            return []
        inserted: set[str] = set()
        tail = " ON CONFLICT (id) DO NOTHING RETURNING id"
        v1 = [r for r in rows if r.epoch is None]
        if len(v1) == len(rows):
            # v1 ratings leave the v2 columns NULL: binding only the columns they fill keeps their
            # ingest as fast as before those columns existed.
            self._values("ratings", _V1_COLS, rows, tail, _V1_WIDTH, inserted)
        else:
            self._values("ratings", _V1_COLS, v1, tail, _V1_WIDTH, inserted)
            self._values("ratings", _COLS, [r for r in rows if r.epoch is not None], tail, returned=inserted)
        if len(inserted) == len(rows):
            return rows
        return [r for r in rows if r.id in inserted]

    def _insert_postgres(self, batch: Batch) -> list:
        rows = batch.rows
        if not rows:
            return []
        conn = self.db.conn
        with conn.cursor() as cur:
            with cur.copy(f"COPY ratings_in ({_COLS}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            # ORDER BY id: collectors racing on the same ids lock index entries in one order.
            cur.execute(f"INSERT INTO ratings ({_COLS}) SELECT {_COLS} FROM ratings_in ORDER BY id "
                        f"ON CONFLICT (id) DO NOTHING RETURNING id")
            inserted = {r[0] for r in cur.fetchall()}
        if len(inserted) == len(rows):
            return rows
        return [r for r in rows if r.id in inserted]
