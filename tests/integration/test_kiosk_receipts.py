"""The kiosk keeps a rating until a receipt says the database has it, on a live connection to a real
Mosquitto. The test plays the collector: it subscribes like one and publishes the receipts itself, so
it can hold them back, forge them and send them late."""
from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import Rating, StatusV2, decode, new_event_id, receipt_topic, status_topic, utcnow
from config.kiosk import KioskConfig
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.uplink import Uplink
from tests.integration.test_kiosk_uplink import wait_for

pytestmark = pytest.mark.mosquitto
SITE, DEVICE = "site-a", "quay-01"


class FakeCollector:
    """Takes every message a kiosk sends (QoS 1) and publishes receipts only when told to."""

    def __init__(self, port: int):
        self.ratings: list = []
        self.statuses: list[StatusV2] = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fake-collector", protocol=mqtt.MQTTv5)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe([("hailong/v1/+/+/rating", 1),
                                                                ("hailong/v1/+/+/status", 1)])
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.on_message = self._message
        self.c.connect("127.0.0.1", port, keepalive=5)
        self.c.loop_start()
        assert self.subscribed.wait(5)

    def _message(self, c, u, m):
        msg = decode(m.topic, m.payload)
        (self.statuses if isinstance(msg, StatusV2) else self.ratings).append(msg)

    def receipt(self, device: str, epoch: str, seqs: list[list[int]], site: str = SITE) -> None:
        body = {"v": 2, "site": site, "device": device, "ts": "2026-12-07T10:00:00.000Z", "epoch": epoch, "seqs": seqs}
        self.c.publish(receipt_topic(site, device), json.dumps(body), qos=1).wait_for_publish(5)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def kiosk(tmp_path, port: int, **outbox) -> tuple[Recorder, Outbox, Uplink]:
    cfg = KioskConfig.model_validate({"site": SITE, "device": DEVICE, "status_interval_s": 5,
                                      "broker": {"host": "127.0.0.1", "port": port, "keepalive_s": 30},
                                      "outbox": {"path": str(tmp_path / "outbox.db"), **outbox}})
    box = Outbox(cfg.outbox.path)
    return Recorder(cfg, box), box, Uplink(cfg, box, wire_v2=True)


def tap(rec: Recorder, n: int) -> None:
    for _ in range(n):
        rec.rating(Rating(id=new_event_id(), site=SITE, device=DEVICE, ts=utcnow(), rating=4, scale=5, lang="vi"))


@pytest.fixture
def mosquitto(mosquitto_factory):
    """A broker of its own: no other test's collector may receipt these kiosks' ratings."""
    return mosquitto_factory().start()


@pytest.fixture
def counter(mosquitto, tmp_path):
    """``counter(**outbox)``: the test's collector and a started kiosk (recorder, outbox, uplink),
    stopped and closed after the test."""
    made = []

    def start(**outbox):
        collector = FakeCollector(mosquitto.port)
        rec, box, up = kiosk(tmp_path, mosquitto.port, **outbox)
        made.append((collector, box, up))
        up.start()
        return collector, rec, box, up
    yield start
    for collector, box, up in made:
        up.stop()
        box.close()
        collector.close()


def test_a_rating_the_broker_acknowledged_stays_until_its_receipt(counter):
    collector, rec, box, up = counter()
    tap(rec, 30)
    assert wait_for(lambda: len(collector.ratings) >= 30 and box.waiting()[0] == 30, 10), box.waiting()
    time.sleep(0.5)
    # PUBACKed on a live connection, and still kept: no receipt yet
    assert up.connected and box.depth() == 30 and up.sent_total >= 30
    epoch = collector.ratings[0].epoch
    collector.receipt(DEVICE, epoch, [[1, 10], [21, 25]])
    assert wait_for(lambda: box.depth() == 15, 5), box.depth()
    left = sorted(decode(r.topic, r.payload).seq for r in box.peek(0, 100))
    assert left == [*range(11, 21), *range(26, 31)]
    # a receipt for another epoch (an outbox this kiosk no longer has) deletes nothing
    collector.receipt(DEVICE, new_event_id(), [[1, 30]])
    time.sleep(0.5)
    assert box.depth() == 15
    collector.receipt(DEVICE, epoch, [[1, 30]])
    assert wait_for(lambda: box.depth() == 0, 5) and up.receipted_total == 30


def test_unreceipted_ratings_are_sent_again_and_the_status_says_what_waits(counter):
    collector, rec, box, up = counter(resend_after_s=10)
    tap(rec, 5)
    assert wait_for(lambda: box.waiting()[0] == 5, 10)
    first = {r.id for r in collector.ratings}
    assert len(first) == 5 and len(collector.ratings) == 5
    # no receipt: after resend_after_s the same five go out again (the collector stores by id once)
    assert wait_for(lambda: len(collector.ratings) >= 10, 20), len(collector.ratings)
    assert {r.id for r in collector.ratings[5:10]} == first and box.depth() == 5
    assert wait_for(lambda: any(s.unreceipted == 5 for s in collector.statuses), 10)
    st = next(s for s in collector.statuses if s.unreceipted == 5)
    assert st.receipts == "on" and st.unreceipted_since is not None
    collector.receipt(DEVICE, collector.ratings[0].epoch, [[1, 5]])
    assert wait_for(lambda: box.depth() == 0, 5)


def test_a_kiosk_whose_collector_never_sends_receipts_falls_back_to_the_puback(counter):
    # 0.002 h: about 7 s connected with rows waiting and no receipt at all
    collector, rec, box, up = counter(receipt_fallback_h=0.002)
    tap(rec, 8)
    assert wait_for(lambda: box.waiting()[0] == 8, 10)
    assert wait_for(lambda: up.receipts == "fallback", 30), (up.receipts, box.waiting())
    assert box.depth() == 0  # forgotten: the broker's PUBACK is trusted now
    assert wait_for(lambda: any(s.receipts == "fallback" for s in collector.statuses), 10)
    tap(rec, 3)  # new ones leave at their PUBACK
    assert wait_for(lambda: box.depth() == 0 and len({r.id for r in collector.ratings}) == 11, 10)
    # a receipt turns receipts back on
    collector.receipt(DEVICE, collector.ratings[0].epoch, [[1, 1]])
    assert wait_for(lambda: up.receipts == "on", 5)
    tap(rec, 2)
    assert wait_for(lambda: box.waiting()[0] == 2, 10) and box.depth() == 2


def test_receipts_off_trusts_the_puback_as_before(counter):
    collector, rec, box, up = counter(receipts=False)
    tap(rec, 5)
    assert wait_for(lambda: box.depth() == 0 and len(collector.ratings) == 5, 10)
    assert wait_for(lambda: any(s.receipts == "off" for s in collector.statuses), 10)


def test_while_receipts_come_in_order_nothing_is_sent_again(counter):
    """Receipts that keep coming mean a collector is draining a queue: the kiosk does not add to it, even
    past resend_after_s."""
    collector, rec, box, up = counter(resend_after_s=10)
    tap(rec, 10)
    assert wait_for(lambda: box.waiting()[0] == 10, 10)
    epoch = collector.ratings[0].epoch
    for seq in range(1, 7):  # a slow collector: one receipt every 3 s, oldest first, for 18 s
        time.sleep(3)
        collector.receipt(DEVICE, epoch, [[seq, seq]])
    assert wait_for(lambda: box.depth() == 4, 5)  # the last receipt applied
    assert up.connections == 1  # (a new connection sends everything again, by design)
    assert len(collector.ratings) == 10, [r.seq for r in collector.ratings]  # nothing went twice


def test_a_rating_a_later_one_overtook_is_sent_again(counter):
    """Receipted later ones and not this one: it was lost on the way, and goes again (only it)."""
    collector, rec, box, up = counter(resend_after_s=10)
    tap(rec, 5)
    assert wait_for(lambda: box.waiting()[0] == 5, 10)
    epoch = collector.ratings[0].epoch
    collector.receipt(DEVICE, epoch, [[2, 5]])  # 1 never reached the database (say)
    time.sleep(11)
    tap(rec, 2)  # 6 and 7, acknowledged more than resend_after_s after 1, and receipted
    assert wait_for(lambda: box.waiting()[0] == 3, 10)
    collector.receipt(DEVICE, epoch, [[6, 7]])
    assert wait_for(lambda: [r.seq for r in collector.ratings].count(1) >= 2, 15), \
        [r.seq for r in collector.ratings]
    assert all([r.seq for r in collector.ratings].count(s) == 1 for s in range(2, 8))
    collector.receipt(DEVICE, epoch, [[1, 1]])
    assert wait_for(lambda: box.depth() == 0, 5)
