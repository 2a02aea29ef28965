"""An outbox that holds rows for another device's topics (a kiosk set up again as another counter
without emptying its outbox) keeps them: the uplink publishes only this kiosk's own topics. On MQTT
3.1.1 a publish the broker refuses still gets a PUBACK, so sending such a row would delete it unsent."""
from __future__ import annotations

import pytest

from broker.contract import Rating, encode, new_event_id, rating_topic, utcnow
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.integration.test_kiosk_uplink import SITE, Subscriber, kiosk_cfg, wait_for

pytestmark = pytest.mark.mosquitto


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_rows_for_another_device_stay_in_the_outbox_and_are_named(mosquitto, tmp_path, protocol):
    cfg = kiosk_cfg(mosquitto.port, protocol)
    outbox = Outbox(tmp_path / "outbox.db")
    old = Rating(id=new_event_id(), site=SITE, device="quay-09", ts=utcnow(), rating=2, scale=5, lang="vi")
    outbox.add(encode(old), rating_topic(SITE, "quay-09"), id=old.id)  # left by the counter it was before
    mine = [Rating(id=new_event_id(), site=SITE, device=cfg.device, ts=utcnow(), rating=5, scale=5, lang="vi")
            for _ in range(3)]
    for r in mine:
        outbox.add(r, rating_topic(SITE, cfg.device))
    sub = Subscriber(mosquitto.port, f"hailong/v1/{SITE}/+/rating", client_id=f"foreign-{protocol}")
    up = Uplink(cfg, outbox).start()
    try:
        assert wait_for(lambda: len(sub.messages) >= 3 and outbox.depth() == 1, 15), (sub.messages, outbox.depth())
        assert sorted(t for t, _, _ in sub.messages) == [rating_topic(SITE, cfg.device)] * 3
        assert outbox.ids() == [old.id]  # kept, not sent, not deleted
        assert "quay-09" in (up.last_error or "") and up.foreign_rows >= 1
    finally:
        up.stop()
        sub.close()
        outbox.close()
