"""One thin connection type over SQLite and PostgreSQL so the rest of the collector writes SQL once.

SQL is written with ``?`` placeholders; for PostgreSQL they become ``%s``. Both connections run in
autocommit mode and group statements with ``transaction()``.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

from .db_error import DatabaseError  # noqa: F401  (defined apart so schema.py needs nothing of this module)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _create_private(path: Path) -> None:
    """A new database file is made readable by its owner only (0600): it holds every rating, account and
    session. SQLite gives its -wal and -shm files the mode of the database file. An existing file keeps
    its mode (an operator may have shared it with a group on purpose)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)  # whatever the umask
    os.close(fd)


class Database:
    def __init__(self, url: str, password: str | None = None):
        self.url = url
        self._lock = threading.RLock()
        if url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            path = url[len("sqlite:///"):]
            try:
                if path != ":memory:":
                    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot make the folder of SQLite database {path}: {exc.strerror or exc}") from None
            try:
                if path != ":memory:":
                    _create_private(Path(path).expanduser())
            except OSError as exc:
                raise DatabaseError(f"cannot create SQLite database {path}: {exc.strerror or exc}") from None
            try:
                self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                self.conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a batch acknowledged to the broker must survive a power cut.
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise DatabaseError(f"cannot open SQLite database {path}: {exc}") from None
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgres"
            try:
                import psycopg
            except ImportError:
                raise DatabaseError("PostgreSQL support is not installed: pip install 'hailong-feedback[postgres]'") from None
            kwargs = {"password": password} if password else {}
            try:
                self.conn = psycopg.connect(url, autocommit=True, **kwargs)
            except psycopg.Error as exc:
                raise DatabaseError(f"cannot connect to {_redact(url)}: {str(exc).strip()}") from None
        else:
            raise DatabaseError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")

    # -------------------------------------------------------------- statements
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()):
        with self._lock:
            return self.conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            if self.dialect == "sqlite":
                self.conn.executemany(sql, rows)
            else:
                with self.conn.cursor() as cur:
                    cur.executemany(self._sql(sql), list(rows))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            cur = self.conn.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator["Database"]:
        """All statements inside commit together or not at all."""
        with self._lock:
            if self.dialect == "sqlite":
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            else:
                with self.conn.transaction():
                    yield self

    def close(self) -> None:
        with self._lock:
            try:
                self.conn.close()
            except Exception:
                pass


def connect(url: str, password: str | None = None, migrate: bool = True) -> Database:
    """Open a database and bring its schema up to date."""
    db = Database(url, password)
    if migrate:
        from .schema import migrate as _migrate

        _migrate(db)
    return db
