"""Rejects stay bounded on SQLite and PostgreSQL: repeats are counted in one row per device, reason and window,
a device adds few rows however many reasons it makes up, all devices together few more, payloads are clipped,
old rows expire; the valid ratings of the same batches are all stored."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from broker.contract import Rating, encode, utcnow
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.ingest.rejects import OVER_LIMIT, RejectPolicy, device_of
from collector.ingest.store import Store

NOW = 1_795_000_000.0


def topic(site: str = "ubnd-a", device: str = "quay-01") -> str:
    return f"hailong/v1/{site}/{device}/rating"


def rating(site: str = "ubnd-a", device: str = "quay-01") -> bytes:
    return encode(Rating(id=str(uuid.uuid4()), site=site, device=device, ts=utcnow(), rating=4, scale=5, lang="vi"))


def garbage(key: str = "x") -> bytes:
    """A contract-breaking rating of about 3.9 KB (the attack used 7.9 KB: too_large, clipped the same way)."""
    obj = json.loads(rating())
    obj[key] = "A" * 3800
    return json.dumps(obj).encode()


def batch(items, at: float = NOW):
    return classify([Message(t, p, i + 1, 1, False, at + i / 1000) for i, (t, p) in enumerate(items)])


def rows(db) -> list[tuple]:
    return db.query("SELECT site, device, reason, repeats, LENGTH(payload) FROM rejects ORDER BY site, device, reason")


@pytest.fixture
def db(db_url):
    d = connect(db_url)
    yield d
    d.close()


def test_a_flood_of_one_reject_is_one_row_counting_it_and_the_ratings_beside_it_are_stored(db):
    store = Store(db)
    for k in range(6):  # 3,000 rejects in batches, with valid ratings of the same and another device
        items = [(topic(), garbage()) for _ in range(500)] + [(topic(), rating()), (topic("ubnd-b"), rating("ubnd-b"))]
        result = store.write(batch(items, NOW + k))
        assert (result.inserted, result.rejects) == (2, 500)
    assert rows(db) == [("ubnd-a", "quay-01", "unknown_field:x", 3000, 512)]
    assert db.scalar("SELECT COUNT(*) FROM ratings") == 12
    assert db.scalar("SELECT COUNT(*) FROM ratings WHERE site = 'ubnd-b'") == 6


def test_made_up_reasons_add_at_most_per_device_rows_and_are_counted(db):
    store = Store(db, rejects=RejectPolicy(per_device=5))
    store.write(batch([(topic(), garbage(f"k{i}")) for i in range(40)]))
    store.write(batch([(topic(), garbage(f"k{i}")) for i in range(40, 80)], NOW + 1))
    got = rows(db)
    assert len(got) == 6 and sum(r[3] for r in got) == 80
    assert [r[2:4] for r in got if r[2] == OVER_LIMIT] == [(OVER_LIMIT, 75)]
    assert [r[4] for r in got if r[2] == OVER_LIMIT] == [0]  # an over_limit row keeps no payload
    store.write(batch([(topic("ubnd-b"), garbage("k1"))], NOW + 2))  # another device has its own rows
    assert ("ubnd-b", "quay-01", "unknown_field:k1", 1, 512) in rows(db)


def test_made_up_devices_add_at_most_per_window_rows_in_all(db):
    store = Store(db, rejects=RejectPolicy(per_window=20))
    store.write(batch([(topic(device=f"d-{i}"), b"not json") for i in range(100)]))
    store.write(batch([(topic(device=f"e-{i}"), b"not json") for i in range(100)], NOW + 1))
    got = rows(db)
    assert len(got) <= 21 and sum(r[3] for r in got) == 200
    assert [r[:4] for r in got if r[2] == OVER_LIMIT] == [("", "", OVER_LIMIT, 180)]


def test_repeats_are_counted_per_window(db):
    store = Store(db, rejects=RejectPolicy(window_s=60))
    store.write(batch([(topic(), b"[]")] * 3))
    store.write(batch([(topic(), b"[]")] * 2, NOW + 61))  # the next minute's window
    assert [r[3] for r in rows(db)] == [3, 2]


def test_rejects_older_than_the_retention_are_deleted(db):
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 40 * 86400))
    recent = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 20 * 86400))
    for at in (old, old, recent):
        db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, 't', 'bad_json', ?)",
                   (at, b"x"))
    Store(db, rejects=RejectPolicy(retention_days=30)).write(batch([(topic(), rating())], time.time()))
    assert [r[0] for r in db.query("SELECT received_at FROM rejects")] == [recent]


def test_the_device_is_read_from_the_topic():
    assert device_of("hailong/v1/ubnd-a/quay-01/rating") == ("ubnd-a", "quay-01")
    assert device_of("tinh/v1/ubnd-a/quay-01/event") == ("ubnd-a", "quay-01")
    assert device_of("hailong/v1/BAD/quay-01/rating") == ("", "")
    assert device_of("x") == ("", "")
