"""Rejected messages, kept bounded: a hostile or broken sender cannot fill the disk.

A stolen kiosk account sent 3,000 contract-breaking 7.9 KB messages in 3.8 s; kept one row each, that is
about 11 GB an hour until no rating can be stored. So, in the batch's own transaction:

- **repeats are counted, not stored**: one row per (window, site, device, reason) keeps the first
  message's topic and at most ``keep_bytes`` of its payload, its real size, and counts every later one
  (``repeats``, ``last_at``); windows are ``window_s`` long;
- **per device**, at most ``per_device`` such rows a window: the rejects of further reasons (a sender
  can make up reasons, e.g. ``unknown_field:<any key>``) are only counted, in the device's one
  ``over_limit`` row;
- **in all**, at most ``per_window`` rows a window: past it, rejects of further devices are only counted
  in one ``over_limit`` row with no device (a sender without ACLs can make up device names);
- rows older than ``retention_days`` are deleted, at most every ``expire_every_s``, a bounded number at
  a time.

The site and device are read from the topic (``.../<site>/<device>/<kind>``): a device account may publish
only on its own topics, so that is who sent it. Valid ratings in the same batch are stored as before:
only the rejects' rows are bounded. A device that sends mostly rejects is an alert
(``device_rejects``, collector/alerting/).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, NamedTuple

from broker.contract import is_slug

OVER_LIMIT = "over_limit"  # the reason of a row that only counts what was not kept
_COLUMNS = "received_at, topic, reason, payload, site, device, size, repeats, last_at, window_ms"
_UPSERT_TAIL = (" ON CONFLICT (window_ms, site, device, reason) DO UPDATE SET repeats = rejects.repeats + excluded.repeats, "
                "last_at = CASE WHEN excluded.last_at > rejects.last_at THEN excluded.last_at ELSE rejects.last_at END")
_PER_STATEMENT = 200  # rows of one INSERT (10 columns each)


@dataclass(frozen=True)
class RejectPolicy:
    keep_bytes: int = 512  # of a reject's payload
    window_s: int = 3600  # repeats are counted per device and reason within windows this long
    per_device: int = 10  # rows per device a window; more reasons are only counted
    per_window: int = 2000  # rows in all a window; more devices are only counted
    retention_days: float = 30  # older rejects are deleted
    expire_every_s: float = 600  # how often the collector looks for expired rejects
    expire_batch: int = 5000  # rows deleted at most at a time

    @classmethod
    def from_config(cls, rejects) -> "RejectPolicy":
        """From the ``rejects:`` section of collector.yaml (config.collector.Rejects)."""
        return cls(keep_bytes=rejects.keep_bytes, window_s=int(rejects.window_minutes * 60),
                   per_device=rejects.per_device, per_window=rejects.per_window,
                   retention_days=rejects.retention_days)


class Group(NamedTuple):
    received_at: str  # the first one's
    topic: str
    reason: str
    payload: bytes
    site: str
    device: str
    size: int
    repeats: int
    last_at: str
    window_ms: int

    def key(self) -> tuple:
        return self.window_ms, self.site, self.device, self.reason


def device_of(topic: str) -> tuple[str, str]:
    """(site, device) of ``<prefix>/<site>/<device>/<kind>``; ("", "") when the topic does not say."""
    parts = topic.split("/")
    if len(parts) >= 4 and is_slug(parts[-3]) and is_slug(parts[-2]):
        return parts[-3], parts[-2]
    return "", ""


def _ms(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def group(rejects: Iterable, policy: RejectPolicy) -> dict[tuple, Group]:
    """The batch's rejects, one Group per (window, site, device, reason), first payload clipped."""
    out: dict[tuple, Group] = {}
    window = policy.window_s * 1000
    for r in rejects:
        site, device = device_of(r.topic)
        size = getattr(r, "size", -1)
        size = len(r.payload) if size is None or size < 0 else size
        g = Group(r.received_at, r.topic, r.reason[:200], bytes(r.payload[:policy.keep_bytes]), site, device, size, 1,
                  r.received_at, _ms(r.received_at) // window * window)
        old = out.get(g.key())
        if old is None:
            out[g.key()] = g
        else:
            out[g.key()] = old._replace(repeats=old.repeats + 1, last_at=max(old.last_at, g.last_at))
    return out


def _merge(into: dict[tuple, Group], g: Group) -> None:
    old = into.get(g.key())
    if old is None:
        into[g.key()] = g
    else:
        into[g.key()] = old._replace(repeats=old.repeats + g.repeats, last_at=max(old.last_at, g.last_at),
                                     received_at=min(old.received_at, g.received_at))


def bound(groups: dict[tuple, Group], stored: dict[int, list[tuple]], policy: RejectPolicy) -> list[Group]:
    """The rows to upsert: groups that already have a row, or fit the per-device and per-window limits,
    as themselves; the others folded into their device's (or the window's) ``over_limit`` row, which keeps
    no payload. ``stored``: per window, the (site, device, reason) rows already in the database. Pure."""
    out: dict[tuple, Group] = {}
    for window_ms in sorted({k[0] for k in groups}):
        have = set(stored.get(window_ms, ()))
        per_device = Counter((site, device) for site, device, reason in have if reason != OVER_LIMIT)
        rows = len(have)
        for key in sorted(k for k in groups if k[0] == window_ms):
            g = groups[key]
            if (g.site, g.device, g.reason) in have:
                _merge(out, g)
                continue
            if rows >= policy.per_window:
                site = device = ""
            elif per_device[(g.site, g.device)] >= policy.per_device:
                site, device = g.site, g.device
            else:
                _merge(out, g)
                have.add((g.site, g.device, g.reason))
                per_device[(g.site, g.device)] += 1
                rows += 1
                continue
            folded = g._replace(reason=OVER_LIMIT, payload=b"", site=site, device=device)
            if (site, device, OVER_LIMIT) not in have:
                have.add((site, device, OVER_LIMIT))
                rows += 1
            _merge(out, folded)
    return [out[k] for k in sorted(out)]


class RejectWriter:
    """Writes a batch's rejects inside the caller's transaction, within the policy's bounds."""

    def __init__(self, db, policy: RejectPolicy | None = None):
        self.db, self.policy = db, policy or RejectPolicy()
        self._next_expiry = 0.0

    def write(self, rejects: list) -> None:
        if not rejects:
            return
        groups = group(rejects, self.policy)
        stored: dict[int, list[tuple]] = {}
        for window_ms in sorted({k[0] for k in groups}):
            stored[window_ms] = [tuple(r) for r in self.db.query(
                "SELECT site, device, reason FROM rejects WHERE window_ms = ?", (window_ms,))]
        rows = bound(groups, stored, self.policy)
        one = "(" + ", ".join("?" * len(Group._fields)) + ")"
        for i in range(0, len(rows), _PER_STATEMENT):
            chunk = rows[i:i + _PER_STATEMENT]
            self.db.execute(f"INSERT INTO rejects ({_COLUMNS}) VALUES {', '.join([one] * len(chunk))}{_UPSERT_TAIL}",
                            [v for g in chunk for v in g])

    def expire(self, now: float | None = None) -> int:
        """Delete rejects older than the retention (a bounded number; the rest at the next call, soon after).
        Returns how many were deleted."""
        now = time.time() if now is None else now
        if now < self._next_expiry:
            return 0
        cutoff = datetime.fromtimestamp(now - self.policy.retention_days * 86400, timezone.utc)
        cutoff_text = cutoff.strftime("%Y-%m-%dT%H:%M:%S")
        cur = self.db.execute("DELETE FROM rejects WHERE id IN (SELECT id FROM rejects WHERE received_at < ? "
                              "ORDER BY received_at LIMIT ?)", (cutoff_text, self.policy.expire_batch))
        deleted = max(cur.rowcount or 0, 0)
        self._next_expiry = now + (1.0 if deleted >= self.policy.expire_batch else self.policy.expire_every_s)
        return deleted
