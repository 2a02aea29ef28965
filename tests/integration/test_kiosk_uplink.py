"""The kiosk uplink against a real Mosquitto: offline taps arrive once and in order; status and last will."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import decode, rating_topic, status_topic
from config.kiosk import KioskConfig
from kiosk.flow import Flow
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]
SITE, DEVICE = "site-a", "quay-01"


def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class Subscriber:
    """A persistent-session QoS 1 subscriber that records every message, with automatic reconnect."""

    def __init__(self, port: int, topic: str, client_id: str = "test-sub"):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.c.connect("127.0.0.1", port, keepalive=5)
        self.c.loop_start()
        assert self.subscribed.wait(5)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def kiosk_cfg(port: int, protocol: str = "5", **over) -> KioskConfig:
    return KioskConfig.model_validate({"site": SITE, "device": over.pop("device", DEVICE), "repeat_window_s": 0,
                                       "broker": {"host": "127.0.0.1", "port": port, "protocol": protocol,
                                                  "keepalive_s": 5}, **over})


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_ratings_tapped_while_broker_down_arrive_once_in_order(protocol, mosquitto_factory, tmp_path):
    broker = mosquitto_factory().start()
    sub = Subscriber(broker.port, rating_topic(SITE, DEVICE))
    broker.stop()  # the subscriber's session (and what is queued for it) persists
    cfg = kiosk_cfg(broker.port, protocol)
    outbox = Outbox(tmp_path / "outbox.db")
    topic = rating_topic(SITE, DEVICE)
    flow = Flow(cfg, lambda r: outbox.add(r, topic))
    uplink = Uplink(cfg, outbox).start()
    try:
        made = []
        for i in range(1500):  # more than the in-flight window many times over
            made.append(flow.tap_face(i % 5 + 1 if i % 5 + 1 > 2 else 5, now=i * 10.0))
            flow.tick(i * 10.0 + 5)
        time.sleep(1.0)
        assert uplink.state != "connected" and outbox.depth() == 1500  # nothing deleted without a PUBACK
        broker.start()
        assert wait_for(lambda: len(sub.messages) >= 1500, 30), f"only {len(sub.messages)} arrived"
        assert wait_for(lambda: outbox.depth() == 0, 10)
        time.sleep(1.0)  # anything sent twice would show up now
        got = [decode(t, p) for t, p, _ in sub.messages]
        assert [r.id for r in got] == [r.id for r in made]
        assert got == [decode(topic, r.encode()) for r in made]
        assert uplink.state == "connected" and uplink.last_sent is not None and uplink.sent_total == 1500
    finally:
        uplink.stop()
        outbox.close()
        sub.close()


def test_broker_restart_mid_stream_loses_nothing(mosquitto_factory, tmp_path):
    broker = mosquitto_factory().start()
    sub = Subscriber(broker.port, rating_topic(SITE, DEVICE))
    cfg = kiosk_cfg(broker.port)
    outbox = Outbox(tmp_path / "outbox.db")
    flow = Flow(cfg, lambda r: outbox.add(r, rating_topic(SITE, DEVICE)))
    uplink = Uplink(cfg, outbox).start()
    try:
        made = []
        for i in range(600):
            made.append(flow.tap_face(5, now=i * 10.0))
            flow.tick(i * 10.0 + 5)
            if i == 300:
                broker.restart(down_s=0.5)
            time.sleep(0.002)
        assert wait_for(lambda: outbox.depth() == 0, 30)
        assert wait_for(lambda: {decode(t, p).id for t, p, _ in sub.messages} >= {r.id for r in made}, 10)
    finally:
        uplink.stop()
        outbox.close()
        sub.close()


def test_status_is_retained_and_last_will_says_offline_after_kill9(mosquitto, tmp_path):
    cfg_path = tmp_path / "kiosk.yaml"
    cfg_path.write_text(f"kind: kiosk\nsite: {SITE}\ndevice: quay-09\n"
                        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}, keepalive_s: 5}}\n"
                        f"outbox: {{path: outbox.db}}\nstatus_interval_s: 5\n", encoding="utf-8")
    topic = status_topic(SITE, "quay-09")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "simulate", "--config", str(cfg_path),
                             "--count", "100000", "--rate", "2"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = Subscriber(mosquitto.port, topic, client_id="status-watch")
    try:
        assert wait_for(lambda: any(json.loads(p)["state"] == "online" for _, p, _ in watcher.messages), 15)
        # a subscriber that arrives later still learns the state: it is retained
        late = Subscriber(mosquitto.port, topic, client_id="late-1")
        assert wait_for(lambda: late.messages, 5)
        t, payload, retained = late.messages[0]
        status = decode(t, payload)
        assert retained and status.state == "online" and status.device == "quay-09" and status.config_hash
        late.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert wait_for(lambda: json.loads(watcher.messages[-1][1])["state"] == "offline", 15)
        late = Subscriber(mosquitto.port, topic, client_id="late-2")
        assert wait_for(lambda: late.messages, 5)
        assert late.messages[0][2] and decode(late.messages[0][0], late.messages[0][1]).state == "offline"
        late.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watcher.close()


def test_a_delete_the_disk_refuses_after_puback_is_never_a_resend(mosquitto, tmp_path, monkeypatch):
    """Was: deleting acknowledged rows failed ("database or disk is full"), the uplink reconnected and
    sent the same rows again and again (4,587 copies of 146 ratings in 20 s). The failure is injected
    at the DELETE (tests/integration/test_kiosk_storage_faults.py fills a real disk)."""
    from collections import Counter

    from tests.unit.test_kiosk_outbox import FlakyConn

    faults: dict = {}
    real = __import__("sqlite3").connect
    monkeypatch.setattr("kiosk.outbox.sqlite3.connect", lambda *a, **k: FlakyConn(real(*a, **k), faults))
    monkeypatch.setattr("kiosk.outbox.RETRY_S", 0.2)
    topic = rating_topic(SITE, "quay-del")
    sub = Subscriber(mosquitto.port, topic, client_id="del-watch")
    cfg = kiosk_cfg(mosquitto.port, device="quay-del")
    outbox = Outbox(tmp_path / "outbox.db")
    flow = Flow(cfg, lambda r: outbox.add(r, topic))
    made = []
    for i in range(150):
        made.append(flow.tap_face(5, now=i * 10.0).id)
        flow.tick(i * 10.0 + 5)
    faults["commit"] = "database or disk is full"  # the disk is full now: no write commits, deletes neither
    uplink = Uplink(cfg, outbox).start()
    try:
        assert wait_for(lambda: len(sub.messages) >= 150, 15)
        time.sleep(3)  # a resend loop would pile up copies now
        copies = Counter(decode(t, p).id for t, p, _ in sub.messages)
        assert set(copies) == set(made) and max(copies.values()) == 1, f"{len(sub.messages)} copies"
        assert outbox.depth() == 150 and outbox.fault == "disk full"  # nothing could be deleted ...
        assert uplink.state == "connected"                            # ... and the link stayed up
        faults.clear()  # space returns: the deletes go through, still nothing sent twice
        assert wait_for(lambda: outbox.depth() == 0, 10)
        time.sleep(0.5)
        assert len(sub.messages) == 150
    finally:
        uplink.stop()
        outbox.close()
        sub.close()
