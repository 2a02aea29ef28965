"""The kiosk's v2 time stamp and the v2 messages built from a flow's rating."""
import json
from datetime import datetime, timezone

from broker.contract import Rating, RatingV2, decode, encode, event_topic, new_event_id, rating_topic
from kiosk.clock import KioskClock, clock_wrong_text, read_boot_id
from kiosk.messages import event, rating_v2

T0 = datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc)  # a Pi without a real-time clock after a power cut


def test_boot_id_is_the_kernels_or_a_process_id(tmp_path):
    f = tmp_path / "boot_id"
    f.write_text("1894c73b-13d5-4394-8f00-5e2844e92f4b\n")
    assert read_boot_id(f) == "1894c73b-13d5-4394-8f00-5e2844e92f4b"
    made = read_boot_id(tmp_path / "missing")
    assert made.startswith("p-") and made != read_boot_id(tmp_path / "missing")


def test_stamp_carries_monotonic_ms_and_the_sync_state_refreshed_every_minute():
    mono = [100.0]
    answers = iter([False, True])
    clock = KioskClock(boot="b1", monotonic=lambda: mono[0], utc=lambda: T0, synced=lambda: next(answers))
    s = clock.stamp()
    assert (s.ts, s.boot, s.mono_ms, s.clock) == (T0, "b1", 100_000, "unsynced")
    mono[0] = 130.0
    assert clock.stamp().clock == "unsynced"  # not asked again within 60 s
    mono[0] = 161.0
    assert clock.stamp().clock == "synced"
    assert clock.stamp().mono_ms == 161_000


def test_unknown_sync_state_counts_as_unsynced():
    clock = KioskClock(boot="b1", monotonic=lambda: 1.0, utc=lambda: T0, synced=lambda: None)
    assert clock.stamp().clock == "unsynced"


def test_a_flow_rating_becomes_a_v2_rating_that_decodes():
    r = Rating(id=new_event_id(), site="xa-a", device="quay-1", ts=T0, rating=2, scale=5, reason="slow",
               lang="vi", officer="can-bo-a", service=None, flags=["rapid_repeat"])
    clock = KioskClock(boot="b1", monotonic=lambda: 5.5, utc=lambda: T0, synced=lambda: False)
    v2 = rating_v2(r, clock.stamp(), epoch="5d2b7c1e-0000-4c8e-9a51-0f1e2d3c4b5a", seq=3, dossier="H56-1", ticket="A1")
    back = decode(rating_topic("xa-a", "quay-1"), encode(v2))
    assert isinstance(back, RatingV2) and back == v2
    assert (back.id, back.rating, back.reason, back.flags, back.ts) == (r.id, 2, "slow", ["rapid_repeat"], T0)
    assert (back.seq, back.mono_ms, back.clock, back.dossier) == (3, 5500, "unsynced", "H56-1")
    assert json.loads(encode(v2))["v"] == 2


def test_events_are_durable_v2_messages():
    clock = KioskClock(boot="b1", monotonic=lambda: 1.0, utc=lambda: T0, synced=lambda: True)
    e = event("sign_in", "xa-a", "quay-1", clock.stamp(), "5d2b7c1e-0000-4c8e-9a51-0f1e2d3c4b5a", 9,
              officer="can-bo-a", service="ho-tich")
    back = decode(event_topic("xa-a", "quay-1"), encode(e))
    assert back.type == "sign_in" and back.seq == 9 and back.clock == "synced" and back.officer == "can-bo-a"


def test_the_technician_reads_how_wrong_the_clock_is():
    assert "đồng hồ chậm 3 d 2 h / clock wrong by 3 d 2 h" in clock_wrong_text(3 * 86400 + 7200 + 5)
    assert "(behind)" in clock_wrong_text(5)
    assert "đồng hồ nhanh 5 h / clock wrong by 5 h" in clock_wrong_text(-5 * 3600) and "(ahead)" in clock_wrong_text(-5 * 3600)
    assert "clock wrong by 1 min" in clock_wrong_text(90)
