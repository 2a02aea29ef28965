"""What the uplink says about storage: the fault in the v2 status, and a salvage report as a durable event."""
from __future__ import annotations

import time

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


class FakeClient:
    """Records publishes; mids count up as paho's do."""

    def __init__(self):
        self.sent: list[str] = []

    def publish(self, topic, payload, qos=0, retain=False):
        import json

        from paho.mqtt.client import MQTT_ERR_SUCCESS

        self.sent.append(json.loads(payload)["id"])
        return type("Info", (), {"rc": MQTT_ERR_SUCCESS, "mid": len(self.sent)})()


class Ok:
    is_failure = False


def connection(up: Uplink) -> None:
    """What _connect sets up, without a socket."""
    up._inflight, up._inflight_ids, up._acked_here = {}, set(), 0
    up._rejected = False
    up.window = min(up._start_window, up._limit())
    up._grow_at = up.window
    up._cursor = (up.outbox.generation, 0)
    up._exhausted = False


def test_the_window_starts_small_doubles_on_progress_and_carries_to_the_next_connection(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(300):
        box.add(rating(), TOPIC)
    up = Uplink(CFG, box)
    client = FakeClient()
    connection(up)
    up._fill(client)
    assert len(client.sent) == 5  # an unproven link: 5 in flight
    for mid in range(1, 6):
        up._on_publish(None, None, mid, Ok(), None)
    assert up.window == 10
    up._fill(client)
    assert len(client.sent) == 15
    up._end_connection()  # cut with 10 in flight: this connection carried 5
    assert up._start_window == 10
    connection(up)
    up._fill(client)
    # the next connection starts with 10, and never sends again the 5 acknowledged (their delete is pending)
    assert len(client.sent) == 25 and set(client.sent[15:]).isdisjoint(client.sent[:5])
    assert client.sent[15:] == client.sent[5:15]  # the 10 unacknowledged ones, oldest first
    up._end_connection()  # nothing acknowledged on that one: back to the small window
    assert up._start_window == 5


def test_rows_the_broker_took_just_before_a_collector_said_the_time_are_in_the_round_the_time_starts(tmp_path):
    """A restarted broker drops what a kiosk sends before the collector has subscribed again. Those PUBACKs
    arrive in the same read as the collector's first time signal, before the uplink stamps them: the resend
    round that signal starts must still count them as taken before it, or they wait out resend_after_s."""
    from broker.contract import TimeSignal, encode, utcnow

    import json

    box = Outbox(tmp_path / "o.db")
    for i in range(3):  # numbered rows (contract v2): each waits for its receipt once the broker took it
        box.add(lambda epoch, seq, i=i: json.dumps({"v": 2, "id": f"r{i}", "epoch": epoch, "seq": seq}).encode(),
                TOPIC, id=f"r{i}")
    up = Uplink(CFG, box, wire_v2=True, clock=CLOCK)
    assert up.receipts == "on"
    client = FakeClient()
    connection(up)
    up._fill(client)
    assert len(client.sent) == 3
    for mid in (1, 2, 3):  # the broker took them (and, no collector subscribed yet, dropped them)
        up._on_publish(None, None, mid, Ok(), None)
    assert len(up._marks) == 3 and box.depth() == 3  # taken, not stamped yet, kept for the receipt
    up._heard_time(encode(TimeSignal(ts=utcnow())))  # the collector is back: the same read
    now = time.monotonic()
    due = up._round_due(now)
    assert due is not None
    up._resend_round(due)
    up._fill(client)
    assert client.sent[3:] == client.sent[:3] == ["r0", "r1", "r2"]  # all three again, oldest first
    assert up._round_due(time.monotonic()) is None  # and one round, not a stream of them
