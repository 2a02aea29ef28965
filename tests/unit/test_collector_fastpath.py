"""The collector's fast path for v2 ratings (collector/ingest/fastpath.py) agrees with the contract's full check.

Whatever the fast path accepts, ``broker.contract.decode`` accepts too, and both make the same stored row;
what it refuses goes to the full check, so a batch classified with the fast path is the batch classified
without it (same rows, rejects with the same reasons, duplicates, follow-ups)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from broker import contract
from broker.contract import ContractError
from collector.ingest import fastpath, ingest
from collector.ingest.ingest import Message, classify
from collector.storage.records import rating_row
from tests.unit.test_contract import _NEAR_V2, _TEXT, _VALID_V2, TOPIC, _changes, rating_v2

PREFIX = "hailong/v1"
RECEIVED_MS = 1_795_000_000_000  # 2026-11-18
RECEIVED_AT = "2026-11-18T08:53:20.000Z"


def kiosk_payload(**over) -> bytes:
    """As a kiosk writes it: format_ts times, "v" first, no spaces."""
    d = rating_v2(ts="2026-11-18T08:50:00.123Z", officer="Nguy\u1ec5n V\u0103n A", service="H\u1ed9 t\u1ecbch")
    d.update(over)
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def full_check(payload: bytes):
    """What the collector stores without the fast path: the contract's gate and ingest's text check."""
    msg = contract.decode(TOPIC, payload, PREFIX)
    if not ingest._storable(msg.officer, msg.service):
        raise ContractError("bad_text")
    return msg


def assert_agrees(payload: bytes, seen: dict | None = None) -> None:
    fast = fastpath.rating_v2(TOPIC, payload, PREFIX)
    if fast is None:  # the full check decides
        return
    if seen is not None:
        seen["compared"] += 1
    full = full_check(payload)  # raises if the fast path accepted what the contract rejects
    assert isinstance(full, contract.RatingV2)
    for offset in (None, RECEIVED_MS - 10**9, RECEIVED_MS + 10**12):
        assert fastpath.rating_row(fast, RECEIVED_AT, RECEIVED_MS, offset) == \
            rating_row(full, RECEIVED_AT, RECEIVED_MS, offset)
    assert fast.r.followup_hash == full.followup_hash
    assert (fast.r.site, fast.r.device, fast.r.boot) == (full.site, full.device, full.boot)


def test_a_kiosks_rating_takes_the_fast_path_and_makes_the_same_row():
    payload = kiosk_payload(followup_hash="ab" * 32)
    assert fastpath.rating_v2(TOPIC, payload, PREFIX) is not None
    assert_agrees(payload)


@pytest.mark.parametrize("change", [
    {"v": 1}, {"v": 2.0}, {"v": True}, {"ts": "2026-11-18T08:50:00Z"}, {"ts": "2026-11-18T08:50:00.123+00:00"},
    {"ts": "2026-02-30T08:50:00.123Z"}, {"ts": "1969-12-31T23:59:59.999Z"}, {"rating": 5, "scale": 4},
    {"officer": ""}, {"officer": "a\u200bb"}, {"officer": "a\nb"}, {"officer": "x" * 129}, {"service": "\ud800"},
    {"boot": "b0a1\n"}, {"lang": "vi\n"}, {"seq": 0}, {"seq": 2**31}, {"mono_ms": -1}, {"x": None},
    {"site": "ubnd-xa-b"}, {"flags": ["a"] * 9}, {"followup_hash": "AB" * 32}, {"request": "not-a-uuid"},
])
def test_anything_unusual_is_left_to_the_full_check(change):
    payload = kiosk_payload(**change)
    assert fastpath.rating_v2(TOPIC, payload, PREFIX) is None


def test_ids_are_lower_cased_as_the_contract_does():
    upper = str(uuid.uuid4()).upper()
    payload = kiosk_payload(id=upper, epoch=upper, request=upper)
    fast = fastpath.rating_v2(TOPIC, payload, PREFIX)
    assert fast is not None and fast.r.id == fast.r.epoch == fast.r.request == upper.lower()
    assert_agrees(payload)


def test_a_retained_or_other_topic_rating_is_not_taken():
    payload = kiosk_payload()
    assert fastpath.rating_v2(TOPIC.replace("/rating", "/event"), payload, PREFIX) is None
    assert fastpath.rating_v2("other/v1/ubnd-xa-a/quay-1/rating", payload, PREFIX) is None
    assert fastpath.rating_v2(TOPIC, b" " + payload, PREFIX) is None
    batch = classify([Message(TOPIC, payload, 1, 1, True, RECEIVED_MS / 1000)], PREFIX)
    assert not batch.rows and [r.reason for r in batch.rejects] == ["retained"]


# Generated payloads: fields varied within what is valid, in the form kiosks write (so the fast path is reached),
# then up to two of them near-valid or any JSON at all (the strategies of the contract's own fast-path property).
_KIOSK_TS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31),
                         timezones=st.just(timezone.utc)).map(contract.format_ts)
_VALID = _VALID_V2 | {
    "ts": _KIOSK_TS,
    "officer": st.none() | _TEXT | st.sampled_from(["Nguy\u1ec5n V\u0103n A", "L\u00f2 Th\u1ecb B", "x" * 128]),
    "followup_hash": st.none() | st.from_regex(r"\A[0-9a-f]{64}\Z"),
}
_NEAR = _NEAR_V2 | {
    "ts": _NEAR_V2["ts"] | st.sampled_from(["2026-11-18T08:50:00.123z", "2026-11-18t08:50:00.123Z",
                                            "2026-13-18T08:50:00.123Z", "2201-01-01T00:00:00.000Z"]),
    "followup_hash": st.sampled_from(["", "ab" * 31, "AB" * 32, "ab" * 32 + "\n"]) | st.text(max_size=4),
}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_changes(_VALID, _NEAR), st.booleans())
def test_what_the_fast_path_accepts_the_full_check_accepts_with_the_same_values(obj, ascii_only):
    base = json.loads(kiosk_payload())
    base.update(obj)
    # "v" first, as kiosks write it; the field may also have been given another value or dropped
    body = {"v": base.pop("v")} | base if "v" in base else base
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=ascii_only)
    assert_agrees(text.encode("utf-8", "surrogatepass") if ascii_only else text.encode("utf-8", "replace"))


_MUTATIONS = st.sampled_from([b"", b" ", b"\\n", b"\\u0000", b"\\ud800", b"\"", b",", b"}", b"{", b"0", b"9",
                              b"-", b".5", b"e3", b"null", b"true", b"\"x\":1,", b"\"rating\":9,", b"\xff", b"\xc3"])


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_mutated_kiosk_payloads_get_the_same_answer_both_ways(data):
    payload = kiosk_payload(followup_hash=data.draw(st.none() | st.just("cd" * 32)),
                            flags=data.draw(st.lists(st.sampled_from(["rapid_repeat", "x"]), max_size=3)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(payload)))
        cut = data.draw(st.integers(0, 3))
        payload = payload[:at] + data.draw(_MUTATIONS | st.binary(max_size=3)) + payload[at + cut:]
    fast = fastpath.rating_v2(TOPIC, payload, PREFIX)
    try:
        full_check(payload)
    except ContractError:
        assert fast is None, f"the fast path accepted {payload!r}, which the contract rejects"
        return
    assume(fast is not None)
    assert_agrees(payload)


def test_the_generated_payloads_reach_the_comparison_often():
    seen = {"compared": 0}
    tried = 300

    @settings(max_examples=tried, deadline=None, database=None)
    @given(st.fixed_dictionaries({}, optional=_VALID))
    def valid(obj):
        base = json.loads(kiosk_payload())
        base.update(obj)
        assert_agrees(json.dumps(base, separators=(",", ":")).encode(), seen)

    valid()
    assert seen["compared"] >= 0.5 * tried, f"only {seen['compared']} of {tried} valid payloads took the fast path"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["ok", "ok", "ok", "dup", "retained", "bad", "v1", "status", "spaced", "upper"]),
                min_size=1, max_size=30))
def test_a_batch_classified_with_the_fast_path_is_the_batch_classified_without_it(kinds):
    """Rows, rejects and their reasons, duplicates and follow-ups: the fast path changes none of them."""
    status = json.dumps({"v": 2, "site": "ubnd-xa-a", "device": "quay-1", "state": "online",
                         "ts": "2026-11-18T08:53:19.000Z", "app_version": "1", "outbox_depth": 0, "boot": "b0a1",
                         "mono_ms": 10**9, "clock": "synced", "epoch": rating_v2()["epoch"], "seq_last": 3}).encode()
    messages, last = [], None
    for i, kind in enumerate(kinds):
        payload, retain, topic = kiosk_payload(id=str(uuid.uuid4()), seq=i + 1, followup_hash="ef" * 32), False, TOPIC
        if kind == "dup" and last is not None:
            payload = last
        elif kind == "retained":
            retain = True
        elif kind == "bad":
            payload = kiosk_payload(id=str(uuid.uuid4()), rating=9)
        elif kind == "v1":
            payload = json.dumps({"v": 1, "id": str(uuid.uuid4()), "site": "ubnd-xa-a", "device": "quay-1",
                                  "ts": "2026-11-18T08:50:00Z", "rating": 3, "scale": 5, "lang": "vi"}).encode()
        elif kind == "status":
            payload, topic = status, TOPIC.replace("/rating", "/status")
        elif kind == "spaced":
            payload = json.dumps(json.loads(payload)).encode()  # another form: the full check's
        elif kind == "upper":
            payload = payload.replace(payload[payload.index(b'"id":"') + 6:][:36],
                                      payload[payload.index(b'"id":"') + 6:][:36].upper())
        last = payload
        messages.append(Message(topic, payload, i + 1, 1, retain, RECEIVED_MS / 1000 + i / 1000))
    with_fast = classify(messages, PREFIX)
    real = fastpath.rating_v2
    try:
        fastpath.rating_v2 = lambda *a: None
        without = classify(messages, PREFIX)
    finally:
        fastpath.rating_v2 = real
    assert with_fast == without
