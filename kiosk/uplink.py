"""The uplink: drains the outbox to the broker over MQTT QoS 1 on its own thread.

A row is deleted only after the broker's PUBACK for it. Each connection attempt uses a fresh paho
client and resends from the oldest row still in the outbox, so nothing paho kept in memory from a
dead connection is ever sent twice by us; a rating whose PUBACK was lost is resent and the collector
drops the copy by its id. At most WINDOW messages are in flight, so a 50,000-row backlog drains
quickly without being loaded into memory. The UI thread only reads the small ``state`` snapshot.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timezone
from typing import Optional

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.mqtt_client import apply_connection
from broker.contract import Status, encode, status_topic, utcnow
from config.kiosk import KioskConfig

from . import __version__
from .outbox import Outbox

log = logging.getLogger(__name__)

WINDOW = 100              # messages in flight at once
DELETE_BATCH = 200        # PUBACKed rows deleted per transaction ...
DELETE_EVERY_S = 0.2      # ... or at least this often
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 8.0
CONNACK_TIMEOUT_S = 10.0


def client_id_for(cfg: KioskConfig) -> str:
    return cfg.broker.client_id or f"kiosk-{cfg.site}-{cfg.device}"[:64]


class Uplink:
    def __init__(self, cfg: KioskConfig, outbox: Outbox, config_hash: Optional[str] = None,
                 host: Optional[str] = None, port: Optional[int] = None):
        self.cfg = cfg
        self.outbox = outbox
        self.config_hash = config_hash
        self.host = host or cfg.broker.host
        self.port = port or cfg.broker.port
        self.status_topic = status_topic(cfg.site, cfg.device, cfg.broker.topic_prefix)
        # What the technician view shows; written by the uplink thread, read by anyone.
        self.state = "not started"       # connecting / connected / disconnected / stopped
        self.last_sent: Optional[datetime] = None
        self.last_error: Optional[str] = None
        self.depth = outbox.depth()
        self.sent_total = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        outbox.listeners.append(self._on_added)

    def _on_added(self) -> None:
        self.depth += 1  # an estimate until the uplink thread counts again
        self._wake.set()

    # ------------------------------------------------------------ public
    def start(self) -> "Uplink":
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def over_warn_depth(self) -> bool:
        return self.depth > self.cfg.outbox.warn_depth

    # ------------------------------------------------------------ connection
    def _status(self, state: str) -> bytes:
        if self.over_warn_depth:
            log.warning("outbox holds %d ratings, above warn_depth %d: is the broker reachable?",
                        self.depth, self.cfg.outbox.warn_depth)
        last = self.outbox.last_rating_ts()
        return encode(Status(site=self.cfg.site, device=self.cfg.device, state=state, ts=utcnow(),
                             app_version=__version__, outbox_depth=self.depth, last_rating_ts=last,
                             config_hash=self.config_hash))

    def _client(self) -> mqtt.Client:
        b = self.cfg.broker
        v5 = b.protocol == "5"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id_for(self.cfg),
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             **({} if v5 else {"clean_session": True}))
        client.max_inflight_messages_set(WINDOW)
        client.max_queued_messages_set(0)
        apply_connection(client, b)
        # The broker publishes this when the connection dies without a DISCONNECT (kill -9, power cut).
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.error("%s", self.last_error)
            self._refused = True
        else:
            self._connected = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected = False

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # a status message
        if reason_code.is_failure:  # e.g. not authorised: keep the row, it is resent on the next connection
            self.last_error = f"broker rejected a rating: {reason_code}"
            log.error("%s", self.last_error)
            self._rejected = True
            return
        self._acked.append(seq)
        self.last_sent = datetime.now(timezone.utc)
        self.sent_total += 1

    def _connect(self) -> Optional[mqtt.Client]:
        self._connected = False
        self._refused = False
        self._rejected = False
        self._inflight: dict[int, int] = {}
        self._acked: list[int] = []
        client = self._client()
        b = self.cfg.broker
        kwargs = {}
        if b.protocol == "5":
            kwargs["clean_start"] = True
        self.state = "connecting"
        client.connect(self.host, self.port, keepalive=b.keepalive_s, **kwargs)
        deadline = time.monotonic() + CONNACK_TIMEOUT_S
        while not self._connected and not self._refused and time.monotonic() < deadline and not self._stop.is_set():
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
        if not self._connected:
            try:
                client.socket() and client.socket().close()
            except OSError:
                pass
            return None
        return client

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
            except Exception as exc:  # network errors, TLS errors, a bad secret: retry, never die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("uplink: %s", self.last_error)
            finally:
                if client is not None:
                    self._flush_deletes()
            if self._stop.is_set():
                break
            self.state = "disconnected"
            self._stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        self.state = "stopped"

    def _serve(self, client: mqtt.Client) -> None:
        """One connected session: publish status, keep the window full, delete acked rows."""
        interval = self.cfg.status_interval_s
        self.depth = self.outbox.depth()
        client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        next_status = time.monotonic() + interval
        last_delete = time.monotonic()
        sent_seq = 0  # highest seq published on this connection
        exhausted = False  # the last peek found nothing more
        while not self._stop.is_set() and self._connected:
            if self._wake.is_set():
                self._wake.clear()
                exhausted = False
            if not exhausted and not self._rejected and len(self._inflight) < WINDOW:
                rows = self.outbox.peek(sent_seq, WINDOW - len(self._inflight))
                exhausted = not rows
                for row in rows:
                    info = client.publish(row.topic, row.payload, qos=1)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                        raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
                    self._inflight[info.mid] = row.seq
                    sent_seq = row.seq
            now = time.monotonic()
            if len(self._acked) >= DELETE_BATCH or (self._acked and now - last_delete >= DELETE_EVERY_S):
                self._flush_deletes()
                last_delete = now
            if now >= next_status:
                self.depth = self.outbox.depth()
                client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
                next_status = now + interval
            # short select while sending, longer when idle (the outbox wakes us via the event)
            rc = client.loop(0.01 if self._inflight or not exhausted else 0.05)
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
        acked, self._acked = getattr(self, "_acked", []), []
        if acked:
            self.outbox.delete(acked)
        self.depth = self.outbox.depth()
