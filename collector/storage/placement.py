"""Placing ratings and events on real time, whatever the kiosk's clock said (pure, no I/O).

A kiosk without a real-time clock may stamp ``ts`` days or years off. Its monotonic clock
(``mono_ms`` since ``boot``) is right, though, and a live status of that boot tells where the boot's
monotonic clock sits on real time: the collector receive time minus the status's ``mono_ms``. Delivery
delay only makes that offset larger, so the smallest offset seen for a boot is the best estimate.

Rules, in order (``at_ms`` is the time reports and rollups use; the kiosk ``ts`` is kept as evidence):
1. a v2 message whose boot was seen live: ``at = offset + mono_ms``, verified;
2. a v2 message with ``clock == "synced"`` and no anchor: its ``ts``, verified;
3. a v2 message with an unsynced clock and no anchor: its ``ts``, flagged ``time_unverified``;
4. a v1 rating: its ``ts``, as always;
and whatever the rule, a time later than the receive time plus ``FUTURE_TOLERANCE_MS`` cannot be a
past tap: it is placed at the receive time and flagged ``time_unverified``. Without an anchor, a time
more than ``PAST_LIMIT_MS`` (a quarter, the longest evaluation period) before the receive time is not
believed either (a kiosk back in 1970 after a power cut, or ratings back-dated into a closed month by a
stolen account): placed at the receive time and flagged, so it is counted apart in the period it came.
"""
from __future__ import annotations

import threading
from typing import Iterable, NamedTuple

FUTURE_TOLERANCE_MS = 5 * 60_000  # kiosk clocks a few minutes fast are common and harmless
PAST_LIMIT_MS = 92 * 86_400_000  # an unanchored time older than this on arrival is not believed
CORRECTION_MIN_MS = 60_000  # |at - ts| above this is a clock correction the audit lists


class Placed(NamedTuple):
    at_ms: int
    unverified: bool


def place(ts_ms: int, received_ms: int | None, *, mono_ms: int | None = None, clock: str | None = None,
          offset_ms: int | None = None) -> Placed:
    """Where one rating or event goes on real time (see the module's rules)."""
    if offset_ms is not None and mono_ms is not None:
        at, unverified = offset_ms + mono_ms, False
    elif received_ms is not None and ts_ms < received_ms - PAST_LIMIT_MS:
        return Placed(received_ms, True)
    elif clock is None or clock == "synced":  # v1 (clock None) or a confirmed kiosk clock
        at, unverified = ts_ms, False
    else:
        at, unverified = ts_ms, True
    if received_ms is not None and at > received_ms + FUTURE_TOLERANCE_MS:
        return Placed(received_ms, True)
    return Placed(at, unverified)


def status_offset(received_ms: int, ts_ms: int, mono_ms: int, clock: str) -> int:
    """Where a boot's monotonic clock sits on real time, from one live status of it.

    The receive time bounds it from above (delivery only adds delay); when the kiosk says its clock is
    synced and its ``ts`` is earlier than the receipt, that is the closer bound (a status queued for a
    collector that was down arrives late, but was stamped on time)."""
    real = min(received_ms, ts_ms) if clock == "synced" else received_ms
    return real - mono_ms


AnchorKey = tuple  # (site, device, boot)


class Anchors:
    """The best offset known per (site, device, boot); shared by the batcher and the committer.

    Bounded (about 200 bytes a boot): past ``limit`` boots, the oldest half is forgotten. They stay in
    the database, where the store looks up a boot this cache does not know."""

    def __init__(self, limit: int = 50_000):
        self._best: dict[AnchorKey, int] = {}
        self._lock = threading.Lock()
        self.limit = limit

    def get(self, key: AnchorKey) -> int | None:
        return self._best.get(key)

    def observe(self, key: AnchorKey, offset_ms: int) -> bool:
        """Keep the smaller offset; True when it improved what was known."""
        with self._lock:
            old = self._best.get(key)
            if old is not None and old <= offset_ms:
                return False
            if old is None and len(self._best) >= self.limit:
                for k in list(self._best)[: self.limit // 2]:
                    del self._best[k]
            self._best[key] = offset_ms
            return True

    def update(self, items: Iterable[tuple[AnchorKey, int]]) -> None:
        for key, offset in items:
            self.observe(key, offset)

    def __len__(self) -> int:
        return len(self._best)


class CorrectionIncrement(NamedTuple):
    """What one batch adds to ``clock_corrections`` for one boot; fields line up with the table."""

    site: str
    device: str
    boot: str
    n: int
    min_delta_ms: int  # at - ts: positive when the kiosk clock was behind
    max_delta_ms: int
    first_ms: int
    last_ms: int


def correction_increments(rows: Iterable) -> list[CorrectionIncrement]:
    """Newly stored ratings and events placed more than CORRECTION_MIN_MS away from their kiosk ts,
    counted per boot (a v1 rating moved from the future counts under boot '')."""
    acc: dict[tuple, list] = {}
    for r in rows:
        delta = r.at_ms - r.ts_ms
        if -CORRECTION_MIN_MS <= delta <= CORRECTION_MIN_MS:
            continue
        key = (r.site, r.device, r.boot or "")
        a = acc.get(key)
        if a is None:
            acc[key] = [1, delta, delta, r.at_ms, r.at_ms]
        else:
            a[0] += 1
            a[1], a[2] = min(a[1], delta), max(a[2], delta)
            a[3], a[4] = min(a[3], r.at_ms), max(a[4], r.at_ms)
    return [CorrectionIncrement(*k, *v) for k, v in sorted(acc.items())]
