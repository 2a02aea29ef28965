"""The recorder turns the flow's ratings and the counter's events into gap-free v2 messages in the outbox."""
from datetime import datetime, timedelta, timezone

from broker.contract import Event, Rating, RatingV2, Request, decode, new_event_id
from config.kiosk import KioskConfig
from kiosk.clock import KioskClock
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.requests import Requests

T0 = datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc)


def make(tmp_path, wall, mono, requests=None):
    cfg = KioskConfig(site="xa-a", device="quay-1", officer=None, service=None)
    outbox = Outbox(tmp_path / "outbox.db")
    clock = KioskClock(boot="b1", monotonic=lambda: mono[0], utc=lambda: wall[0], synced=lambda: False)
    return Recorder(cfg, outbox, clock, requests=requests, monotonic=lambda: mono[0]), outbox


def rating(ts, **kw):
    return Rating(id=new_event_id(), site="xa-a", device="quay-1", ts=ts, rating=kw.pop("rating", 2), scale=5,
                  lang="vi", **kw)


def test_ratings_and_events_share_one_gap_free_sequence(tmp_path):
    wall, mono = [T0], [1000.0]
    rec, outbox = make(tmp_path, wall, mono)
    rec.rating(rating(T0))
    rec.event("sign_in", officer="an", service="ho-tich")
    rec.rating(rating(T0, reason="waiting"))
    msgs = [decode(r.topic, r.payload) for r in outbox.peek(0, 10)]
    assert [type(m) for m in msgs] == [RatingV2, Event, RatingV2]
    assert [m.seq for m in msgs] == [1, 2, 3] and {m.epoch for m in msgs} == {outbox.epoch}
    assert msgs[1].type == "sign_in" and msgs[2].reason == "waiting"
    assert outbox.seq_last == 3
    outbox.close()


def test_the_tap_time_is_the_face_not_the_reason(tmp_path):
    # the face at T0, the reason chosen 7 s later: mono_ms is the face's
    wall, mono = [T0 + timedelta(seconds=7)], [1007.0]
    rec, outbox = make(tmp_path, wall, mono)
    rec.rating(rating(T0, reason="slow"))
    [m] = [decode(r.topic, r.payload) for r in outbox.peek(0, 10)]
    assert (m.boot, m.mono_ms, m.clock, m.ts) == ("b1", 1_000_000, "unsynced", T0)
    outbox.close()


def test_a_pending_request_is_answered_by_the_next_rating_only(tmp_path):
    wall, mono = [T0], [50.0]
    reqs = Requests("open")
    rec, outbox = make(tmp_path, wall, mono, requests=reqs)
    req = Request(id=new_event_id(), site="xa-a", device="quay-1", ts=T0, dossier="H56-0001", ticket="A012",
                  service="ho-tich")
    reqs.offer(req, now=49.0)
    rec.rating(rating(T0))
    rec.rating(rating(T0))
    first, second = [decode(r.topic, r.payload) for r in outbox.peek(0, 10)]
    assert (first.request, first.dossier, first.ticket, first.service) == (req.id, "H56-0001", "A012", "ho-tich")
    assert (second.request, second.dossier, second.service) == (None, None, None)
    outbox.close()
