"""Names for storage faults, and the small marker file that remembers an outbox existed.

A kiosk on an SD card meets a full disk, a card the kernel remounted read-only, I/O errors and
damaged files. Each is named here once, in the words the technician view and the status use.
"""
from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path
from typing import Optional

DISK_FULL = "disk full"
READ_ONLY = "read-only"
IO_ERROR = "I/O error"
CORRUPT = "outbox corrupt"

_FULL = ("database or disk is full", "no space left")
_READ_ONLY = ("readonly database", "read-only file system", "read-only")
_CORRUPT = ("malformed", "not a database", "corrupt")


def classify(exc: BaseException) -> Optional[str]:
    """The fault a storage exception means, or None for one that is not about storage (a duplicate id)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return None
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return DISK_FULL
        if exc.errno == errno.EROFS:
            return READ_ONLY
        return IO_ERROR
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith("SQLITE_FULL") or any(s in text for s in _FULL):
        return DISK_FULL
    if name.startswith("SQLITE_READONLY") or any(s in text for s in _READ_ONLY):
        return READ_ONLY
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or any(s in text for s in _CORRUPT):
        return CORRUPT
    return IO_ERROR


def refine(kind: Optional[str], folder: Path) -> Optional[str]:
    """SQLite reports a write refused by a read-only or full filesystem as a plain I/O error
    (SQLITE_IOERR_WRITE): ask the filesystem which it is."""
    if kind != IO_ERROR:
        return kind
    try:
        st = os.statvfs(folder)
    except OSError:
        return kind
    if st.f_flag & os.ST_RDONLY:
        return READ_ONLY
    if st.f_bavail * st.f_frsize < 64 * 1024:
        return DISK_FULL
    # ext4's emergency read-only state is not in the mount flags: a small write tells
    return probe_write(Path(folder)) or kind


def probe_write(folder: Path) -> Optional[str]:
    """Write, fsync and remove a 4 KiB file in ``folder``: None if the disk takes it, else the fault."""
    probe = folder / ".outbox-write-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return classify(exc)
    return None


def check(path: Path) -> list[str]:
    """SQLite's own structural check of an outbox file: [] when sound, else what is wrong.

    Raises sqlite3.Error/OSError only for faults that are not damage (the file cannot be opened)."""
    conn = sqlite3.connect(path, timeout=5)
    try:
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            if classify(exc) != CORRUPT:
                raise
            return [str(exc)]
        if rows != ["ok"]:
            return rows
        if "outbox" not in tables:
            return ["no outbox table: not an outbox file"] if tables else []
        return []
    finally:
        conn.close()


def looks_corrupt(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    return bool(check(path))


def marker_path(outbox: Path) -> Path:
    return outbox.with_name(outbox.name + ".epoch")


def read_marker(outbox: Path) -> Optional[dict]:
    try:
        return json.loads(marker_path(outbox).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_marker(outbox: Path, epoch: str, **facts) -> None:
    """Beside the outbox: its epoch and, at a clean stop, how many messages it held. Written only at
    opening and stopping (never on the tap path); a later start that finds the outbox gone or empty
    but this marker present reports the loss instead of starting quietly empty."""
    old = read_marker(outbox) or {}
    if not facts and old.get("epoch") == epoch:
        return
    data = {"epoch": epoch, **({k: v for k, v in old.items() if k != "epoch"} if old.get("epoch") == epoch else {}),
            **facts}
    target = marker_path(outbox)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
