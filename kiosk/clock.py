"""The kiosk's time, as wire contract v2 carries it: wall clock, boot, monotonic clock, and whether
the wall clock is confirmed.

A Raspberry Pi has no real-time clock: after a power cut it boots at the time saved at shutdown (or
1970) and keeps it until NTP answers, which in a commune without internet can take days. The
monotonic clock cannot jump; with the boot it belongs to, the collector places every tap on real
time once it has seen one live status from that boot.
"""
from __future__ import annotations

import ctypes
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, NamedTuple

# Linux's id of the current boot. HAILONG_BOOT_ID_FILE points elsewhere: for systems that keep it
# elsewhere, and for tests that play a reboot on one machine.
BOOT_ID_FILE = Path(os.environ.get("HAILONG_BOOT_ID_FILE", "/proc/sys/kernel/random/boot_id"))
_TIME_ERROR = 5  # adjtimex(2): "clock not synchronized"


class Stamp(NamedTuple):
    """When something happened, in every form the contract carries."""

    ts: datetime      # the kiosk's wall clock (UTC)
    boot: str         # the boot (origin of mono_ms)
    mono_ms: int      # monotonic milliseconds since that origin
    clock: str        # "synced" or "unsynced"


def read_boot_id(path: Path = BOOT_ID_FILE) -> str:
    """Linux's id of this boot, whose CLOCK_MONOTONIC starts at zero with it. Elsewhere (no /proc),
    an id made for this process: mono_ms is then relative to an origin this process alone knows,
    which is still consistent for every message it sends."""
    try:
        text = path.read_text(encoding="ascii").strip()
        return str(uuid.UUID(text))
    except (OSError, ValueError):
        return "p-" + uuid.uuid4().hex


def kernel_clock_synced() -> bool | None:
    """True/False when the kernel knows whether NTP disciplines the clock (adjtimex), None when it
    cannot be asked (not Linux, no permission)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR


class KioskClock:
    """Stamps taps. ``synced`` comes from the kernel's NTP state, refreshed at most every 60 s."""

    def __init__(self, boot: str | None = None, monotonic: Callable[[], float] = time.monotonic,
                 utc: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 synced: Callable[[], bool | None] = kernel_clock_synced):
        self.boot = boot or read_boot_id()
        self._monotonic = monotonic
        self._utc = utc
        self._synced = synced
        self._synced_at = -1e18
        self._synced_value = False

    def is_synced(self) -> bool:
        now = self._monotonic()
        if now - self._synced_at >= 60.0:
            value = self._synced()
            self._synced_value = bool(value)
            self._synced_at = now
        return self._synced_value

    def mono_ms(self) -> int:
        return max(0, int(self._monotonic() * 1000))

    def stamp(self, ts: datetime | None = None) -> Stamp:
        return Stamp(ts or self._utc(), self.boot, self.mono_ms(), "synced" if self.is_synced() else "unsynced")


def clock_wrong_text(offset_s: float) -> str:
    """'clock wrong by 3 d 2 h (behind)' for an offset of the collector's clock minus ours (Kivy markup)."""
    a = abs(offset_s)
    d, h, m = int(a // 86400), int(a % 86400 // 3600), int(a % 3600 // 60)
    amount = " ".join(p for p in (f"{d} d" if d else "", f"{h} h" if h else "", f"{m} min" if m and not d else "") if p)
    amount = amount or "1 min"
    late = offset_s > 0
    return (f"[color=c0392b][b]đồng hồ {'chậm' if late else 'nhanh'} {amount} / clock wrong by {amount}[/b][/color] "
            f"({'behind' if late else 'ahead'})")
