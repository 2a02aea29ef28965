"""Pure ingest logic: received MQTT messages in, a classified batch out. No I/O, no clock reads.

Every message ends up in exactly one bucket of the batch (a new rating row, a duplicate inside the
batch, a device status, an ignored retained clear, or a reject), and every message's ``mid`` is
listed so the caller acknowledges all of them once the batch is committed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple, Sequence

from broker.contract import (
    DEFAULT_PREFIX, MAX_PAYLOAD_BYTES, ContractError, Rating, Status, decode, format_ts, parse_topic,
)
from collector.records import RatingRow, rating_row

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


class RejectRow(NamedTuple):
    received_at: str
    topic: str
    reason: str
    payload: bytes  # truncated to MAX_PAYLOAD_BYTES


@dataclass
class Batch:
    rows: list[RatingRow] = field(default_factory=list)  # unique ids within the batch
    devices: list[DeviceRow] = field(default_factory=list)  # newest status per device, sorted by key
    rejects: list[RejectRow] = field(default_factory=list)
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


def _device_row(s: Status, m: Message, received_at: str) -> DeviceRow:
    status_ts = format_ts(s.ts)
    # A retained status replayed on subscribe says nothing about now: last seen is its own ts, no skew.
    if m.retain:
        last_seen, skew = status_ts, None
    else:
        last_seen, skew = received_at, round(m.received - s.ts.timestamp(), 3)
    last_rating = format_ts(s.last_rating_ts) if s.last_rating_ts else None
    return DeviceRow(s.site, s.device, s.state, status_ts, last_seen, s.app_version, s.outbox_depth,
                     last_rating, s.config_hash, skew)


def classify(messages: Sequence[Message], prefix: str = DEFAULT_PREFIX) -> Batch:
    """Decode and sort a batch of messages; never raises on any input."""
    batch = Batch()
    seen: set[str] = set()
    devices: dict[tuple[str, str], DeviceRow] = {}
    stamp_cache: dict[int, str] = {}  # one ISO string per received millisecond, shared by its messages
    for m in messages:
        batch.acks.append((m.mid, m.qos, m.conn))
        key = int(m.received * 1000)
        received_at = stamp_cache.get(key) or stamp_cache.setdefault(key, _iso(m.received))
        topic = m.topic.decode("utf-8", "replace") if isinstance(m.topic, bytes) else m.topic
        size = len(m.payload) if m.size < 0 else m.size
        try:
            if size > MAX_PAYLOAD_BYTES:
                raise ContractError("too_large", f"{size} bytes > {MAX_PAYLOAD_BYTES}")
            if not m.payload:
                t = parse_topic(topic, prefix)
                if t.kind == "status":  # clearing a retained status is allowed and means nothing to store
                    batch.ignored += 1
                    continue
            msg = decode(topic, m.payload, prefix)
            if not (_storable(msg.officer, msg.service) if isinstance(msg, Rating)
                    else _storable(msg.app_version, msg.config_hash)):
                raise ContractError("bad_text", "NUL or a lone surrogate in a text field")
        except ContractError as exc:
            batch.rejects.append(RejectRow(received_at, _topic_text(m.topic), _clean(exc.reason[:200]),
                                           bytes(m.payload[:MAX_PAYLOAD_BYTES])))
            continue
        if isinstance(msg, Rating):
            if msg.id in seen:
                batch.duplicates += 1
                continue
            seen.add(msg.id)
            batch.rows.append(rating_row(msg, received_at))
        else:
            row = _device_row(msg, m, received_at)
            old = devices.get((row.site, row.device))
            if old is None or row.status_ts >= old.status_ts:
                devices[(row.site, row.device)] = row
    batch.devices = [devices[k] for k in sorted(devices)]
    return batch
