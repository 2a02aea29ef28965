"""``python -m kiosk outbox check|salvage PATH``: what a technician runs on a kiosk whose outbox is damaged."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from . import storage
from .salvage import read_outbox, salvage_into

SOUND, DAMAGED, UNREADABLE = 0, 1, 2


def _say(line: str) -> None:
    print(line, flush=True)


def check(path: Path) -> int:
    """Report on the file without changing it."""
    if not path.exists():
        marker = storage.read_marker(path)
        _say(f"{path}: no such file" + (f" (an outbox of epoch {marker.get('epoch')} existed here: it was removed)"
                                        if marker else ""))
        return UNREADABLE
    if path.stat().st_size == 0:
        marker = storage.read_marker(path)
        _say(f"{path}: EMPTY (0 bytes)" + (f"; an outbox of epoch {marker.get('epoch')} existed here, holding "
                                            f"{marker.get('depth', 'an unknown number of')} messages at its last stop"
                                            if marker else ""))
        return DAMAGED if marker else SOUND
    try:
        problems = storage.check(path)
    except (sqlite3.Error, OSError) as exc:
        _say(f"{path}: cannot be opened: {exc} ({storage.classify(exc)})")
        return UNREADABLE
    found = read_outbox(path)
    if not problems:
        _say(f"{path}: sound; {len(found['rows'])} messages waiting; epoch {found['epoch']}, "
             f"last seq {found['seq_last']}")
        return SOUND
    _say(f"{path}: DAMAGED: " + "; ".join(problems[:5]))
    _say(f"  readable: {len(found['rows'])} messages waiting"
         + (f", at least {found['unreadable']} unreadable" if found["unreadable"] else ""))
    for p in found["problems"]:
        _say(f"  {p}")
    _say(f"  to recover: stop the kiosk, then run: python -m kiosk outbox salvage {path}")
    return DAMAGED


def salvage(path: Path, force: bool = False) -> int:
    if not path.exists() or path.stat().st_size == 0:
        _say(f"{path}: missing or empty, nothing to salvage (the kiosk starts a new outbox by itself)")
        return UNREADABLE
    try:
        sound = not storage.check(path)
    except (sqlite3.Error, OSError) as exc:
        _say(f"{path}: cannot be opened: {exc}")
        return UNREADABLE
    if sound and not force:
        _say(f"{path}: sound, nothing to salvage (use --force to rebuild it anyway)")
        return SOUND
    try:
        report = salvage_into(path)
    except (sqlite3.Error, OSError) as exc:
        _say(f"{path}: salvage failed: {exc} ({storage.classify(exc)})")
        return UNREADABLE
    _say(f"{path}: damaged file moved to {report['moved_to']} (kept; report beside it)")
    _say(f"  salvaged {report['salvaged']} messages into a new outbox at {path} (epoch {report['new_epoch']})")
    if report["unreadable"]:
        _say(f"  LOST: {report['unreadable']} messages could not be read")
    for p in report["problems"]:
        _say(f"  {p}")
    return DAMAGED if report["unreadable"] else SOUND


def outbox_command(action: str, path: Path, force: bool = False) -> int:
    return check(path) if action == "check" else salvage(path, force)


if __name__ == "__main__":
    sys.exit(outbox_command(sys.argv[1], Path(sys.argv[2])))
