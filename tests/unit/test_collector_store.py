"""Storage, the same tests on SQLite and PostgreSQL: a rating id is stored once, rollups count only
new rows, a device keeps its newest status, rejects are kept; a failed batch writes nothing."""
from __future__ import annotations

import json
import uuid

import pytest

from broker.contract import Rating, encode, utcnow
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store

T = "hailong/v1/ubnd-a/quay-01/rating"
S = "hailong/v1/ubnd-a/quay-01/status"


def rating(rid: str | None = None, **kw) -> bytes:
    return encode(Rating(id=rid or str(uuid.uuid4()), site="ubnd-a", device="quay-01", ts=utcnow(), rating=4,
                         scale=5, lang="vi", **kw))


def batch(*items):
    return classify([Message(t, p, i + 1, 1, False, 1_795_000_000.0 + i) for i, (t, p) in enumerate(items)])


@pytest.fixture
def store(db_url):
    db = connect(db_url)
    yield Store(db)
    db.close()


def totals(db):
    return (db.scalar("SELECT COUNT(*) FROM ratings"), db.scalar("SELECT COALESCE(SUM(n), 0) FROM rollup_hour"),
            db.scalar("SELECT COUNT(*) FROM rejects"))


def test_a_rating_is_stored_once_whatever_the_batches(store):
    a, b = rating(), rating()
    r1 = store.write(batch((T, a), (T, a), (T, b)))
    assert (r1.inserted, r1.duplicates) == (2, 0)
    r2 = store.write(batch((T, a), (T, rating()), (T, b)))  # a redelivery after a crash, plus one new rating
    assert (r2.inserted, r2.duplicates) == (1, 2)
    assert totals(store.db) == (3, 3, 0)


def test_rollups_count_only_rows_actually_inserted(store):
    ids = [str(uuid.uuid4()) for _ in range(1500)]  # more than one SELECT ... IN chunk on SQLite
    store.write(batch(*[(T, rating(i, officer="Lan")) for i in ids[:700]]))
    store.write(batch(*[(T, rating(i, officer="Lan")) for i in ids]))
    assert totals(store.db) == (1500, 1500, 0)
    assert store.db.scalar("SELECT SUM(n) FROM rollup_hour WHERE officer = 'Lan' AND rating = 4") == 1500


def test_devices_follow_the_collectors_receive_order_not_the_kiosk_clock(store):
    def status(ts, state, depth):
        return json.dumps({"v": 1, "site": "ubnd-a", "device": "quay-01", "state": state, "ts": ts,
                           "app_version": "1.0", "outbox_depth": depth}).encode()

    def at(received, payload, retain=False):
        return classify([Message(S, payload, 1, 1, retain, received)])
    store.write(at(1_795_000_010.0, status("2026-11-23T08:00:00Z", "online", 5)))
    # Received later although the kiosk's clock jumped back an hour: it is the newer word (a last will).
    store.write(at(1_795_000_020.0, status("2026-11-23T07:00:00Z", "offline", 9)))
    assert store.db.query("SELECT state, outbox_depth FROM devices") == [("offline", 9)]
    # Received earlier than what is stored (another collector was slower to commit it): ignored.
    store.write(at(1_795_000_015.0, status("2026-11-23T09:00:00Z", "online", 1)))
    assert store.db.query("SELECT state, outbox_depth FROM devices") == [("offline", 9)]
    # A retained replay (on every re-subscribe) never overrides a row made from a live status, even dated 2199.
    store.write(at(1_795_000_030.0, status("2199-01-01T00:00:00Z", "online", 3), retain=True))
    assert store.db.query("SELECT state, outbox_depth, live FROM devices") == [("offline", 9, 1)]
    store.write(at(1_795_000_040.0, status("2026-11-23T07:05:00Z", "online", 0)))
    assert store.db.query("SELECT state, outbox_depth, status_ts FROM devices") == [
        ("online", 0, "2026-11-23T07:05:00.000Z")]


def test_rejects_keep_topic_reason_device_real_size_and_at_most_512_bytes_of_payload(store):
    store.write(batch((T, b"\x00\xff" * 5000), ("hailong/v1/ubnd-b/quay-01/rating", rating())))
    rows = store.db.query("SELECT topic, reason, site, device, size, repeats, payload FROM rejects ORDER BY id")
    assert [(*r[:6], len(bytes(r[6]))) for r in rows] == [
        (T, "too_large", "ubnd-a", "quay-01", 10000, 1, 512),
        ("hailong/v1/ubnd-b/quay-01/rating", "topic_mismatch", "ubnd-b", "quay-01", len(rating()), 1, len(rating()))]


def test_a_failing_batch_writes_nothing(store, monkeypatch):
    import collector.storage.records as records

    def boom(rows, cal):  # fails after the ratings were inserted, before the rollup
        raise RuntimeError("disk full")
    monkeypatch.setattr(records, "fine_counts", boom)
    with pytest.raises(RuntimeError):
        store.write(batch((T, rating()), (T, b"junk")))
    monkeypatch.undo()
    assert totals(store.db) == (0, 0, 0)
    assert store.write(batch((T, rating()))).inserted == 1  # the connection is usable afterwards


def test_text_no_database_can_hold_is_rejected_not_retried_forever(store):
    nul = json.loads(rating())
    nul["officer"] = "Lan\u0000"
    sur = json.loads(rating())
    sur["service"] = "\ud800"
    key = json.loads(rating())
    key["x\u0000"] = 1
    res = store.write(batch(*[(T, json.dumps(o).encode()) for o in (nul, sur, key)]))
    assert (res.inserted, res.rejects) == (0, 3)
    # Neither a lone surrogate nor a NUL (a control character) is a string the contract accepts.
    assert sorted(r[0] for r in store.db.query("SELECT reason FROM rejects")) == [
        "bad_field:officer", "bad_field:service", "unknown_field:x?"]
