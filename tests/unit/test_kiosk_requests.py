"""Rating requests: asked only when asked (on_request) or always (open); answered once; expiry as an event."""
from datetime import datetime, timezone

from broker.contract import Request, new_event_id
from kiosk.requests import Requests


def req(expires_s=60, **kw):
    return Request(id=new_event_id(), site="xa-a", device="quay-1",
                   ts=datetime(1970, 1, 1, tzinfo=timezone.utc),  # a wrong desk clock does not matter
                   expires_s=expires_s, **kw)


def test_on_request_mode_asks_only_while_a_request_is_pending():
    r = Requests("on_request")
    assert not r.should_ask(now=0)
    one = req(dossier="H56-0001", ticket="A012")
    assert r.offer(one, now=10) == []
    assert r.should_ask(now=11)
    assert r.answer(now=12) == one
    assert not r.should_ask(now=13) and r.answer(now=13) is None  # one request, one rating


def test_open_mode_always_asks_and_a_request_adds_its_details():
    r = Requests("open")
    assert r.should_ask(now=0) and r.answer(now=0) is None
    one = req(service="ho-tich")
    r.offer(one, now=5)
    assert r.answer(now=6).service == "ho-tich"


def test_a_request_runs_out_from_its_arrival_and_becomes_an_event_once():
    r = Requests("on_request")
    one = req(expires_s=30)
    r.offer(one, now=100)
    assert r.expire(now=129) == [] and r.should_ask(now=129)
    assert r.expire(now=130) == [one]
    assert r.expire(now=131) == [] and not r.should_ask(now=131) and r.answer(now=131) is None


def test_a_newer_request_replaces_the_older_and_a_redelivery_is_ignored():
    r = Requests("on_request")
    one, two = req(ticket="A1"), req(ticket="A2")
    r.offer(one, now=0)
    assert r.offer(two, now=5) == [one]       # the first citizen left unasked: counted as expired
    assert r.offer(one, now=6) == []          # QoS 1 redelivery of an old request changes nothing
    assert r.answer(now=7).ticket == "A2"


def test_a_flood_of_requests_is_dropped_before_it_replaces_anything():
    r = Requests("on_request", per_minute=6)
    first = [req(ticket=f"A{i}") for i in range(6)]
    replaced = [gone for i, one in enumerate(first) for gone in r.offer(one, now=100 + i * 0.01)]
    assert replaced == first[:5]  # six taken at once: five replaced, each a request_expired row
    flood = [req(ticket=f"F{i}") for i in range(200)]
    assert [gone for one in flood for gone in r.offer(one, now=101)] == []  # dropped: nothing written
    assert r.dropped == 200 and r.pending.request.ticket == "A5"
    # the bucket fills again at six a minute: one more ten seconds later
    late = req(ticket="B1")
    assert r.offer(late, now=111) == [first[5]] and r.pending.request is late
    assert r.offer(req(ticket="B2"), now=112) == [] and r.pending.request is late
