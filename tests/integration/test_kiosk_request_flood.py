"""A desk account that floods a kiosk with requests through a real Mosquitto: the kiosk takes at most
``requests.max_per_minute`` of them, so the flood cannot fill the outbox with ``request_expired`` rows."""
from __future__ import annotations

import queue
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import Event, Request, decode, encode, event_topic, request_topic
from kiosk.desk import build_request
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.requests import Requests
from kiosk.uplink import Uplink
from tests.integration.test_kiosk_uplink import SITE, Subscriber, kiosk_cfg, wait_for

pytestmark = pytest.mark.mosquitto
DEVICE = "quay-flood"
FLOOD = 100


def test_a_flood_of_desk_requests_writes_only_what_the_limit_lets_through(mosquitto, tmp_path):
    cfg = kiosk_cfg(mosquitto.port, device=DEVICE, requests={"max_per_minute": 5})
    outbox = Outbox(tmp_path / "outbox.db")
    requests = Requests(cfg.requests.mode, per_minute=cfg.requests.max_per_minute)  # as the app builds it
    recorder = Recorder(cfg, outbox, requests=requests)
    arrived: "queue.Queue[Request]" = queue.Queue()

    def inbound(kind: str, topic: str, payload: bytes) -> None:  # the uplink's thread, as in the app
        if kind == "request":
            arrived.put(decode(topic, payload, cfg.broker.topic_prefix))

    events = Subscriber(mosquitto.port, event_topic(SITE, DEVICE), client_id="flood-events")
    uplink = Uplink(cfg, outbox, wire_v2=True, inbound=inbound).start()
    desk = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    desk.connect("127.0.0.1", mosquitto.port)
    desk.loop_start()
    taken, first, last = 0, None, None
    try:
        assert wait_for(lambda: uplink.state == "connected", 10)
        probe = build_request(SITE, DEVICE, ticket="probe")
        # subscribed once a request gets through (the probe is the first of the bucket)
        assert wait_for(lambda: desk.publish(request_topic(SITE, DEVICE), encode(probe), qos=1)
                        and not arrived.empty(), 10)
        while not arrived.empty():
            requests.offer(arrived.get(), time.monotonic())
        for i in range(FLOOD):
            desk.publish(request_topic(SITE, DEVICE), encode(build_request(SITE, DEVICE, ticket=f"F{i:03d}")), qos=1)
        seen = 0
        deadline = time.monotonic() + 30
        while seen < FLOOD and time.monotonic() < deadline:  # the app's thread: take each, record what it replaced
            try:
                req = arrived.get(timeout=0.5)
            except queue.Empty:
                continue
            if req.ticket == "probe":
                continue
            seen += 1
            now = time.monotonic()
            first, last = first or now, now
            dropped_before = requests.dropped
            replaced = requests.offer(req, now)
            taken += requests.dropped == dropped_before
            for gone in replaced:
                recorder.event("request_expired", request=gone.id, ticket=gone.ticket,
                               detail="replaced by a newer request")
        assert seen == FLOOD
        # the bucket held five with the probe; one more per 12 s of the flood at most
        allowed = 5 - 1 + int((last - first) / 12) + 1
        assert taken <= allowed and requests.dropped == FLOOD - taken, (taken, allowed, requests.dropped)
        expired = lambda: [m for m in (decode(t, p) for t, p, _ in events.messages)  # noqa: E731
                           if isinstance(m, Event) and m.type == "request_expired"]
        assert wait_for(lambda: len(expired()) == taken, 15), (len(expired()), taken)
        time.sleep(0.5)
        assert len(expired()) == taken <= allowed  # one row per request it took (the probe, then those it replaced)
    finally:
        desk.loop_stop()
        desk.disconnect()
        uplink.stop()
        events.close()
        outbox.close()
