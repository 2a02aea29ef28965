"""The schema migrates once on both databases, and a newer schema is refused with a clear message."""
import pytest

from collector.storage.db import DatabaseError, connect
from collector.storage.schema import LATEST, MIGRATIONS, current_version


def test_schema_is_created_once_and_is_idempotent(db_url):
    db = connect(db_url)
    assert current_version(db) == LATEST
    db.close()
    db = connect(db_url)  # second start: nothing applied twice
    assert db.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)  # one row per migration
    tables = {"ratings", "rollup_hour", "devices", "rejects"}
    for t in tables:
        assert db.scalar(f"SELECT COUNT(*) FROM {t}") == 0
    db.close()


def test_transaction_rolls_back_on_error(db_url):
    db = connect(db_url)
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, ?, ?, ?)",
                       ("2026-01-01T00:00:00Z", "t", "r", b"x"))
            raise RuntimeError("boom")
    assert db.scalar("SELECT COUNT(*) FROM rejects") == 0


def test_newer_schema_is_refused(db_url):
    db = connect(db_url)
    db.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    db.close()
    with pytest.raises(DatabaseError, match="newer than this collector"):
        connect(db_url)


def test_bad_url_is_a_clear_error(tmp_path):
    with pytest.raises(DatabaseError, match="unsupported database URL"):
        connect("mysql://x")
    with pytest.raises(DatabaseError, match="cannot connect"):
        connect("postgresql://nobody@127.0.0.1:1/none")


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    import os
    import stat

    old = os.umask(0o022)  # the usual umask would leave a new file world-readable
    try:
        db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
        db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, ?, ?, ?)",
                   ("2026-01-01T00:00:00Z", "t", "r", b"x"))  # the WAL file exists now too
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        db.close()
    finally:
        os.umask(old)
    assert modes["ratings.db"] == 0o600 and modes["ratings.db-wal"] == 0o600, modes
