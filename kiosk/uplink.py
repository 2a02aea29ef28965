"""The uplink: drains the outbox to the broker over MQTT QoS 1 on its own thread.

Receipts (contract v2): the broker's PUBACK only marks a row "sent"; the row is deleted when a
collector's receipt says the database holds it. A broker is a forwarding hop: one that loses power
loses what it held since its last save, and one with no collector session drops what it acknowledges.
So a sent row without a receipt is sent again: at every new connection; when a collector is heard
again (its time signal, the first on a connection or after a silence); when no receipt at all has come
for ``resend_after_s`` (then again at doubling intervals, up to an hour); and, while receipts come,
only the rows a later one overtook by ``resend_after_s`` (lost on the way; the rest are merely queued
behind a busy collector, and sending them again would only lengthen its queue). The collector stores by
id once and receipts the copy again. A kiosk whose collector never sends receipts falls back to the PUBACK after
``receipt_fallback_h`` hours connected (``receipts`` says so in its status); a receipt turns them back on.
Rows without a receipt key (contract v1) and messages sent from memory during a disk fault are
forgotten at the PUBACK, as before.

Each connection attempt uses a fresh paho client and resends from the oldest row still in the
outbox, so nothing paho kept in memory from a dead connection is ever sent twice by us. A row deleted
at its PUBACK is never sent again in this process, even when the disk refuses the delete (a full or
read-only disk): its id is remembered until the delete works.

Poor links (seconds of latency, connections that last a few seconds): once this broker has accepted
the kiosk in this run, the first messages go out right behind CONNECT (MQTT allows it), so one round
trip brings both CONNACK and their PUBACKs; until then, and after a connection that ended without
CONNACK, the kiosk waits for CONNACK, so a refusal (a wrong password) is read and shown. The in-flight
window starts small (WINDOW_START) and doubles each time a whole window is acknowledged, up to
WINDOW_MAX; the next connection starts with what the last one proved the link can carry, so a
connection cut every few seconds still moves the backlog forward instead of resending the same
oldest window each time. The UI thread only reads the small ``state`` snapshot.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Optional

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.mqtt_client import apply_connection
from broker.contract import (
    ContractError, Receipt, Status, StatusV2, config_topic, decode, decode_time, encode, event_topic, new_event_id,
    rating_topic, receipt_topic, request_topic, status_topic, time_topic, utcnow,
)
from config.kiosk import KioskConfig

from . import __version__
from .outbox import Outbox

log = logging.getLogger(__name__)

WINDOW_START = 5          # messages in flight on a new connection over an unproven link ...
WINDOW_MAX = 100          # ... doubling on progress up to this (the broker's max_inflight_messages)
WINDOW = WINDOW_MAX
RETRY_DISK_S = 2.0        # while the outbox has a storage fault, try the disk this often
DELETE_BATCH = 200        # PUBACKed rows deleted per transaction ...
DELETE_EVERY_S = 0.2      # ... or at least this often
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 8.0
CONNACK_TIMEOUT_S = 10.0
RESEND_MAX_S = 3600.0     # resend rounds double while no receipt comes, up to this
SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: another connection took this client id
TAKEOVERS, TAKEOVER_WINDOW_S = 3, 600  # this many in this window: a second kiosk shares the device id
DUPLICATE_ID = "device id used by another kiosk"
TIME_SILENCE_S = 75.0     # collectors say the time every 30 s: this long without it, one was away


def client_id_for(cfg: KioskConfig) -> str:
    return cfg.broker.client_id or f"kiosk-{cfg.site}-{cfg.device}"[:64]


def salvage_detail(body: dict) -> str:
    """One line for an ``outbox_salvaged`` event: what was saved, what was lost, where the file is."""
    if "moved_to" in body:
        text = (f"outbox corrupt: {body.get('salvaged', 0)} salvaged, {body.get('unreadable', 0)} unreadable, "
                f"previous epoch {body.get('previous_epoch')}, damaged file kept as {body.get('moved_to')}")
    else:
        text = (f"outbox missing or empty: {body.get('at_last_stop', 'unknown')} waiting at the last stop lost, "
                f"previous epoch {body.get('previous_epoch')}")
    return "".join(c for c in text if c.isprintable())[:500]


def lost_fields(body: dict) -> dict:
    """The outbox_salvaged event's word on the lost epoch: which, how far it was numbered, how many lost."""
    epoch = body.get("previous_epoch")
    try:
        seq_last = int(body.get("seq_last") or 0)
        lost = body.get("unreadable") if "moved_to" in body else body.get("at_last_stop")
        lost = int(lost) if lost is not None else None
    except (TypeError, ValueError):
        return {}
    if not isinstance(epoch, str) or epoch == body.get("new_epoch"):
        return {}
    return {"lost_epoch": epoch, "lost_seq_last": seq_last or None, "lost": lost}


class Uplink:
    def __init__(self, cfg: KioskConfig, outbox: Outbox, config_hash: Optional[str] = None,
                 host: Optional[str] = None, port: Optional[int] = None, wire_v2: bool = False, clock=None,
                 inbound: Optional[Callable[[str, str, bytes], None]] = None,
                 status_extra: Optional[Callable[[], dict]] = None):
        self.cfg = cfg
        # contract v2 messages TO the kiosk (request, config): ``inbound(kind, topic, payload)`` is
        # called on the uplink thread; the caller hands them to its own thread
        self.inbound = inbound
        self.status_extra = status_extra  # v2 status fields the app knows (officer, config_error)
        # contract v2: statuses carry epoch, seq_last and fault, and salvage reports become events
        self.wire_v2 = wire_v2
        if wire_v2 and clock is None:
            from .clock import KioskClock

            clock = KioskClock()
        self.clock = clock
        self.outbox = outbox
        self.config_hash = config_hash
        self.host = host or cfg.broker.host
        self.port = port or cfg.broker.port
        prefix = cfg.broker.topic_prefix
        self.status_topic = status_topic(cfg.site, cfg.device, prefix)
        # Only this kiosk's own topics are ever published. A row for another device (an outbox kept
        # when a kiosk was re-set up as another counter) would be refused by the broker, and on MQTT
        # 3.1.1 a refused publish still gets a PUBACK, so the row would be deleted: it is kept instead.
        self.own_topics = {rating_topic(cfg.site, cfg.device, prefix), event_topic(cfg.site, cfg.device, prefix)}
        self.inbound_topics = {request_topic(cfg.site, cfg.device, prefix): "request",
                               config_topic(cfg.site, cfg.device, prefix): "config",
                               receipt_topic(cfg.site, cfg.device, prefix): "receipt",
                               time_topic(prefix): "time"}
        self.foreign_rows = 0
        self.connections = 0  # connections the broker accepted: a new config counts only those after it
        self.clock_offset_s: Optional[float] = None  # a collector's clock minus ours, once heard (v2)
        # What the technician view shows; written by the uplink thread, read by anyone.
        self.state = "not started"       # connecting / connected / disconnected / stopped
        self.last_sent: Optional[datetime] = None
        self.last_error: Optional[str] = None
        self.depth = outbox.depth()
        self.sent_total = 0
        self.window = WINDOW_START       # in flight now
        self._start_window = WINDOW_START
        # ids the broker acknowledged whose delete has not reached the disk yet: never sent again
        self._undeleted: set[str] = set()
        self._acked: list[str] = []
        self._acked_here = 0
        self._pipeline = False  # send before CONNACK: only once this broker has accepted us in this run
        self._inflight: dict[int, tuple[str, bool]] = {}  # mid -> (message id, held in memory)
        self._inflight_ids: set[str] = set()
        self._wake = threading.Event()
        self._status_now = threading.Event()
        self._retarget = threading.Event()
        self._fixed_host, self._fixed_port = host, port  # given on the command line: kept on retarget
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        # Receipts: "on" (keep a row until its receipt), "fallback" (none heard for receipt_fallback_h
        # hours connected: trust the PUBACK) or "off" (configured so, or contract v1).
        self.receipts = "on" if wire_v2 and cfg.outbox.receipts else "off"
        self.receipted_total = 0          # rows receipts deleted in this run
        self.last_receipt: Optional[datetime] = None
        self.waiting = (0, None)          # (rows sent but not receipted, oldest tap time), as last counted
        self._marks: list[str] = []       # PUBACKed ids to mark sent
        self._heard: list[Receipt] = []   # receipts to apply
        self._sent_before: Optional[int] = None  # in a resend round: rows acknowledged before this (mono ms)
        self._resend_every = float(cfg.outbox.resend_after_s)
        self._next_round = time.monotonic() + self._resend_every
        self._round_now = False
        self._last_receipt_mono = time.monotonic()
        self._quiet_rounds = 0  # rounds in a row with no receipt between them
        self._time_heard_at: Optional[float] = None  # monotonic; None: not on this connection yet
        self._wait_s = float(outbox.meta_get("receipt_wait_s") or 0)  # connected seconds without a receipt
        self._wait_tick: Optional[float] = None
        self._takeovers: list[float] = []
        self.duplicate_id = False  # another kiosk connects with this device's account (see _taken_over)
        outbox.listeners.append(self._on_added)

    def _on_added(self) -> None:
        self.depth += 1  # an estimate until the uplink thread counts again
        self._wake.set()

    # ------------------------------------------------------------ public
    def start(self) -> "Uplink":
        if self.wire_v2:
            self.queue_reports()
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status_now(self) -> None:
        """Publish the status at once (e.g. a new config hash), not at the next interval."""
        self._status_now.set()
        self._wake.set()

    def retarget(self, cfg: KioskConfig, config_hash: Optional[str]) -> bool:
        """Run with a new kiosk config (pushed by the fleet): a new status at once, and a new
        connection when the broker settings changed (then True)."""
        changed = cfg.broker != self.cfg.broker
        self.cfg, self.config_hash = cfg, config_hash
        self.host = self._fixed_host or cfg.broker.host
        self.port = self._fixed_port or cfg.broker.port
        if changed:
            self._retarget.set()
        self.status_now()
        return changed

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def over_warn_depth(self) -> bool:
        return self.depth > self.cfg.outbox.warn_depth

    @property
    def fault(self) -> Optional[str]:
        """A short name of what is wrong with this kiosk's storage, for the status and the devices
        page: "disk full", "read-only", "I/O error", "outbox corrupt" (now), "outbox salvaged" or
        "outbox lost" (found at start, for the rest of this run), or None."""
        if self.outbox.fault:
            return self.outbox.fault
        if self.outbox.salvage is not None:
            return "outbox salvaged" if "moved_to" in self.outbox.salvage else "outbox lost"
        if self.duplicate_id:
            return DUPLICATE_ID
        return None

    # ------------------------------------------------------------ connection
    def _status(self, state: str) -> bytes:
        if self.over_warn_depth:
            log.warning("outbox holds %d ratings, above warn_depth %d: is the broker reachable?",
                        self.depth, self.cfg.outbox.warn_depth)
        last = self.outbox.last_rating_ts()
        fields = dict(site=self.cfg.site, device=self.cfg.device, state=state, ts=utcnow(),
                      app_version=__version__, outbox_depth=self.depth, last_rating_ts=last,
                      config_hash=self.config_hash)
        if not self.wire_v2:  # contract v1 has no field for the fault: ``fault`` is on this object
            return encode(Status(**fields))
        stamp = self.clock.stamp(fields["ts"])
        extra = self.status_extra() if self.status_extra else {}
        waiting, since = self.waiting
        return encode(StatusV2(**fields, boot=stamp.boot, mono_ms=stamp.mono_ms, clock=stamp.clock,
                               epoch=self.outbox.epoch or self.outbox.memory_epoch or new_event_id(),
                               seq_last=self.outbox.seq_last, fault=self.fault, unreceipted=waiting,
                               unreceipted_since=since, receipts=self.receipts, **extra))

    def queue_reports(self) -> int:
        """Turn the outbox's salvage and loss reports into durable ``outbox_salvaged`` events (v2),
        numbered in the new epoch like any message; returns how many were queued."""
        from .messages import event

        topic = event_topic(self.cfg.site, self.cfg.device, self.cfg.broker.topic_prefix)
        queued = 0
        for n, _kind, body in self.outbox.reports():
            stamp, event_id = self.clock.stamp(), new_event_id()

            def build(epoch: str, seq: int, body=body, stamp=stamp, event_id=event_id) -> bytes:
                return encode(event("outbox_salvaged", self.cfg.site, self.cfg.device, stamp, epoch, seq,
                                    id=event_id, detail=salvage_detail(body), **lost_fields(body)))

            if self.outbox.add(build, topic, id=event_id) is not None:
                self.outbox.mark_sent(n)
                queued += 1
        return queued

    def _client(self) -> mqtt.Client:
        b = self.cfg.broker
        v5 = b.protocol == "5"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id_for(self.cfg),
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             **({} if v5 else {"clean_session": True}))
        client.max_inflight_messages_set(WINDOW_MAX + 1)  # our own window is the limit; +1 for a status
        client.max_queued_messages_set(0)
        apply_connection(client, b)
        # The broker publishes this when the connection dies without a DISCONNECT (kill -9, power cut).
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_message(self, client, userdata, message):
        kind = self.inbound_topics.get(message.topic)
        if kind == "time":
            self._heard_time(bytes(message.payload))
            return
        if kind == "receipt":
            self._heard_receipt(message.topic, bytes(message.payload))
            return
        if kind is None or self.inbound is None:
            return
        try:
            self.inbound(kind, message.topic, bytes(message.payload))
        except Exception as exc:  # a bad message must never stop the uplink
            log.error("handling a %s message failed: %s", kind, exc)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.error("%s", self.last_error)
            self._refused = True
        else:
            self._connected = True
            self.connections += 1
            if self.wire_v2:  # the collectors' time and receipts; requests from the desk, configs from the fleet
                for topic, kind in self.inbound_topics.items():
                    if kind == "time":
                        client.subscribe(topic, qos=0)
                    elif kind == "receipt" or self.inbound is not None:
                        client.subscribe(topic, qos=1)
            if not self._pipeline:  # the first status goes out now; rows follow in _serve
                client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
            self._pipeline = True  # accepted: later connections may send right behind CONNECT
            receive_max = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
            if receive_max:
                self._receive_max = receive_max

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected = False
        self._closed = True
        if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            self._taken_over(time.monotonic())

    def _taken_over(self, now: float) -> None:
        """A sign of a second kiosk with this device's kiosk.yaml (a copied file), whose ratings would
        merge into one counter: the broker threw us off for another connection of this account (MQTT 5
        brokers that say so), or a receipt came for an outbox epoch this kiosk never had (the other
        kiosk's, on the receipt topic both listen to). Once may be chance; again and again is not."""
        self._takeovers = [t for t in self._takeovers if now - t < TAKEOVER_WINDOW_S] + [now]
        if len(self._takeovers) >= TAKEOVERS and not self.duplicate_id:
            self.duplicate_id = True
            log.error("another kiosk uses this device id (%s/%s): %d signs of it in %d minutes (thrown off the "
                      "broker, receipts for another outbox). Give each kiosk its own device and account "
                      "(python -m broker add-device)",
                      self.cfg.site, self.cfg.device, len(self._takeovers), TAKEOVER_WINDOW_S // 60)
            self.status_now()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return  # a status message
        msg_id, held, keyed = entry
        self._inflight_ids.discard(msg_id)
        if reason_code.is_failure:  # e.g. not authorised: keep the row, it is resent on the next connection
            self.last_error = f"broker rejected a rating: {reason_code}"
            log.error("%s", self.last_error)
            self._rejected = True
            return
        if held:  # sent from memory during a disk fault: the broker's PUBACK is its durability
            self.outbox.forget_memory([msg_id])
        if keyed and not held and self.receipts == "on":
            self._marks.append(msg_id)  # waits for its receipt now
        else:
            # a message from memory may have reached the disk meanwhile: its row is deleted (and never sent) too
            self._acked.append(msg_id)
            self._undeleted.add(msg_id)
        self._acked_here += 1
        if self._acked_here >= self._grow_at:  # a whole window acknowledged: the link carries more
            self.window = min(self.window * 2, self._limit())
            self._grow_at = self._acked_here + self.window
        self.last_sent = datetime.now(timezone.utc)
        self.sent_total += 1

    def _limit(self) -> int:
        return max(1, min(WINDOW_MAX, getattr(self, "_receive_max", WINDOW_MAX + 1) - 1))

    def _connect(self) -> Optional[mqtt.Client]:
        """Open a connection and send the first window right behind CONNECT; None if no CONNACK came."""
        self._retarget.clear()  # this connection uses the settings as they are now
        self._connected = False
        self._closed = False
        self._refused = False
        self._rejected = False
        self._inflight = {}
        self._inflight_ids = set()
        self._acked_here = 0
        self.window = min(self._start_window, self._limit())
        self._grow_at = self.window
        self._cursor = (self.outbox.generation, 0)
        self._sent_before = None  # a new connection sends every row again, sent or not
        self._time_heard_at = None
        # and the wait for receipts starts afresh: a kiosk back from a day offline must not take the
        # day for a collector that stopped answering, and send its backlog twice
        self._last_receipt_mono = time.monotonic()
        self._resend_every = float(self.cfg.outbox.resend_after_s)
        self._next_round = self._last_receipt_mono + self._resend_every
        self._quiet_rounds = 0
        self._exhausted = False
        client = self._client()
        b = self.cfg.broker
        kwargs = {}
        if b.protocol == "5":
            kwargs["clean_start"] = True
        self.state = "connecting"
        client.connect(self.host, self.port, keepalive=b.keepalive_s, **kwargs)
        self.depth = self.outbox.depth()
        if self._pipeline:  # on a slow link this saves a whole round trip per connection
            client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
            self._fill(client)
        deadline = time.monotonic() + CONNACK_TIMEOUT_S
        while not self._connected and not self._refused and not self._closed \
                and time.monotonic() < deadline and not self._stop.is_set():
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
        if not self._connected:
            if self._pipeline and not self._refused:  # the broker may have refused us behind our back
                self.last_error = self.last_error or "the broker closed the connection before accepting it"
            self._pipeline = False  # the next attempt waits for CONNACK and so reads any refusal
            self._end_connection()
            try:
                client.socket() and client.socket().close()
            except OSError:
                pass
            return None
        return client

    def _end_connection(self) -> None:
        """Carry what this connection proved about the link to the next one."""
        acked, start = self._acked_here, self._start_window
        if acked >= start:
            self._start_window = min(WINDOW_MAX, max(start * 2, acked))
        else:
            self._start_window = max(WINDOW_START, acked)
        self._inflight = {}
        self._inflight_ids = set()
        self._wait_tick = None

    # ------------------------------------------------------------ receipts
    def _heard_receipt(self, topic: str, payload: bytes) -> None:
        """A collector's receipt for this kiosk (only collector accounts may publish it): applied in _serve."""
        try:
            msg = decode(topic, payload, self.cfg.broker.topic_prefix)
        except ContractError as exc:
            log.warning("a receipt that breaks the contract was ignored: %s", exc)
            return
        if isinstance(msg, Receipt):
            self._heard.append(msg)

    def _apply_receipts(self) -> None:
        heard, self._heard = self._heard, []
        if not heard:
            return
        self._flush_marks()  # a row marked after its receipt would look unreceipted
        own = {self.outbox.epoch, self.outbox.memory_epoch}
        if any(r.epoch not in own for r in heard):  # an epoch carried over from a salvage is ours too
            own |= self.outbox.receipt_epochs()
            for r in heard:
                if r.epoch not in own:
                    self._taken_over(time.monotonic())
        gone = self.outbox.receipt([(r.epoch, r.seqs) for r in heard])
        if gone is None:  # the disk refused: the rows stay and are resent; the collector receipts again
            return
        self.receipted_total += gone
        self.last_receipt = datetime.now(timezone.utc)
        self._last_receipt_mono = time.monotonic()
        self._quiet_rounds = 0
        self._resend_every = float(self.cfg.outbox.resend_after_s)
        if self._wait_s:
            self._wait_s = 0.0
            self.outbox.meta_set("receipt_wait_s", "0")
        if self.receipts == "fallback":
            log.warning("a collector's receipt came: rows are kept until the database has them again")
            self.receipts = "on"

    def _flush_marks(self) -> None:
        marks, self._marks = self._marks, []
        if marks:
            self.outbox.mark_acknowledged(marks, int(time.monotonic() * 1000))

    def _round_due(self, now: float) -> Optional[int]:
        """Whether to send unreceipted rows again now: those the broker took before the returned
        monotonic ms (None: not now)."""
        if self._round_now:  # a collector was heard (again): what went before it may have gone nowhere
            return self._everything_taken_until_now()
        if now < self._next_round:
            return None
        base = float(self.cfg.outbox.resend_after_s)
        if now - self._last_receipt_mono >= self._resend_every:  # no receipt at all for a while: all of them
            if self._quiet_rounds:
                self._resend_every = min(self._resend_every * 2, RESEND_MAX_S)
            self._quiet_rounds += 1
            self._next_round = now + self._resend_every
            return self._everything_taken_until_now()
        self._next_round = now + base
        newest = self.outbox.last_receipted_sent
        return newest - int(base * 1000) if newest is not None else None  # only rows a later one overtook

    def _everything_taken_until_now(self) -> int:
        """The bound of a round of every row the broker took until now. PUBACKs read but not stamped yet are
        stamped first: those of rows sent just before a restarted broker had the collector's subscription
        again come in the same read as the collector's time, and a stamp after the bound left them out."""
        self._flush_marks()
        return int(time.monotonic() * 1000) + 1

    def _resend_round(self, sent_before: int) -> None:
        """Send again, oldest first, every row the broker took before ``sent_before`` that no receipt cleared."""
        self._round_now = False
        self._flush_marks()
        self._sent_before = sent_before
        self._cursor = (self.outbox.generation, 0)
        self._exhausted = False

    def _count_wait(self, now: float) -> None:
        """Connected time with rows waiting and no receipt; past receipt_fallback_h, trust the PUBACK."""
        self.waiting = self.outbox.waiting()
        if self.receipts != "on" or not self.waiting[0] or self.cfg.outbox.receipt_fallback_h <= 0:
            self._wait_tick = None
            return
        if self._wait_tick is not None:
            self._wait_s += now - self._wait_tick
            self.outbox.meta_set("receipt_wait_s", f"{self._wait_s:.0f}")
        self._wait_tick = now
        if self._wait_s >= self.cfg.outbox.receipt_fallback_h * 3600:
            self._flush_marks()
            forgotten = self.outbox.forget_acknowledged()
            self.receipts = "fallback"
            self.waiting = self.outbox.waiting()
            log.error("no collector receipt in %.0f h connected: trusting the broker's PUBACK from now on; %d rows "
                      "the broker had taken are forgotten (is the collector older than the kiosk, or its "
                      "account without the right to publish receipts?)", self._wait_s / 3600, forgotten)

    # ------------------------------------------------------------ sending
    def _fill(self, client: mqtt.Client) -> None:
        """Keep the window full: oldest rows first, then messages held in memory during a disk fault."""
        if self._wake.is_set():
            self._wake.clear()
            self._exhausted = False
        if self._exhausted or self._rejected:
            return
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        generation, after = self._cursor
        if generation != self.outbox.generation:  # the outbox was salvaged into a new file
            generation, after = self.outbox.generation, 0
        sent_any = False
        while room > 0:
            rows = self.outbox.peek(after, room, self._sent_before)
            if not rows:
                break
            for row in rows:
                after = row.seq
                if row.id in self._undeleted or row.id in self._inflight_ids:
                    continue  # acknowledged already (only its delete is pending), or on its way: never twice
                if row.topic not in self.own_topics:
                    self._foreign(row.topic)
                    continue
                self._send(client, row.topic, row.payload, row.id, False, row.keyed)
                sent_any = True
                room -= 1
                if self._exhausted:  # the connection is gone
                    return
        self._cursor = (generation, after)
        if room > 0 and self.outbox.memory:
            for row in self.outbox.memory_rows():
                if room <= 0:
                    break
                if row.id in self._inflight_ids or row.id in self._undeleted:
                    continue
                self._send(client, row.topic, row.payload, row.id, True)
                sent_any = True
                room -= 1
        if room > 0 and not sent_any:
            self._exhausted = True

    def _heard_time(self, payload: bytes) -> None:
        """A collector's clock: how far off ours is (the technician view shows it)."""
        try:
            said = decode_time(payload)
        except ContractError:
            return
        self.clock_offset_s = (said.ts - self.clock.stamp().ts).total_seconds()
        # A collector is there (first word on this connection, or back after a silence): whatever the
        # broker took before it subscribed may have gone nowhere, so send it again now.
        now = time.monotonic()
        if self._time_heard_at is None or now - self._time_heard_at > TIME_SILENCE_S:
            self._round_now = True
        self._time_heard_at = now

    def _foreign(self, topic: str) -> None:
        self.foreign_rows += 1
        self.last_error = (f"the outbox holds messages for {topic}, not this kiosk's topics; they are kept, "
                           f"not sent (was this kiosk set up as another counter?)")
        if self.foreign_rows == 1:
            log.error("%s", self.last_error)

    def _send(self, client: mqtt.Client, topic: str, payload: bytes, msg_id: str, held: bool,
              keyed: bool = False) -> None:
        info = client.publish(topic, payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_CONN_LOST:
            # the broker closed the connection (e.g. refused it, right behind our CONNECT): the loop
            # reads why; the row stays in the outbox for the next connection
            self._exhausted = True
            return
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self._inflight[info.mid] = (msg_id, held, keyed)
        self._inflight_ids.add(msg_id)

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._stop.is_set():
            client = None
            try:
                client = self._connect()
                if client is not None:
                    backoff = BACKOFF_MIN_S
                    self.state = "connected"
                    log.info("connected to %s:%s", self.host, self.port)
                    self._serve(client)
                    self._end_connection()
            except Exception as exc:  # network errors, TLS errors, a bad secret: retry, never die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("uplink: %s", self.last_error)
            finally:
                self._flush_deletes()
            if self._stop.is_set():
                break
            self.state = "disconnected"
            # a connection that made progress was cut: come back at once, the link works
            wait = 0.1 if client is not None and self._acked_here else backoff * random.uniform(0.8, 1.2)
            if client is None or not self._acked_here:
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            end = time.monotonic() + wait
            while not self._stop.is_set() and time.monotonic() < end:
                self._heal_disk()
                self._stop.wait(min(RETRY_DISK_S, max(0.0, end - time.monotonic())))
        self.state = "stopped"

    def _heal_disk(self) -> None:
        """Deletes the disk refused are tried again once it writes (the outbox retries the disk itself)."""
        now = time.monotonic()
        if self._undeleted and not self._acked and not self.outbox.fault and now >= getattr(self, "_next_heal", 0):
            self._next_heal = now + RETRY_DISK_S
            self._acked = list(self._undeleted)
            self._flush_deletes()

    def _serve(self, client: mqtt.Client) -> None:
        """One connected session: keep the window full, delete acked rows, publish status."""
        interval = self.cfg.status_interval_s
        next_status = time.monotonic() + interval
        last_delete = time.monotonic()
        self._count_wait(time.monotonic())
        while not self._stop.is_set() and self._connected:
            now = time.monotonic()
            if self.receipts == "on":
                due = self._round_due(now)
                if due is not None:
                    self._resend_round(due)
            self._fill(client)
            if len(self._acked) + len(self._marks) >= DELETE_BATCH or self._heard or \
                    ((self._acked or self._marks) and now - last_delete >= DELETE_EVERY_S):
                self._flush_deletes()
                last_delete = now
            self._heal_disk()
            if self._retarget.is_set():  # new broker settings: this connection ends, the next uses them
                self._retarget.clear()
                break
            if now >= next_status or self._status_now.is_set():
                self._status_now.clear()
                self._count_wait(now)
                self.depth = self.outbox.depth()
                client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
                next_status = now + interval
            # short select while sending, longer when idle (the outbox wakes us via the event)
            rc = client.loop(0.01 if self._inflight or not self._exhausted else 0.05)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        if self._stop.is_set() and self._connected:
            self._goodbye(client)
        self._connected = False

    def _goodbye(self, client: mqtt.Client) -> None:
        """Orderly stop: wait briefly for PUBACKs in flight, then say offline ourselves."""
        deadline = time.monotonic() + 2.0
        while self._inflight and time.monotonic() < deadline and client.loop(0.05) == mqtt.MQTT_ERR_SUCCESS:
            pass
        self._flush_deletes()
        self.depth = self.outbox.depth()
        info = client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)
        deadline = time.monotonic() + 1.0
        while not info.is_published() and time.monotonic() < deadline:
            if client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                break
        client.disconnect()
        client.loop(0.1)

    def _flush_deletes(self) -> None:
        self._flush_marks()
        self._apply_receipts()
        acked, self._acked = self._acked, []
        if acked and self.outbox.delete_ids(acked):
            self._undeleted.difference_update(acked)
        # else: the disk refused (full, read-only): the ids stay in _undeleted, are never resent,
        # and the delete is tried again when the disk heals
        self.depth = self.outbox.depth()
