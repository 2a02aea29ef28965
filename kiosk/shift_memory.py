"""The officer on duty, kept beside the outbox: a power cut does not sign an officer out silently.

Written when an officer signs in, touched while the counter is in use (at most every TOUCH_EVERY_S),
removed at every sign-out (a clean stop signs out and removes it). At the next start, a file still
there means the kiosk stopped mid-shift: the officer is signed in again when that is safe (the same
local day, before closing, and the counter was in use within the idle time; one hour when idle
sign-out is off), with a ``sign_in`` event saying so. Otherwise the file is dropped and the rating
screen offers the sign-in as usual. The collector ends the interrupted shift at the last sign of life
of the boot it was on (collector/reports/officers.py), so hours count only the time worked.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

TOUCH_EVERY_S = 30.0
NO_IDLE_LIMIT_S = 3600.0  # with idle sign-out off: restore only if the counter was in use this recently
SUFFIX = ".on-duty.json"


def beside_outbox(outbox_path: Path | str) -> Path:
    p = Path(outbox_path)
    return p.with_name(p.name + SUFFIX)


class ShiftMemory:
    def __init__(self, path: Optional[Path]):
        self.path = path
        self._touched = 0.0

    def _write(self, data: dict) -> None:
        if self.path is None:
            return
        try:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a full or read-only card: the shift is still recorded by its events

    def signed_in(self, officer: str, service: Optional[str], wall: datetime, mono: float) -> None:
        self._touched = mono
        self._write({"officer": officer, "service": service, "since": wall.astimezone(timezone.utc).isoformat(),
                     "active": wall.astimezone(timezone.utc).isoformat()})

    def touch(self, wall: datetime, mono: float) -> None:
        """The counter is in use; kept at most every TOUCH_EVERY_S (never on a tap's path otherwise)."""
        if self.path is None or mono - self._touched < TOUCH_EVERY_S:
            return
        data = self.read()
        if data is None:
            return
        self._touched = mono
        data["active"] = wall.astimezone(timezone.utc).isoformat()
        self._write(data)

    def signed_out(self) -> None:
        if self.path is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass

    def read(self) -> Optional[dict]:
        if self.path is None:
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and isinstance(data.get("officer"), str) else None
        except (OSError, ValueError):
            return None

    def restorable(self, now_local: datetime, idle_s: float, closing: Optional[datetime]) -> Optional[dict]:
        """The officer to sign in again after an unclean stop, or None (and the note is dropped)."""
        data = self.read()
        self.signed_out()
        if data is None:
            return None
        try:
            active = datetime.fromisoformat(data["active"]).astimezone(now_local.tzinfo)
        except (KeyError, TypeError, ValueError):
            return None
        limit = idle_s if idle_s > 0 else NO_IDLE_LIMIT_S
        quiet = (now_local - active).total_seconds()
        if active.date() != now_local.date() or not 0 <= quiet <= limit:
            return None  # another day, a clock that jumped, or too long ago: the officer signs in again
        if closing is not None and now_local >= closing:
            return None
        return data
