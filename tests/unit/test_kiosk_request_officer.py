"""Whose name goes on a rating that answers a desk request: the officer signed in; with nobody signed in,
the request's officer only when kiosk.yaml allows it (requests.officer_from_request) and lists that officer."""
from datetime import datetime, timezone

import pytest

from broker.contract import Rating, Request, decode, new_event_id
from config.kiosk import KioskConfig
from kiosk.duty import Duty, Officer
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.requests import Requests

HASH = "scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def rated(tmp_path, requests_cfg: dict, request_officer: str, signed_in: str | None = None, **extra):
    cfg = KioskConfig.model_validate({"site": "xa-a", "device": "quay-1", "officer": "truc-quay",
                                      "requests": requests_cfg, **extra})
    outbox = Outbox(tmp_path / "outbox.db")
    requests = Requests("open")
    duty = Duty({k: Officer(k, k, HASH) for k in ("an", "binh")})
    if signed_in:
        duty.sign_in(signed_in, None, now=0)
    rec = Recorder(cfg, outbox, requests=requests, duty=duty, monotonic=lambda: 1.0)
    requests.offer(Request(id=new_event_id(), site="xa-a", device="quay-1", ts=datetime.now(timezone.utc),
                           officer=request_officer, dossier="H56-1"), now=0.5)
    rec.rating(Rating(id=new_event_id(), site="xa-a", device="quay-1", ts=datetime.now(timezone.utc), rating=5,
                      scale=5, lang="vi", officer=cfg.officer))
    [(topic, payload)] = [(row.topic, row.payload) for row in outbox.peek(0, 10)]
    outbox.close()
    return decode(topic, payload)


def test_by_default_a_requests_officer_never_goes_on_the_rating(tmp_path):
    r = rated(tmp_path, {}, request_officer="giam-doc")
    assert (r.officer, r.dossier) == ("truc-quay", "H56-1")  # the counter's configured officer; the dossier stays


def test_the_officer_signed_in_wins_over_the_request(tmp_path):
    r = rated(tmp_path, {"officer_from_request": True}, request_officer="binh", signed_in="an")
    assert r.officer == "an"


@pytest.mark.parametrize("listed,expected", [(["binh"], "binh"), (["an"], "truc-quay"), ([], "binh")])
def test_allowed_the_request_names_the_officer_only_among_those_listed(tmp_path, listed, expected):
    people = [{"key": k, "name": k} for k in listed + (["truc-quay"] if listed else [])]
    r = rated(tmp_path, {"officer_from_request": True}, request_officer="binh", officers=people)
    assert r.officer == expected
