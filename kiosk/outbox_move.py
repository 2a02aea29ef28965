"""A kiosk never leaves ratings behind when its outbox moves.

A pushed config (or a technician) may change ``outbox.path``: an enrolled kiosk has an absolute path, a
fleet's defaults a relative one. The kiosk notes beside its kiosk.yaml which outbox it last used; when
it starts on another one and the old file still holds messages, it takes them into the new outbox
(with their own numbering, so receipts and completeness still name them) and moves the old file aside.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)
NOTE_SUFFIX = ".outbox"  # beside kiosk.yaml: the outbox it last ran with


def carry_over(config_path: Path, outbox_path: Path) -> Optional[int]:
    """Before the kiosk opens ``outbox_path``: take what waits in the outbox it used before, if that was
    another file. Returns how many messages were taken, or None when nothing moved."""
    note = Path(config_path).with_name(Path(config_path).name + NOTE_SUFFIX)
    new = Path(outbox_path).resolve()
    try:
        old: Optional[Path] = Path(note.read_text(encoding="utf-8").strip())
    except OSError:
        old = None
    taken = None
    if old is not None and old != new and old.exists() and old.stat().st_size > 0:
        if not new.exists() or new.stat().st_size == 0:
            taken = _move_file(old, new)  # the same outbox, epoch and numbering, in its new place
            print(f"kiosk: outbox.path changed from {old} to {new}: the outbox moved with its {taken} waiting "
                  f"messages", flush=True)
        else:
            from .outbox import Outbox

            box = Outbox(new, journal=True)
            try:
                taken = box.adopt(old)
            finally:
                box.close()
            print(f"kiosk: outbox.path changed from {old} to {new}: {taken} waiting messages moved into the "
                  f"outbox there; the old file is kept beside it", flush=True)
    if old != new:
        try:
            tmp = note.with_name(note.name + ".tmp")
            tmp.write_text(str(new) + "\n", encoding="utf-8")
            os.replace(tmp, note)
        except OSError as exc:  # a read-only folder: the next start compares again
            log.warning("cannot note the outbox in use beside %s: %s", config_path, exc)
    return taken


def _move_file(old: Path, new: Path) -> int:
    """Move a whole outbox file (its write-ahead log folded in first) and its marker; returns how many
    messages wait in it."""
    import shutil
    import sqlite3

    from .storage import marker_path

    conn = sqlite3.connect(old)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        waiting = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        conn.close()
    new.parent.mkdir(parents=True, exist_ok=True)
    for side in ("-wal", "-shm"):
        Path(str(new) + side).unlink(missing_ok=True)
    shutil.move(str(old), str(new))
    for side in ("-wal", "-shm"):
        Path(str(old) + side).unlink(missing_ok=True)
    if marker_path(old).exists():
        shutil.move(str(marker_path(old)), str(marker_path(new)))
    return waiting
