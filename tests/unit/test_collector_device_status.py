"""What a kiosk's status tells the collector reaches the device row the dashboard shows (what waits for a
receipt and since when, the outbox's numbering, faults, the clock); the edges of ingest: a hostile topic or
field name, a payload at the size limit, empty messages, another topic prefix. Expected rows are written
out field by field."""
from __future__ import annotations

import json
import time
import uuid

from collector.ingest.ingest import DeviceRow, EpochStatus, Message, classify, clip

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
TOPIC = "hailong/v1/ubnd-a/quay-01/status"
EPOCH = "11111111-1111-1111-1111-111111111111"


def status_v2(**kw) -> bytes:
    d = {"v": 2, "site": "ubnd-a", "device": "quay-01", "state": "online", "ts": "2026-11-18T11:06:30.123Z",
         "app_version": "2.1", "outbox_depth": 7, "last_rating_ts": "2026-11-18T11:05:00Z",
         "config_hash": "a" * 64, "boot": "boot-1", "mono_ms": 5000, "clock": "unsynced", "epoch": EPOCH,
         "seq_last": 41, "officer": "Nguyễn Văn A", "config_error": "faces.scale: 9", "fault": "disk full",
         "unreceipted": 3, "unreceipted_since": "2026-11-18T10:00:00Z", "receipts": "fallback", "pushes": "on"}
    d.update(kw)
    return json.dumps(d).encode()


def test_a_live_status_puts_every_field_it_carries_on_the_device_row():
    b = classify([Message(TOPIC, status_v2(), 1, 1, False, T0 + 0.0004)])
    assert b.rejects == [] and b.devices == [DeviceRow(
        site="ubnd-a", device="quay-01", state="online", status_ts="2026-11-18T11:06:30.123Z",
        last_seen="2026-11-18T11:06:40.000Z", app_version="2.1", outbox_depth=7,
        last_rating_ts="2026-11-18T11:05:00.000Z", config_hash="a" * 64, clock_skew_s=9.877,
        received_ms=1_795_000_000_000, live=1, boot="boot-1", clock="unsynced", epoch=EPOCH, seq_last=41,
        officer="Nguyễn Văn A", config_error="faces.scale: 9", fault="disk full", unreceipted=3,
        unreceipted_since="2026-11-18T10:00:00.000Z", receipts="fallback", pushes="on")]


def test_a_status_without_receipts_or_a_last_rating_leaves_them_empty():
    p = json.loads(status_v2())
    for k in ("last_rating_ts", "unreceipted", "unreceipted_since", "receipts"):
        del p[k]
    [row] = classify([Message(TOPIC, json.dumps(p).encode(), 1, 1, False, T0)]).devices
    assert (row.last_rating_ts, row.unreceipted, row.unreceipted_since, row.receipts) == (None, None, None, None)


def test_a_retained_status_dated_in_the_future_does_not_keep_its_device_seen_and_has_no_skew():
    [row] = classify([Message(TOPIC, status_v2(ts="2199-01-01T00:00:00Z"), 1, 1, True, T0)]).devices
    assert (row.last_seen, row.clock_skew_s, row.live) == ("2026-11-18T11:06:40.000Z", None, 0)
    [row] = classify([Message(TOPIC, status_v2(), 1, 1, True, T0)]).devices
    assert (row.last_seen, row.clock_skew_s, row.live) == ("2026-11-18T11:06:30.123Z", None, 0)


def rating(**extra) -> bytes:
    d = {"v": 1, "id": str(uuid.uuid4()), "site": "ubnd-a", "device": "quay-01", "ts": "2026-11-18T11:06:30Z",
         "rating": 3, "scale": 5, "lang": "vi"}
    d.update(extra)
    return json.dumps(d).encode()


def test_a_topic_that_is_not_utf8_is_rejected_with_the_bytes_replaced_and_the_rest_of_the_batch_stored():
    b = classify([Message(b"hailong/v1/\xff\xfe/quay-01/rating", rating(), 1, 1, False, T0),
                  Message("hailong/v1/ubnd-a/quay-01/rating", rating(), 2, 1, False, T0)])
    assert [(r.reason, r.topic) for r in b.rejects] == [("bad_topic", "hailong/v1/\ufffd\ufffd/quay-01/rating")]
    assert len(b.rows) == 1 and [a[0] for a in b.acks] == [1, 2]


def test_a_field_name_with_nul_is_rejected_with_a_reason_the_databases_can_store_and_the_batch_goes_on():
    b = classify([Message("hailong/v1/ubnd-a/quay-01/rating", rating(**{"a\u0000b": 1}), 1, 1, False, T0),
                  Message("hailong/v1/ubnd-a/quay-01/rating", rating(), 2, 1, False, T0)])
    assert [r.reason for r in b.rejects] == ["unknown_field:a?b"] and len(b.rows) == 1


def padded(payload: bytes, size: int) -> bytes:
    return payload + b" " * (size - len(payload))  # JSON allows trailing white space


def test_a_payload_of_exactly_the_largest_size_is_stored_and_one_byte_more_is_rejected_with_its_real_size():
    t = "hailong/v1/ubnd-a/quay-01/rating"
    b = classify([Message(t, padded(rating(), 4096), 1, 1, False, T0),
                  Message(t, padded(rating(), 4097), 2, 1, False, T0)])
    assert len(b.rows) == 1 and [(r.reason, r.size) for r in b.rejects] == [("too_large", 4097)]


def test_a_reject_records_the_length_of_what_was_received():
    b = classify([Message("hailong/v1/ubnd-b/quay-01/rating", rating(), 1, 1, False, T0)])  # another site's topic
    assert [(r.reason, r.size) for r in b.rejects] == [("topic_mismatch", len(rating()))]


def test_an_empty_retained_status_alone_is_ignored_and_an_empty_rating_alone_is_rejected():
    b = classify([Message(TOPIC, b"", 1, 1, True, T0)])
    assert (b.ignored, b.rejects) == (1, [])
    b = classify([Message("hailong/v1/ubnd-a/quay-01/rating", b"", 1, 1, False, T0)])
    assert b.ignored == 0 and [r.reason for r in b.rejects] == ["empty"]


def test_a_collector_on_another_topic_prefix_stores_its_sites_messages():
    b = classify([Message("tinh-x/v1/ubnd-a/quay-01/rating", rating(), 1, 1, False, T0),
                  Message("tinh-x/v1/ubnd-a/quay-01/status", b"", 2, 1, True, T0)], prefix="tinh-x/v1")
    assert len(b.rows) == 1 and b.rejects == [] and b.ignored == 1


def test_a_status_says_how_far_its_outbox_is_numbered_and_two_devices_in_one_batch_each_keep_a_row():
    other = status_v2(device="quay-02", epoch="22222222-2222-2222-2222-222222222222", seq_last=9)
    b = classify([Message(TOPIC, status_v2(), 1, 1, False, T0),
                  Message("hailong/v1/ubnd-a/quay-02/status", other, 2, 1, False, T0)])
    assert b.epoch_status == [EpochStatus("ubnd-a", "quay-01", EPOCH, 41, "2026-11-18T11:06:40.000Z"),
                              EpochStatus("ubnd-a", "quay-02", "22222222-2222-2222-2222-222222222222", 9,
                                          "2026-11-18T11:06:40.000Z")]
    assert [(d.device, d.seq_last) for d in b.devices] == [("quay-01", 41), ("quay-02", 9)]


def test_a_kiosk_that_lost_its_outbox_says_how_far_the_lost_one_was_numbered():
    lost = "33333333-3333-3333-3333-333333333333"
    event = {"v": 2, "id": str(uuid.uuid4()), "site": "ubnd-a", "device": "quay-01", "ts": "2026-11-18T11:06:30Z",
             "epoch": EPOCH, "seq": 1, "boot": "boot-1", "mono_ms": 5000, "clock": "synced",
             "type": "outbox_salvaged", "lost_epoch": lost, "lost_seq_last": 300, "lost": 178}
    b = classify([Message("hailong/v1/ubnd-a/quay-01/event", json.dumps(event).encode(), 1, 1, False, T0)])
    assert b.rejects == [] and len(b.events) == 1
    assert b.epoch_status == [EpochStatus("ubnd-a", "quay-01", lost, 300, "2026-11-18T11:06:40.000Z")]
    event.update(id=str(uuid.uuid4()), type="sign_in", lost_epoch=None, lost_seq_last=None, lost=None)
    assert classify([Message("hailong/v1/ubnd-a/quay-01/event", json.dumps(event).encode(), 1, 1, False, T0)]
                    ).epoch_status == []


def test_a_payload_the_network_thread_clipped_is_rejected_with_the_size_it_had():
    big = padded(rating(), 1 << 20)
    b = classify([Message("hailong/v1/ubnd-a/quay-01/rating", clip(big), 1, 1, False, T0, size=len(big))])
    assert [(r.reason, r.size, len(r.payload)) for r in b.rejects] == [("too_large", 1 << 20, 4096)]


def test_receive_times_are_utc_whatever_the_collectors_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    try:
        b = classify([Message("hailong/v1/ubnd-a/quay-01/rating", rating(), 1, 1, False, T0)])
    finally:
        monkeypatch.undo()
        time.tzset()
    assert b.rows[0].received_at == "2026-11-18T11:06:40.000Z"


def test_a_retained_replay_after_a_live_status_in_the_same_batch_does_not_replace_it():
    b = classify([Message(TOPIC, status_v2(state="online"), 1, 1, False, T0),
                  Message(TOPIC, status_v2(state="offline"), 2, 1, True, T0 + 1)])
    assert [(d.state, d.live) for d in b.devices] == [("online", 1)]
