"""The durable outbox: every rating is committed here before the thank-you screen shows.

SQLite in WAL mode with synchronous=FULL: a committed row survives kill -9 and power loss. The UI
thread adds rows; the uplink thread reads them in order and deletes them only after the broker's
PUBACK. Each thread gets its own connection (sqlite3 connections must not be shared across threads).
An optional journal keeps every id ever created (tests and the simulator compare it with what arrived).
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable, NamedTuple, Optional

from broker.contract import Rating, encode, format_ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- send order
    id TEXT NOT NULL UNIQUE,                 -- the rating's event id
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,                   -- encoded contract v1 payload, sent as is
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Row(NamedTuple):
    seq: int
    id: str
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: str | Path, journal: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = journal
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.listeners: list = []  # called (no arguments) after each add, e.g. to wake the uplink
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit: survives power loss
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def add(self, rating: Rating, topic: str) -> int:
        """Commit one rating durably; returns its send-order number."""
        conn = self._conn()
        payload = encode(rating)
        ts = format_ts(rating.ts)
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute("INSERT INTO outbox (id, topic, payload, created) VALUES (?, ?, ?, ?)",
                               (rating.id, topic, payload, ts))
            if self.journal:
                conn.execute("INSERT INTO journal (id) VALUES (?)", (rating.id,))
            conn.execute("INSERT INTO meta (key, value) VALUES ('last_rating_ts', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (ts,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for listener in self.listeners:
            listener()
        return cur.lastrowid

    def peek(self, after_seq: int = 0, limit: int = 100) -> list[Row]:
        """The next rows to send, oldest first; only ``limit`` of them are ever in memory."""
        rows = self._conn().execute(
            "SELECT seq, id, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit)).fetchall()
        return [Row(s, i, t, bytes(p)) for s, i, t, p in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget rows the broker acknowledged (one transaction for a whole batch of PUBACKs)."""
        seqs = list(seqs)
        if not seqs:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(seqs), 500):
                chunk = seqs[i:i + 500]
                conn.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def depth(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def ids(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT id FROM outbox ORDER BY seq")]

    def journal_ids(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT id FROM journal ORDER BY seq")]

    def journal_count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM journal").fetchone()[0]

    def last_rating_ts(self) -> Optional[str]:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'last_rating_ts'").fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()
