"""Two kiosks with one device id (a copied kiosk.yaml), seen from their statuses (pure, no I/O).

Every live v2 status names its kiosk's boot and its outbox's epoch; together they say which kiosk
spoke ("boot" below means that pair). One kiosk changes them only when it restarts or loses its outbox,
and never goes back to an old pair. Two kiosks sharing a device id take turns on the broker (each connection
throws the other off), so the statuses go A, B, A, B...: a status back on the boot left minutes ago
is the sign. The device is then flagged "shared" until no such flip has been seen for an hour.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

FLIP_WINDOW_MS = 10 * 60_000   # back to a boot left this recently: two kiosks, not a restart
CLEAR_AFTER_MS = 60 * 60_000   # flagged until no flip for this long


class BootTrack(NamedTuple):
    boot: str | None = None          # the boot of the last live status
    prev_boot: str | None = None     # the one before it
    prev_ms: int | None = None       # when the statuses left prev_boot (collector receive time)
    shared_since_ms: int | None = None
    shared_last_ms: int | None = None
    flips: int = 0


def follow(track: BootTrack, seen: Iterable[tuple[str, int]]) -> BootTrack:
    """Fold live statuses, (boot, received_ms) in receive order, into the device's track."""
    t = track
    for boot, ms in seen:
        if t.boot is None or boot == t.boot:
            t = t._replace(boot=boot)
            continue
        if boot == t.prev_boot and t.prev_ms is not None and ms - t.prev_ms <= FLIP_WINDOW_MS:
            since = t.shared_since_ms if shared(t, ms) else ms
            t = t._replace(shared_since_ms=since, shared_last_ms=ms, flips=t.flips + 1)
        t = t._replace(prev_boot=t.boot, prev_ms=ms, boot=boot)
    return t


def shared(track: BootTrack, now_ms: int) -> bool:
    """Whether the device id is shared by two kiosks now."""
    return track.shared_last_ms is not None and now_ms - track.shared_last_ms <= CLEAR_AFTER_MS
