"""Pure ingest logic: received MQTT messages in, a classified batch out. No I/O, no clock reads.

Every message ends up in exactly one bucket of the batch (a new rating row, a new event row, a
duplicate inside the batch, a device status, an ignored retained clear, or a reject), and every
message's ``mid`` is listed so the caller acknowledges all of them once the batch is committed.

Statuses are handled before ratings and events inside a batch: a kiosk publishes a live status on
connect before it drains its outbox, and that status anchors its boot's monotonic clock on real time
(``collector.storage.placement``). A rating or event that arrives retained is not a live tap: rejected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple, Sequence

from broker.contract import (
    DEFAULT_PREFIX, MAX_PAYLOAD_BYTES, ContractError, Event, Rating, Status, StatusV2, decode, format_ts,
    parse_topic,
)
from collector.ingest import fastpath
from collector.storage.placement import Anchors, status_offset
from collector.storage.records import EventRow, RatingRow, event_row, rating_row

MAX_TOPIC_CHARS = 1024  # a reject keeps at most this much of a hostile topic


class Message(NamedTuple):
    """One received message as the network thread hands it over."""

    topic: bytes | str
    payload: bytes  # at most MAX_PAYLOAD_BYTES + 1 bytes kept; ``size`` is the real length
    mid: int
    qos: int = 1
    retain: bool = False
    received: float = 0.0  # unix time of receipt
    size: int = -1  # real payload length; -1 means len(payload)
    conn: int = 0  # connection generation the mid belongs to (acks are only valid on that connection)


def clip(payload: bytes) -> bytes:
    """What the network thread keeps of a payload: enough to reject it as too large, not more."""
    return payload[:MAX_PAYLOAD_BYTES + 1]


class DeviceRow(NamedTuple):
    site: str
    device: str
    state: str
    status_ts: str
    last_seen: str
    app_version: str
    outbox_depth: int
    last_rating_ts: str | None
    config_hash: str | None
    clock_skew_s: float | None  # collector receive time minus kiosk status ts; None for retained replays
    # Order of device updates: the collector's receive time, not the kiosk's clock; a retained replay
    # (live = 0) never overrides a row made from a live status.
    received_ms: int = 0
    live: int = 1
    boot: str | None = None  # v2 status fields; None from a v1 status
    clock: str | None = None
    epoch: str | None = None
    seq_last: int | None = None
    officer: str | None = None
    config_error: str | None = None
    fault: str | None = None
    unreceipted: int | None = None  # receipts: messages the broker took that no receipt cleared yet
    unreceipted_since: str | None = None
    receipts: str | None = None
    pushes: str | None = None  # "on" / "off": whether the kiosk takes configs pushed by the fleet


class AnchorRow(NamedTuple):
    """A live status's estimate of where its boot's monotonic clock sits on real time."""

    site: str
    device: str
    boot: str
    offset_ms: int
    seen_at: str


class EpochStatus(NamedTuple):
    """A v2 status's word on how far its outbox's numbering has gone."""

    site: str
    device: str
    epoch: str
    seq_last: int
    seen_at: str


class RejectRow(NamedTuple):
    received_at: str
    topic: str
    reason: str
    payload: bytes  # truncated to MAX_PAYLOAD_BYTES (collector/ingest/rejects.py keeps less)
    size: int = -1  # the real payload length; -1: len(payload)


@dataclass
class Batch:
    rows: list[RatingRow] = field(default_factory=list)  # unique ids within the batch
    events: list[EventRow] = field(default_factory=list)  # unique ids within the batch
    anchors: list[AnchorRow] = field(default_factory=list)  # from live v2 statuses
    epoch_status: list[EpochStatus] = field(default_factory=list)  # from v2 statuses
    devices: list[DeviceRow] = field(default_factory=list)  # newest status per device, sorted by key
    live_boots: list[tuple[str, str, str, int]] = field(default_factory=list)  # (site, device, boot, received ms)
    rejects: list[RejectRow] = field(default_factory=list)
    # (rating id, token hash, site, device, at_ms) of ratings made with the thank-you QR (collector/followup)
    followups: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    duplicates: int = 0  # same id seen twice in this batch
    ignored: int = 0  # zero-length retained status clears
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (mid, qos, conn) of every message

    @property
    def size(self) -> int:
        return len(self.acks)


def _iso(t: float) -> str:
    return format_ts(datetime.fromtimestamp(t, timezone.utc))


def _storable(*texts: str | None) -> bool:
    """Text both databases can hold: PostgreSQL refuses NUL in TEXT and neither driver can encode a
    lone surrogate (JSON allows both, "\\u0000" and "\\ud800"). Such a message would fail its batch
    forever, so it is rejected instead."""
    for t in texts:
        if t is None or t.isascii() and "\x00" not in t:
            continue
        if "\x00" in t:
            return False
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _clean(text: str) -> str:
    # A reason can quote a JSON key of the sender's choosing (unknown_field:<key>).
    if _storable(text):
        return text
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "?")


def _topic_text(topic: bytes | str) -> str:
    if isinstance(topic, bytes):
        topic = topic.decode("utf-8", "replace")
    return _clean(topic[:MAX_TOPIC_CHARS])


def _device_row(s: Status, m: Message, received_at: str, received_ms: int) -> DeviceRow:
    status_ts = format_ts(s.ts)
    # A retained status replayed on subscribe says nothing about now: last seen is its own ts (never later
    # than its receipt: a status dated 2199 must not keep a device "seen" forever), no skew.
    if m.retain:
        last_seen, skew = min(status_ts, received_at), None
    else:
        last_seen, skew = received_at, round(m.received - s.ts.timestamp(), 3)
    last_rating = format_ts(s.last_rating_ts) if s.last_rating_ts else None
    row = DeviceRow(s.site, s.device, s.state, status_ts, last_seen, s.app_version, s.outbox_depth,
                    last_rating, s.config_hash, skew, received_ms, 0 if m.retain else 1)
    if isinstance(s, StatusV2):
        row = row._replace(boot=s.boot, clock=s.clock, epoch=s.epoch, seq_last=s.seq_last, officer=s.officer,
                           config_error=s.config_error, fault=s.fault, unreceipted=s.unreceipted,
                           unreceipted_since=format_ts(s.unreceipted_since) if s.unreceipted_since else None,
                           receipts=s.receipts, pushes=s.pushes)
    return row


def _text_ok(msg) -> bool:
    if isinstance(msg, Rating):
        return _storable(msg.officer, msg.service)
    if isinstance(msg, Event):
        return _storable(msg.officer, msg.service, msg.detail)
    if isinstance(msg, StatusV2):
        return _storable(msg.app_version, msg.config_hash, msg.officer, msg.config_error, msg.fault)
    return _storable(msg.app_version, msg.config_hash)


def classify(messages: Sequence[Message], prefix: str = DEFAULT_PREFIX, anchors: Anchors | None = None) -> Batch:
    """Decode and sort a batch of messages; never raises on any input.

    ``anchors`` holds what earlier batches learned about boots; live statuses of this batch are added to
    it before any rating or event of the batch is placed."""
    batch = Batch()
    anchors = anchors if anchors is not None else Anchors()
    seen: set[str] = set()
    devices: dict[tuple[str, str], DeviceRow] = {}
    durable: list[tuple] = []  # v2 (message, received_at, received_ms), placed once all statuses are in
    stamp_cache: dict[int, str] = {}  # one ISO string per received millisecond, shared by its messages
    fast_rating, FastRating = fastpath.rating_v2, fastpath.FastRating
    for m in messages:
        batch.acks.append((m.mid, m.qos, m.conn))
        key = int(m.received * 1000)
        received_at = stamp_cache.get(key) or stamp_cache.setdefault(key, _iso(m.received))
        topic = m.topic.decode("utf-8", "replace") if isinstance(m.topic, bytes) else m.topic
        size = len(m.payload) if m.size < 0 else m.size
        # The common case, a kiosk's well-formed v2 rating, without a pydantic model (collector/ingest/fastpath.py);
        # anything else, retained ratings included, takes the full check below.
        fast = None if m.retain or size > MAX_PAYLOAD_BYTES else fast_rating(topic, m.payload, prefix)
        if fast is not None:
            rid = fast.r.id
            if rid in seen:
                batch.duplicates += 1
            else:
                seen.add(rid)
                durable.append((fast, received_at, key))
            continue
        try:
            if size > MAX_PAYLOAD_BYTES:
                raise ContractError("too_large", f"{size} bytes > {MAX_PAYLOAD_BYTES}")
            if not m.payload:
                t = parse_topic(topic, prefix)
                if t.kind == "status":  # clearing a retained status is allowed and means nothing to store
                    batch.ignored += 1
                    continue
            msg = decode(topic, m.payload, prefix)
            if not (_storable(msg.officer, msg.service) if type(msg) is Rating else _text_ok(msg)):
                raise ContractError("bad_text", "NUL or a lone surrogate in a text field")
            if m.retain and not isinstance(msg, Status):
                # Kept by the broker and replayed to every subscriber: not a tap made now, maybe not at all.
                raise ContractError("retained", "ratings and events are never published retained")
        except ContractError as exc:
            batch.rejects.append(RejectRow(received_at, _topic_text(m.topic), _clean(exc.reason[:200]),
                                           bytes(m.payload[:MAX_PAYLOAD_BYTES]), size))
            continue
        if isinstance(msg, (Rating, Event)):
            if msg.id in seen:
                batch.duplicates += 1
                continue
            seen.add(msg.id)
            if msg.v == 1:  # nothing to place: stored as it came (the hot path of a v1 fleet)
                batch.rows.append(rating_row(msg, received_at, key))
            else:
                durable.append((msg, received_at, key))
                if type(msg) is Event and msg.lost_epoch is not None and msg.lost_seq_last:
                    # a kiosk that lost its outbox says how far that epoch was numbered: its end is counted
                    batch.epoch_status.append(EpochStatus(msg.site, msg.device, msg.lost_epoch, msg.lost_seq_last,
                                                          received_at))
            continue
        row = _device_row(msg, m, received_at, key)
        dkey = (row.site, row.device)
        old = devices.get(dkey)
        # Later in the batch is later received; a replay never replaces a live status.
        if old is None or row.live >= old.live:
            devices[dkey] = row
        if isinstance(msg, StatusV2):
            batch.epoch_status.append(EpochStatus(msg.site, msg.device, msg.epoch, msg.seq_last, received_at))
            if not m.retain:
                offset = status_offset(key, int(msg.ts.timestamp() * 1000), msg.mono_ms, msg.clock)
                anchors.observe((msg.site, msg.device, msg.boot), offset)
                batch.anchors.append(AnchorRow(msg.site, msg.device, msg.boot, offset, received_at))
                # which kiosk spoke: its boot and its outbox's epoch (two machines never share both)
                batch.live_boots.append((msg.site, msg.device, f"{msg.boot}/{msg.epoch}", key))
    get = anchors.get
    fast_row = fastpath.rating_row
    for msg, received_at, received_ms in durable:
        if type(msg) is FastRating:
            r = msg.r
            row = fast_row(msg, received_at, received_ms, get((r.site, r.device, r.boot)))
            batch.rows.append(row)
            if r.followup_hash is not None:  # as below
                batch.followups.append((row.id, r.followup_hash, row.site, row.device,
                                        received_ms if row.time_unverified else row.at_ms))
            continue
        offset = get((msg.site, msg.device, msg.boot))
        if isinstance(msg, Rating):
            row = rating_row(msg, received_at, received_ms, offset)
            batch.rows.append(row)
            if getattr(msg, "followup_hash", None):
                # the QR's time runs from the tap; from the arrival when no clock vouches for the tap's time
                # (a Pi without a real-time clock may say 1970: its citizens' links must still work)
                start = received_ms if row.time_unverified else row.at_ms
                batch.followups.append((row.id, msg.followup_hash, row.site, row.device, start))
        else:
            batch.events.append(event_row(msg, received_at, received_ms, offset))
    batch.devices = [devices[k] for k in sorted(devices)]
    return batch
