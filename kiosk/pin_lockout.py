"""Wrong officer PINs, counted per officer and kept on disk.

Five wrong PINs for one officer lock that officer's PIN entry for ``lockout_s`` (each lockout in a row
twice as long, up to 64 times); the other officers still sign in, so a citizen who guesses at one name
locks out only that name. The counts live in a small JSON file written (and fsynced) at each wrong PIN,
so switching the kiosk off and on does not give anyone five fresh tries.

Time: ``now`` is the monotonic clock, which starts again at every boot. A lockout remembers the boot it
began in; in a later boot it runs again for its whole length from the kiosk's start (the kiosk cannot
know how long it was off, and a power cut must never shorten a lockout).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

MAX_TRIES = 5
MAX_DOUBLINGS = 6
SUFFIX = ".pin-lockout.json"


def beside_outbox(outbox_path, lockout_s: float, boot: str) -> "PinLockout":
    """The kiosk's lockout file, in the outbox's folder (the kiosk's own data): outbox.db -> outbox.pin-lockout.json."""
    return PinLockout(Path(outbox_path).with_suffix(SUFFIX), lockout_s, boot=boot)


class PinLockout:
    def __init__(self, path: Optional[Path] = None, lockout_s: float = 300.0, boot: str = "",
                 max_tries: int = MAX_TRIES):
        self.path = Path(path) if path else None  # None: in memory only (tests, a kiosk without officers)
        self.lockout_s = lockout_s
        self.max_tries = max_tries
        self.boot = boot
        self.officers: dict[str, dict] = self._read()
        self._loaded = False  # entries of an earlier boot are re-timed at the first ``now`` seen

    # ------------------------------------------------------------ the rules
    def locked(self, officer: str, now: float) -> float:
        """Seconds left of this officer's lockout, 0 when a PIN may be tried."""
        self._retime(now)
        entry = self.officers.get(officer)
        return max(0.0, entry["until"] - now) if entry and entry.get("until") else 0.0

    def wrong(self, officer: str, now: float) -> bool:
        """A wrong PIN for ``officer``; True when it locks them out now."""
        self._retime(now)
        entry = self.officers.setdefault(officer, {"failures": 0, "lockouts": 0})
        entry["failures"] = entry.get("failures", 0) + 1
        locks = entry["failures"] >= self.max_tries
        if locks:
            length = self.lockout_s * 2 ** min(entry.get("lockouts", 0), MAX_DOUBLINGS)
            entry.update(failures=0, lockouts=entry.get("lockouts", 0) + 1, until=now + length, length=length,
                         boot=self.boot)
        self._save()
        return locks

    def right(self, officer: str) -> None:
        """The right PIN: the officer's count starts again."""
        if self.officers.pop(officer, None) is not None:
            self._save()

    def failures(self, officer: str) -> int:
        entry = self.officers.get(officer)
        return entry.get("failures", 0) if entry else 0

    # ------------------------------------------------------------ the file
    def _retime(self, now: float) -> None:
        if self._loaded:
            return
        self._loaded = True
        for entry in self.officers.values():
            if entry.get("until") and entry.get("boot") != self.boot:  # locked in an earlier boot
                entry.update(until=now + float(entry.get("length") or self.lockout_s), boot=self.boot)

    def _read(self) -> dict[str, dict]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        officers = data.get("officers") if isinstance(data, dict) else None
        if not isinstance(officers, dict):
            return {}
        out = {}
        for key, entry in officers.items():
            if isinstance(key, str) and isinstance(entry, dict):
                try:
                    out[key] = {"failures": int(entry.get("failures", 0)), "lockouts": int(entry.get("lockouts", 0)),
                                "until": float(entry.get("until") or 0), "length": float(entry.get("length") or 0),
                                "boot": str(entry.get("boot", ""))}
                except (TypeError, ValueError):
                    continue
        return out

    def _save(self) -> None:
        if self.path is None:
            return
        from .push_state import write_atomic

        try:
            write_atomic(self.path, json.dumps({"officers": self.officers}).encode("utf-8"))
        except OSError:
            pass  # a full or failing disk: the count still holds until the kiosk stops
