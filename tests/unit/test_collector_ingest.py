"""Pure ingest: every received message lands in exactly one bucket and is listed for the ack."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from broker.contract import Rating, Status, encode, utcnow
from collector.ingest.ingest import Message, classify, clip

T0 = 1_795_000_000.0


def rating(site="ubnd-a", device="quay-01", **kw) -> bytes:
    return encode(Rating(id=kw.pop("id", str(uuid.uuid4())), site=site, device=device, ts=utcnow(), rating=3,
                         scale=5, lang="vi", **kw))


def msg(topic: str, payload: bytes, mid: int = 1, **kw) -> Message:
    return Message(topic, payload, mid, 1, kw.pop("retain", False), kw.pop("received", T0), **kw)


def test_a_valid_rating_becomes_one_row_with_its_receive_time():
    b = classify([msg("hailong/v1/ubnd-a/quay-01/rating", rating(officer="A"))])
    assert len(b.rows) == 1 and b.rows[0].officer == "A" and b.rows[0].received_at == "2026-11-18T11:06:40.000Z"
    assert b.rejects == [] and b.acks == [(1, 1, 0)]


def test_the_same_id_twice_in_one_batch_is_one_row_and_one_duplicate():
    p = rating()
    b = classify([msg("hailong/v1/ubnd-a/quay-01/rating", p, 1), msg("hailong/v1/ubnd-a/quay-01/rating", p, 2)])
    assert len(b.rows) == 1 and b.duplicates == 1 and [a[0] for a in b.acks] == [1, 2]


def test_topic_and_payload_disagreeing_is_a_topic_mismatch_reject():
    b = classify([msg("hailong/v1/ubnd-b/quay-01/rating", rating(site="ubnd-a"))])
    assert b.rows == [] and [r.reason for r in b.rejects] == ["topic_mismatch"]


def test_an_oversized_payload_is_rejected_too_large_and_kept_only_4_kib():
    big = b"x" * (1 << 20)
    b = classify([msg("hailong/v1/ubnd-a/quay-01/rating", clip(big), size=len(big))])
    assert b.rejects[0].reason == "too_large" and len(b.rejects[0].payload) == 4096


def test_a_zero_length_status_is_an_ignored_clear_but_an_empty_rating_is_rejected():
    b = classify([msg("hailong/v1/ubnd-a/quay-01/status", b"", retain=True), msg("hailong/v1/ubnd-a/quay-01/rating", b"")])
    assert b.ignored == 1 and [r.reason for r in b.rejects] == ["empty"] and len(b.acks) == 2


def test_the_last_received_status_per_device_wins_whatever_its_kiosk_time_and_skew_is_receive_minus_status_time():
    def status(ts: str, state: str) -> bytes:
        return json.dumps({"v": 1, "site": "ubnd-a", "device": "quay-01", "state": state, "ts": ts,
                           "app_version": "1.0", "outbox_depth": 2}).encode()
    t = "hailong/v1/ubnd-a/quay-01/status"
    # The kiosk clock jumped back between the two: the second (its last will) still wins.
    b = classify([msg(t, status("2026-11-18T11:06:30Z", "online")),
                  msg(t, status("2026-11-18T10:00:00Z", "offline"), received=T0 + 1)])
    [d] = b.devices
    assert (d.state, d.outbox_depth, d.clock_skew_s, d.last_seen) == ("offline", 2, 4001.0, "2026-11-18T11:06:41.000Z")
    assert d.received_ms == int((T0 + 1) * 1000) and d.live == 1
    replay = classify([msg(t, status("2026-11-18T11:06:30Z", "online"), retain=True)]).devices[0]
    assert replay.clock_skew_s is None and replay.last_seen == "2026-11-18T11:06:30.000Z"


def test_bad_topics_and_bytes_are_rejected_with_the_topic_kept():
    b = classify([msg(b"hailong/v1/UPPER/quay-01/rating", rating()), msg(b"hailong/v1/a/b/rating", b"\xff\xfe"),
                  msg("hailong/v1/a/b/status", b"[1,2]")])
    assert [r.reason for r in b.rejects] == ["bad_topic", "bad_json", "bad_json"]
    assert b.rejects[0].topic == "hailong/v1/UPPER/quay-01/rating"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["hailong/v1/ubnd-a/quay-01/rating", "hailong/v1/ubnd-a/quay-01/status",
                                           "x/y", "hailong/v1/a/b/c/rating"]),
                          st.one_of(st.binary(max_size=300), st.just(b""), st.just(rating()))), max_size=20))
def test_any_input_is_classified_without_raising_and_every_message_is_acked(items):
    b = classify([msg(t, p, i) for i, (t, p) in enumerate(items)])
    assert len(b.acks) == len(items)
    statuses = sum(1 for t, p in items if _is_status(t, p))
    assert len(b.rows) + b.duplicates + len(b.rejects) + b.ignored + statuses == len(items)


def _is_status(topic: str, payload: bytes) -> bool:
    from broker.contract import ContractError, decode
    try:
        return isinstance(decode(topic, payload), Status)
    except ContractError:
        return False


@settings(max_examples=300, deadline=None)
@given(ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.just(timezone.utc)),
       flags=st.lists(st.sampled_from(["rapid_repeat", "x1"]), max_size=3), officer=st.none() | st.just("Lan"))
def test_stored_timestamps_are_rfc3339_utc_milliseconds(ts, flags, officer):
    from broker.contract import format_ts
    from collector.storage.records import rating_row
    r = Rating(id=str(uuid.uuid4()), site="s", device="d", ts=ts, rating=2, scale=3, lang="en", flags=flags,
               officer=officer)
    row = rating_row(r, "2026-01-01T00:00:00.000Z")
    assert row.ts == ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    assert row.ts_ms == int(ts.timestamp() * 1000) and row.flags == ",".join(flags) and row.officer == officer
    # any time zone is written in UTC
    assert format_ts(ts.astimezone(timezone(timedelta(hours=7)))) == row.ts
