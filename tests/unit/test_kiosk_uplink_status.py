"""What the uplink says about storage: the fault in the v2 status, and a salvage report as a durable event."""
from __future__ import annotations

from broker.contract import Event, StatusV2, decode, event_topic, status_topic
from config.kiosk import KioskConfig
from kiosk.clock import KioskClock
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.unit.test_kiosk_outbox import TOPIC, FlakyConn, damage, filled, flaky, rating  # noqa: F401

CFG = KioskConfig.model_validate({"site": "site-a", "device": "quay-01", "repeat_window_s": 0})
CLOCK = KioskClock(boot="p-test", synced=lambda: True)


def test_the_v2_status_names_the_fault_with_epoch_and_seq(tmp_path, flaky):  # noqa: F811
    box = Outbox(tmp_path / "o.db")
    up = Uplink(CFG, box, wire_v2=True, clock=CLOCK)
    box.add(rating(), TOPIC)
    status = decode(status_topic("site-a", "quay-01"), up._status("online"))
    assert isinstance(status, StatusV2) and status.fault is None
    assert status.epoch == box.epoch and status.seq_last == 1 and status.clock == "synced"
    flaky["commit"] = "database or disk is full"
    box.add(rating(), TOPIC)
    status = decode(status_topic("site-a", "quay-01"), up._status("online"))
    assert status.fault == "disk full" and up.fault == "disk full" and status.outbox_depth == 2


def test_the_v1_status_is_unchanged_and_the_fault_waits_on_the_uplink(tmp_path, flaky):  # noqa: F811
    box = Outbox(tmp_path / "o.db")
    up = Uplink(CFG, box)
    flaky["commit"] = "attempt to write a readonly database"
    box.add(rating(), TOPIC)
    status = decode(status_topic("site-a", "quay-01"), up._status("online"))
    assert status.v == 1 and not hasattr(status, "fault") and up.fault == "read-only"


def test_a_salvage_becomes_one_numbered_event_of_the_new_epoch(tmp_path):
    path, made = filled(tmp_path, 40)
    damage(path, "header")
    box = Outbox(path)
    up = Uplink(CFG, box, wire_v2=True, clock=CLOCK)
    assert up.fault == "outbox salvaged"
    assert up.queue_reports() == 1 and up.queue_reports() == 0  # once
    row = box.peek(0, 100)[-1]
    ev = decode(row.topic, row.payload)
    assert row.topic == event_topic("site-a", "quay-01") and isinstance(ev, Event)
    assert ev.type == "outbox_salvaged" and ev.epoch == box.epoch and ev.seq == 1 == box.seq_last
    assert "40 salvaged, 0 unreadable" in ev.detail and "corrupt-" in ev.detail
