"""Receipts (wire contract v2): after a batch commits, tell each kiosk which of its messages are stored.

Pure: a committed batch in, (topic, payload) pairs out. Every rating and event row of a committed
batch is in the database, whether this batch stored it or found it already stored (a resend, a
redelivery, a copy another collector committed first), so each is receipted by its (epoch, seq).
A collector speaks only for what its own committed transaction holds, so collectors sharing one
database need no agreement: every receipt is true when sent. Rejected messages are not receipted:
they are not in the ratings, and the kiosk keeps them (a contract mistake the rejects table shows).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable

from broker.contract import RECEIPT_MAX_RANGES, format_ts, receipt_topic


def ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Sorted, merged inclusive ranges: [3, 1, 2, 7, 5, 6] -> [[1, 3], [5, 7]]."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


class ReceiptBuffer:
    """Committed rows gathered over several batches, receipted together: after a province-wide outage a
    batch holds a rating or two of each of two thousand kiosks, and a receipt per kiosk per batch would
    be a receipt per rating. Rows wait at most ``delay_s`` (or until ``max_rows`` wait); they are all
    committed, so a receipt sent later is as true."""

    def __init__(self, prefix: str, delay_s: float = 0.5, max_rows: int = 20_000):
        self.prefix, self.delay_s, self.max_rows = prefix, delay_s, max_rows
        self._rows: list = []
        self._since: float | None = None

    def add(self, rows: Iterable, now: float) -> None:
        new = [r for r in rows if r.epoch is not None]
        if new:
            self._rows.extend(new)
            if self._since is None:
                self._since = now

    @property
    def pending(self) -> bool:
        return bool(self._rows)

    def due(self, now: float) -> bool:
        return bool(self._rows) and (len(self._rows) >= self.max_rows or now - self._since >= self.delay_s)

    def take(self) -> list[tuple[str, bytes]]:
        rows, self._rows, self._since = self._rows, [], None
        return receipts_for(rows, self.prefix)


def receipts_for(rows: Iterable, prefix: str, now: datetime | None = None) -> list[tuple[str, bytes]]:
    """One receipt per (site, device, epoch) of the committed rows (anything with site, device, epoch,
    seq; v1 rows, epoch None, have nothing to receipt), split so each stays within the payload limit."""
    by_epoch: dict[tuple[str, str, str], list[int]] = {}
    for r in rows:
        if r.epoch is not None:
            by_epoch.setdefault((r.site, r.device, r.epoch), []).append(r.seq)
    if not by_epoch:
        return []
    ts = format_ts(now or datetime.now(timezone.utc))
    out = []
    for (site, device, epoch), seqs in sorted(by_epoch.items()):
        topic = receipt_topic(site, device, prefix)
        merged = ranges(seqs)
        for i in range(0, len(merged), RECEIPT_MAX_RANGES):
            body = {"v": 2, "site": site, "device": device, "ts": ts, "epoch": epoch,
                    "seqs": merged[i:i + RECEIPT_MAX_RANGES]}
            out.append((topic, json.dumps(body, separators=(",", ":")).encode()))
    return out
