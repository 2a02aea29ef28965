"""The broker edge: a paho client with a persistent session, manual acknowledgement, QoS 1.

The network thread only copies each message into a bounded queue; the writer acks it after the
commit. Memory stays bounded by the queue size times the clipped payload (just over the contract's
4 KiB). We also ask the broker for at most ``receive_maximum`` un-acked messages (MQTT 5), but
Mosquitto 2.0.11 stops honouring that limit once acks flow while a publisher floods, so the bound
that counts is ours: a full queue blocks the network thread, TCP pushes back and the broker keeps
the rest queued in the session.
"""
from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker.mqtt_client import apply_connection
from broker.contract import INBOUND_KINDS, TimeSignal, encode, subscription, time_topic, utcnow
from collector.ingest.ingest import Message, clip
from config.common import BrokerConnection

log = logging.getLogger("collector.mqtt")
TIME_EVERY_S = 30.0  # how often kiosks hear the collector's time
_PUBACK = struct.Struct("!BBH")  # PUBACK, remaining length 2, packet id (MQTT 5: reason 0 may be omitted)
_READ_CHUNK = 65536


class _Client(mqtt.Client):
    """paho's client with a faster receive path, measured at about twice the messages per second.

    Stock paho does one select() and four or five recv() calls per incoming message; here each wake-up
    reads every packet already arrived, from one buffered recv(), and a committed batch is
    acknowledged with one write instead of one per message. Only paho-internal hooks of the 2.x line
    are overridden; the protocol handling stays paho's.
    """

    _rbuf = b""
    _rpos = 0
    fast_sink = None  # callable(topic: bytes, payload, mid, retain) taking QoS 1 messages

    def reconnect(self):
        self._rbuf, self._rpos = b"", 0  # bytes of a dead connection must not be parsed on the new one
        return super().reconnect()

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            buf, pos = super()._sock_recv(_READ_CHUNK), 0  # raises BlockingIOError when nothing is there
            if not buf:
                return buf  # connection closed
            self._rbuf = buf
        self._rpos = pos + bufsize
        return buf[pos:pos + bufsize]

    def loop_read(self, max_packets: int = 1):
        # Until the socket is drained: select() cannot see bytes already in our buffer.
        while True:
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self):
        # Fast path for the only kind we expect: QoS 1 with a topic name and (MQTT 5) no properties.
        # Anything else (QoS 0, topic alias, properties, a malformed packet) goes to paho's own code.
        sink, header, packet = self.fast_sink, self._in_packet["command"], self._in_packet["packet"]
        if sink is None or (header & 0x06) != 0x02 or len(packet) < 5:
            return super()._handle_publish()
        slen = (packet[0] << 8) | packet[1]
        pos = 2 + slen
        if slen == 0 or len(packet) < pos + 2 + (self._protocol == mqtt.MQTTv5):
            return super()._handle_publish()
        mid = (packet[pos] << 8) | packet[pos + 1]
        pos += 2
        if self._protocol == mqtt.MQTTv5:
            if packet[pos] != 0:
                return super()._handle_publish()
            pos += 1
        sink(bytes(packet[2:2 + slen]), packet[pos:], mid, bool(header & 0x01))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK for each QoS 1 message id, in order, queued as one write."""
        if mids:
            self._packet_queue(mqtt.PUBACK, b"".join(_PUBACK.pack(mqtt.PUBACK, 2, m) for m in mids), 0, 1)


def default_client_id() -> str:
    # Stable across restarts of this machine's collector, so the broker finds its session again.
    return f"collector-{socket.gethostname()}"[:64]


class MqttSource:
    def __init__(self, broker: BrokerConnection, out: queue.Queue, client_id: str, share_group: str | None,
                 session_expiry_s: int, receive_maximum: int, config_sink=None):
        self.broker = broker
        self.out = out
        self.client_id = client_id
        self.v5 = broker.protocol == "5"
        self.filters = [subscription(kind, broker.topic_prefix, share_group) for kind in INBOUND_KINDS]
        # The retained configs (collector/fleet/fleet_watch.py), on this same connection: the broker allows
        # one per account. Never shared, and kept out of the batches: handed over whole and acked at once.
        self.config_sink = config_sink  # callable(topic, payload)
        if config_sink is not None:
            self.filters.append(subscription("config", broker.topic_prefix))
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = max(1, min(65535, receive_maximum))
        self._lock = threading.Lock()
        self._conn = 0  # generation of the current connection; acks for older ones are dropped
        self._connected = False
        self._subscribed = False  # the broker confirmed this connection's subscriptions
        self._down_since: float | None = None
        self._stopping = False
        self._gone = threading.Event()
        self._quit = threading.Event()  # stops the time signal
        self._time_now = threading.Event()  # a connection came up: say the time soon, not in 30 s
        self.connects = 0
        self.receipts_sent = 0
        self.receipts_refused = 0
        self.client = self._make_client()

    # ------------------------------------------------------------ set-up
    def _make_client(self) -> mqtt.Client:
        b = self.broker
        kw = {} if self.v5 else {"clean_session": False}
        client = _Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                         protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311, manual_ack=True, **kw)
        apply_connection(client, b)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        # Receipts are QoS 1: on loopback they are acknowledged within a millisecond, and paho's default of
        # 20 in flight would queue a busy batch's receipts behind one another.
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.fast_sink = self._on_fast_message
        return client

    def start(self) -> None:
        props = None
        kw = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            props.ReceiveMaximum = self.receive_maximum
            kw = {"clean_start": False, "properties": props}
        log.info("connecting to %s:%s as %r (MQTT %s, persistent session)", self.broker.host, self.broker.port,
                 self.client_id, self.broker.protocol)
        # connect_async + loop_start: the network thread retries the first connection too.
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s, **kw)
        self.client.loop_start()
        threading.Thread(target=self._say_time, name="time", daemon=True).start()

    def _say_time(self) -> None:
        """Every TIME_EVERY_S, this collector's clock (kept by NTP at the centre) on <prefix>/time, QoS 0:
        kiosks without NTP show the technician how far off their own clock is."""
        topic = time_topic(self.broker.topic_prefix)
        due = 0.0
        while not self._quit.wait(1.0):
            # kiosks resend what the broker took on hearing the time; before SUBACK it would go nowhere
            if not self._subscribed or (time.monotonic() < due and not self._time_now.is_set()):
                continue
            self._time_now.clear()
            due = time.monotonic() + TIME_EVERY_S
            try:
                self.client.publish(topic, encode(TimeSignal(ts=utcnow())), qos=0)
            except Exception as exc:  # never let the time stop the collector
                log.debug("time signal not sent: %s", exc)

    def stop(self) -> None:
        """Disconnect after the PUBACKs already queued are sent; the session stays on the broker."""
        self._quit.set()
        with self._lock:
            self._connected = False
            self._stopping = True
        try:
            if self.client.disconnect() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._gone.wait(3)  # the network thread writes the queued PUBACKs, then DISCONNECT
        except Exception:  # not connected: nothing to say goodbye to
            pass
        self.client.loop_stop()

    # ------------------------------------------------------------ callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker %s:%s refused the connection: %s", self.broker.host, self.broker.port, reason_code)
            return
        with self._lock:
            self._conn += 1
            self._connected = True
            self._subscribed = False
        self.connects += 1
        down = f" after {time.monotonic() - self._down_since:.0f} s" if self._down_since else ""
        self._down_since = None
        log.info("connected to broker %s:%s%s (session present: %s); subscribing to %s", self.broker.host,
                 self.broker.port, down, flags.session_present, ", ".join(self.filters))
        client.subscribe(self.subscriptions())

    def subscriptions(self) -> list[tuple]:
        """QoS 1 everywhere. On MQTT 5, ratings and events keep their retain flag on live delivery
        (retain-as-published), so a rating someone published retained is recognised and rejected, not
        stored as a tap; the broker replays retained ones only to a new subscription, not at every
        reconnect. Statuses are subscribed plainly: there the flag marks a replay, which says nothing
        about now. MQTT 3.1.1 has no such options: only replays on subscribe carry the flag."""
        if not self.v5:
            return [(f, 1) for f in self.filters]
        out = []
        for f in self.filters:
            if f.endswith(("/status", "/config")):  # retained replays wanted at every subscribe
                out.append((f, SubscribeOptions(qos=1)))
            else:
                out.append((f, SubscribeOptions(qos=1, retainAsPublished=True,
                                                retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)))
        return out

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        refused = [(f, rc) for f, rc in zip(self.filters, reason_codes) if rc.is_failure]
        if refused and all(f.endswith("/config") for f, _ in refused):  # the ratings are safe; say what is missing
            log.warning("broker refused %s: the devices page shows no desired config (this account's rights "
                        "predate it; see docs/fleet.md)", refused[0][0])
            refused = []
        if refused:
            log.error("broker refused the subscription: %s (check the ACL for %r)",
                      ", ".join(str(rc) for _, rc in refused), self.client_id)
        else:
            log.info("subscribed: the broker now queues ratings for this collector's session")
            self._subscribed = self._connected
            self._time_now.set()

    def _on_connect_fail(self, client, userdata):
        if self._down_since is None:
            self._down_since = time.monotonic()
        log.warning("broker %s:%s unreachable; retrying with backoff (1 to 30 s)", self.broker.host, self.broker.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            self._connected = False
            self._subscribed = False
        if self._stopping:
            self._gone.set()
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._stopping:
            log.warning("lost the broker connection (%s); reconnecting, un-acked messages will be redelivered",
                        reason_code)

    def _put(self, m: Message) -> None:
        while True:  # blocks while the writer is behind: that is the back-pressure
            try:
                self.out.put(m, timeout=0.5)
                return
            except queue.Full:
                if self._stopping:  # dropped un-acked: the broker redelivers it next time
                    return

    def _on_fast_message(self, topic: bytes, payload: bytes, mid: int, retain: bool) -> None:
        if topic.endswith(b"/config") and self.config_sink is not None:
            return self._take_config(topic, payload, mid, 1)
        self._put(Message(topic, bytes(clip(payload)), mid, 1, retain, time.time(), len(payload), self._conn))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        payload = msg.payload
        if msg._topic.endswith(b"/config") and self.config_sink is not None:
            return self._take_config(msg._topic, payload, msg.mid, msg.qos)
        self._put(Message(msg._topic, bytes(clip(payload)), msg.mid, msg.qos, bool(msg.retain), time.time(),
                          len(payload), self._conn))

    def _take_config(self, topic: bytes, payload, mid: int, qos: int) -> None:
        try:
            self.config_sink(topic, payload)
        except Exception as exc:  # a config must never stop the ratings
            log.warning("config message on %r not taken: %s", topic[:200], exc)
        if qos == 1:
            self.client.ack_many([mid])

    # ------------------------------------------------------------ writer side
    def ack(self, acks) -> int:
        """Acknowledge committed messages; returns how many were sent (stale connections are skipped:
        the broker redelivers those, and their ids may already belong to other messages)."""
        with self._lock:
            if not self._connected:
                return 0
            conn = self._conn
            mids = [mid for mid, qos, gen in acks if gen == conn and qos == 1]
            self.client.ack_many(mids)  # QoS 2 cannot occur: we subscribe with QoS 1
        return len(mids)

    def send_receipts(self, receipts: list[tuple[str, bytes]]) -> int:
        """Publish receipts of a committed batch (QoS 1, not retained); returns how many. Not connected:
        none are sent (nor queued): each kiosk sends its rows again and gets its receipt then."""
        if not receipts or not self._connected:
            return 0
        for topic, payload in receipts:
            self.client.publish(topic, payload, qos=1)
        self.receipts_sent += len(receipts)
        return len(receipts)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        # MQTT 5 says when the broker refused a receipt (3.1.1 cannot: the broker drops it silently).
        if reason_code.is_failure:
            self.receipts_refused += 1
            if self.receipts_refused == 1:
                log.error("the broker refused a receipt (%s): kiosks keep every rating and send it again until "
                          "they fall back to the broker's acknowledgement. This collector account predates "
                          "receipts: run `python -m broker init` again on the broker folder and restart "
                          "Mosquitto (docs/broker.md)", reason_code)

    @property
    def connected(self) -> bool:
        return self._connected
