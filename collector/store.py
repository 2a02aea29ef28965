"""Write one classified batch in one transaction: new ratings, their rollups, devices, rejects.

The rating ``id`` is the key: a rating already stored (a redelivery after a crash, a kiosk resend)
is counted as a duplicate and adds nothing to the hourly rollup. Knowing which rows were new:
PostgreSQL says so with ``RETURNING id`` after a COPY into a staging table; on SQLite the ids already
present are read first inside the ``BEGIN IMMEDIATE`` transaction, which holds the write lock (race-free).

Rows go in as multi-row ``INSERT ... VALUES (...), (...)`` statements, not executemany: Python's
sqlite3 releases the GIL around every row of an executemany, and with paho's network thread busy
each re-acquisition can wait a whole switch interval (measured: 300 to 2,000 rows/s instead of
50,000). One statement per few thousand rows keeps the writer fast whatever the other thread does.
"""
from __future__ import annotations

from typing import NamedTuple

from collector import records
from collector.db import Database
from collector.ingest import Batch

_SQLITE_IN_CHUNK = 900  # bound on host parameters per SELECT ... IN (...)

_MAX_PARAMS = 30000  # per statement; SQLite allows 32766, PostgreSQL 65535

DEVICE_COLUMNS = "site, device, state, status_ts, last_seen, app_version, outbox_depth, last_rating_ts, " \
                 "config_hash, clock_skew_s"
UPSERT_DEVICE_TAIL = (
    " ON CONFLICT (site, device) DO UPDATE SET state = excluded.state, status_ts = excluded.status_ts, "
    "last_seen = CASE WHEN excluded.last_seen > devices.last_seen THEN excluded.last_seen ELSE devices.last_seen END, "
    "app_version = excluded.app_version, outbox_depth = excluded.outbox_depth, "
    "last_rating_ts = excluded.last_rating_ts, config_hash = excluded.config_hash, "
    "clock_skew_s = COALESCE(excluded.clock_skew_s, devices.clock_skew_s) "
    # An older status (a late retained replay, a delayed message) never overwrites a newer one.
    "WHERE devices.status_ts IS NULL OR excluded.status_ts >= devices.status_ts")
_COLS = ", ".join(records.RATING_COLUMNS)


class WriteResult(NamedTuple):
    inserted: int
    duplicates: int  # already in the database (duplicates inside the batch are counted by ingest)
    rejects: int
    devices: int


class Store:
    def __init__(self, db: Database):
        self.db = db
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

    def write(self, batch: Batch) -> WriteResult:
        """Commit the batch or raise (nothing written); the caller acks only after this returns."""
        with self.db.transaction():
            new = self._insert_sqlite(batch) if self.db.dialect == "sqlite" else self._insert_postgres(batch)
            self._values("rollup_hour", records.ROLLUP_COLUMNS, records.rollup_rows(records.increments(new)),
                         records.ROLLUP_CONFLICT)
            self._values("devices", DEVICE_COLUMNS, batch.devices, UPSERT_DEVICE_TAIL)  # unique keys (ingest)
            self._values("rejects", "received_at, topic, reason, payload", batch.rejects)
        return WriteResult(len(new), len(batch.rows) - len(new), len(batch.rejects), len(batch.devices))

    def _values(self, table: str, columns: str, rows: list, tail: str = "") -> None:
        """INSERT rows with as few statements as the parameter limit allows."""
        if not rows:
            return
        width = len(rows[0])
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
            self.db.execute(sql, [v for row in chunk for v in row])

    def _insert_sqlite(self, batch: Batch) -> list:
        rows = batch.rows
        if not rows:
            return []
        ids = [r.id for r in rows]
        present: set[str] = set()
        for i in range(0, len(ids), _SQLITE_IN_CHUNK):
            chunk = ids[i:i + _SQLITE_IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            present.update(r[0] for r in self.db.conn.execute(f"SELECT id FROM ratings WHERE id IN ({marks})", chunk))
        new = [r for r in rows if r.id not in present] if present else rows
        # ON CONFLICT stays: the ids were checked under the write lock, this is a second guard.
        self._values("ratings", _COLS, new, " ON CONFLICT (id) DO NOTHING")
        return new

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
