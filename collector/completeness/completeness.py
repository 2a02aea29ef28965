"""Completeness of each kiosk's outbox (pure, no I/O): what arrived, what is missing, which outbox replaced which.

A v2 kiosk numbers every durable message of its outbox (ratings and events together) 1, 2, 3, ... with
no gaps inside an ``epoch`` made when the outbox was created, and says in its status the highest number
it has given (``seq_last``). So per (site, device, epoch) the collector knows how many were created
(the highest seq seen in a message or a status) and how many arrived; the difference is missing, and
the seqs that never arrived are the missing ranges. A gap that later fills (a kiosk back from a week
offline) closes by itself, since nothing here is stored but what arrived.

Counters per epoch are kept incrementally in the batch transaction (``epoch_increments``); ranges are
computed only when asked, from the received seqs (``ranges_from_runs`` over a window query's output).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, NamedTuple, Sequence


class EpochIncrement(NamedTuple):
    """What one batch adds to an epoch's counters; fields line up with the ``epochs`` table."""

    site: str
    device: str
    epoch: str
    received: int  # messages newly stored (ratings and events; duplicates excluded)
    max_seq: int
    first_ms: int | None  # earliest placed time of those messages
    last_ms: int | None
    first_seen: str  # receive time (RFC 3339) of the first of them
    last_seen: str


def epoch_increments(rows: Iterable) -> list[EpochIncrement]:
    """From newly stored rating and event rows (anything with site, device, epoch, seq, at_ms, received_at);
    v1 rows (no epoch) are skipped. Sorted by key, so collectors lock rows in one order."""
    acc: dict[tuple[str, str, str], list] = {}
    for r in rows:
        if r.epoch is None:
            continue
        key = (r.site, r.device, r.epoch)
        a = acc.get(key)
        if a is None:
            acc[key] = [1, r.seq, r.at_ms, r.at_ms, r.received_at, r.received_at]
            continue
        a[0] += 1
        if r.seq > a[1]:
            a[1] = r.seq
        if r.at_ms < a[2]:
            a[2] = r.at_ms
        if r.at_ms > a[3]:
            a[3] = r.at_ms
        if r.received_at < a[4]:
            a[4] = r.received_at
        if r.received_at > a[5]:
            a[5] = r.received_at
    return [EpochIncrement(*k, *v) for k, v in sorted(acc.items())]


class EpochRow(NamedTuple):
    """One upsert row of the ``epochs`` table (see collector.ingest.store)."""

    site: str
    device: str
    epoch: str
    received: int
    max_seq: int
    seq_last: int
    seq_last_at: str | None
    first_ms: int | None
    last_ms: int | None
    first_seen: str | None
    last_seen: str | None


def epoch_rows(increments: Iterable[EpochIncrement], statuses: Iterable) -> list[EpochRow]:
    """Message counters and status words (anything with site, device, epoch, seq_last, seen_at) merged
    into one row per epoch, sorted by key."""
    out: dict[tuple[str, str, str], EpochRow] = {}
    for i in increments:
        out[(i.site, i.device, i.epoch)] = EpochRow(i.site, i.device, i.epoch, i.received, i.max_seq, 0, None,
                                                    i.first_ms, i.last_ms, i.first_seen, i.last_seen)
    for s in statuses:
        key = (s.site, s.device, s.epoch)
        row = out.get(key)
        if row is None:
            out[key] = EpochRow(*key, 0, 0, s.seq_last, s.seen_at, None, None, s.seen_at, s.seen_at)
            continue
        if s.seq_last > row.seq_last:
            row = row._replace(seq_last=s.seq_last, seq_last_at=s.seen_at)
        out[key] = row._replace(first_seen=min(row.first_seen, s.seen_at), last_seen=max(row.last_seen, s.seen_at))
    return [out[k] for k in sorted(out)]


class Range(NamedTuple):
    first: int
    last: int
    open_since: str | None = None  # receive time from which the gap was known (RFC 3339), if known

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def text(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def ranges_from_runs(first_seq: int | None, first_seen: str | None, gaps: Iterable[tuple[int, int, str]],
                     last_seq: int | None, highest: int, highest_since: str | None) -> list[Range]:
    """Missing ranges of one epoch from what a window query over its received seqs found.

    ``first_seq``: the lowest received seq (None: nothing received) and when it arrived; ``gaps``:
    (seq, next received seq, when that next one arrived) wherever next > seq + 1; ``last_seq``: the highest
    received; ``highest``: the highest seq known to exist (messages or status) and since when."""
    out: list[Range] = []
    if first_seq is None:
        return [Range(1, highest, highest_since)] if highest >= 1 else []
    if first_seq > 1:
        out.append(Range(1, first_seq - 1, first_seen))
    for seq, nxt, seen in gaps:
        if nxt > seq + 1:
            out.append(Range(seq + 1, nxt - 1, seen))
    if highest > last_seq:
        out.append(Range(last_seq + 1, highest, highest_since))
    return out


def missing_ranges(seqs: Iterable[int], highest: int) -> list[tuple[int, int]]:
    """Missing ranges of 1..highest given the received seqs (any order, duplicates allowed)."""
    got = sorted(set(seqs))
    out, expect = [], 1
    for s in got:
        if s > expect:
            out.append((expect, s - 1))
        expect = max(expect, s + 1)
    if highest >= expect:
        out.append((expect, highest))
    return out


def ranges_text(ranges: Sequence[Range], limit: int = 20) -> str:
    """``3, 7-9, 12`` with at most ``limit`` ranges shown and how many more."""
    shown = ", ".join(r.text() for r in ranges[:limit])
    return shown + (f" (+{len(ranges) - limit} more)" if len(ranges) > limit else "")


@dataclass
class EpochState:
    """One epoch of one device as the ``epochs`` table holds it."""

    site: str
    device: str
    epoch: str
    received: int
    max_seq: int
    seq_last: int
    first_ms: int | None
    last_ms: int | None
    first_seen: str | None
    last_seen: str | None
    seq_last_at: str | None = None
    ranges: list[Range] = field(default_factory=list)

    @property
    def created(self) -> int:
        return max(self.max_seq, self.seq_last)

    @property
    def missing(self) -> int:
        return max(0, self.created - self.received)

    @property
    def highest_since(self) -> str | None:
        """When the highest known seq was learned: the status that said it, else the message that carried it."""
        if self.seq_last > self.max_seq and self.seq_last_at:
            return self.seq_last_at
        return self.last_seen


def started_ms(e: EpochState) -> int | None:
    """When an outbox began, as best known: its earliest placed message, unless that is later than when
    the collector first heard of it (impossible) or missing; then when it was first heard of."""
    seen = _ms(e.first_seen)
    if e.first_ms is not None and (seen is None or e.first_ms <= seen):
        return e.first_ms
    return seen


def _ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class Replacement(NamedTuple):
    site: str
    device: str
    old_epoch: str
    new_epoch: str
    at_ms: int | None  # when the new outbox began


def replacements(epochs: Iterable[EpochState]) -> list[Replacement]:
    """Each device's outboxes in the order they began: every one after the first replaced the one before."""
    per: dict[tuple[str, str], list[EpochState]] = {}
    for e in epochs:
        per.setdefault((e.site, e.device), []).append(e)
    out = []
    for (site, device), es in sorted(per.items()):
        es.sort(key=lambda e: (_seen_or_max(e), e.epoch))  # the order the collector heard of them
        for old, new in zip(es, es[1:]):
            at = started_ms(new)
            # A first message dated before the old outbox began (a clock reset to 1970, unverified) cannot
            # date the replacement: then it is when the collector first heard of the new outbox.
            old_start = started_ms(old)
            if at is not None and old_start is not None and at < old_start:
                at = _ms(new.first_seen)
            out.append(Replacement(site, device, old.epoch, new.epoch, at))
    return out


def _seen_or_max(e: EpochState) -> int:
    seen = _ms(e.first_seen)
    return seen if seen is not None else 1 << 62


def replaced_text(r: Replacement, tz, lang: str = "en") -> str:
    """'outbox replaced on 2026-10-05'; in Vietnamese the Vietnamese words first, the English beside."""
    when = datetime.fromtimestamp(r.at_ms / 1000, tz).strftime("%Y-%m-%d") if r.at_ms is not None else "?"
    if lang == "vi":
        return f"đã thay hộp thư đi ngày {when} / outbox replaced on {when}"
    return f"outbox replaced on {when}"


@dataclass
class Summary:
    """Completeness of a scope (a site, a centre, everything) over the epochs active in a period."""

    created: int = 0
    received: int = 0
    missing: int = 0
    ranges: int = 0
    epochs: int = 0
    replaced: int = 0  # outbox replacements that happened in the period
    unverified: int = 0  # ratings whose time is unverified, placed in the period
    corrections: int = 0  # ratings and events whose time was corrected by more than a minute

    @property
    def rate(self) -> float | None:
        return round(self.received / self.created, 4) if self.created else None

    def to_dict(self) -> dict:
        return {"created": self.created, "received": self.received, "missing": self.missing,
                "missing_ranges": self.ranges, "rate": self.rate, "epochs": self.epochs,
                "outboxes_replaced": self.replaced, "time_unverified": self.unverified,
                "clock_corrections": self.corrections}

    def line(self, lang: str = "vi") -> str:
        rate = f"{self.rate * 100:.2f} %" if self.rate is not None else "–"
        if lang == "en":
            return (f"Completeness: {self.received}/{self.created} outbox messages received ({rate}), "
                    f"{self.missing} missing in {self.ranges} ranges, {self.replaced} outboxes replaced, "
                    f"{self.unverified} ratings with unverified time (counted apart)")
        return (f"Độ đầy đủ: đã nhận {self.received}/{self.created} bản tin ({rate}), thiếu {self.missing} "
                f"({self.ranges} khoảng), {self.replaced} lần thay hộp thư, {self.unverified} đánh giá chưa xác "
                f"minh được giờ (tính riêng)")


def summarize(epochs: Sequence[EpochState], replaced: int = 0, unverified: int = 0,
              corrections: int = 0) -> Summary:
    s = Summary(replaced=replaced, unverified=unverified, corrections=corrections)
    for e in epochs:
        s.epochs += 1
        s.created += e.created
        s.received += min(e.received, e.created)
        s.missing += e.missing
        s.ranges += len(e.ranges)
    return s


def active_in(e: EpochState, start_ms: int, end_ms: int) -> bool:
    """An epoch is in a period's scope when any of its messages is placed in it, or it was heard of in it."""
    lo = e.first_ms if e.first_ms is not None else _ms(e.first_seen)
    hi = max([x for x in (e.last_ms, _ms(e.last_seen), _ms(e.seq_last_at)) if x is not None], default=lo)
    if lo is None:
        return False
    return lo < end_ms and (hi if hi is not None else lo) >= start_ms

