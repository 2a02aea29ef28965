"""Storage of v2 messages on SQLite and PostgreSQL: events once, outbox counters that a redelivery does
not move, the highest seq_last kept, the smallest boot offset kept, v2 status fields on the device."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from broker.contract import Event, RatingV2, StatusV2, encode
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.storage.placement import Anchors
from collector.ingest.store import Store

EPOCH = "44444444-4444-4444-8444-444444444444"
T0 = 1_795_000_000.0
AT = datetime.fromtimestamp(T0, timezone.utc)


@pytest.fixture
def store(db_url):
    db = connect(db_url)
    yield Store(db)
    db.close()


def rating(seq: int, rid: str | None = None) -> tuple[str, bytes]:
    return "hailong/v1/s/d/rating", encode(RatingV2(
        id=rid or str(uuid.uuid4()), site="s", device="d", ts=AT - timedelta(days=3), rating=5, scale=5, lang="vi",
        epoch=EPOCH, seq=seq, boot="b1", mono_ms=60_000, clock="unsynced"))


def event(seq: int, eid: str) -> tuple[str, bytes]:
    return "hailong/v1/s/d/event", encode(Event(
        id=eid, site="s", device="d", ts=AT, type="sign_in", epoch=EPOCH, seq=seq, boot="b1", mono_ms=60_000,
        clock="unsynced", officer="Lan"))


def status(seq_last: int, mono_ms: int) -> tuple[str, bytes]:
    return "hailong/v1/s/d/status", encode(StatusV2(
        site="s", device="d", state="online", ts=AT, app_version="2", outbox_depth=1, boot="b1", mono_ms=mono_ms,
        clock="unsynced", epoch=EPOCH, seq_last=seq_last, officer="Lan", fault="disk full"))


def batch(*items, at=T0, anchors=None):
    return classify([Message(t, p, i + 1, 1, False, at) for i, (t, p) in enumerate(items)], anchors=anchors)


def epoch_row(db):
    return db.query("SELECT received, max_seq, seq_last FROM epochs WHERE epoch = ?", (EPOCH,))[0]


def test_counters_move_only_for_new_messages_and_keep_the_highest_seq_last(store):
    r2, eid = rating(2), str(uuid.uuid4())
    res = store.write(batch(status(5, 120_000), rating(1), r2, event(3, eid), rating(4)))
    assert (res.inserted, res.duplicates) == (4, 0)
    assert epoch_row(store.db) == (4, 4, 5)
    res = store.write(batch(r2, event(3, eid), status(3, 100_000)))  # a redelivery and an older, slower word
    assert (res.inserted, res.duplicates) == (0, 2)
    assert epoch_row(store.db) == (4, 4, 5)
    assert store.db.query("SELECT type, officer, seq FROM events") == [("sign_in", "Lan", 3)]
    assert store.db.query("SELECT officer, fault, seq_last, boot FROM devices") == [("Lan", "disk full", 3, "b1")]
    # The first status put the boot at T0 - 120 s; the second says T0 - 100 s (more delay): the first is kept.
    assert store.db.query("SELECT offset_ms FROM boots") == [(int(T0 * 1000) - 120_000,)]
    placed = store.db.query("SELECT DISTINCT at_ms, time_unverified FROM ratings")
    assert placed == [(int(T0 * 1000) - 60_000, 0)]


def test_a_boot_anchored_by_another_collector_places_this_ones_ratings(store):
    store.write(batch(status(0, 120_000)))  # seen live by "another" collector: only the database knows
    anchors = Anchors()
    store.anchors = anchors
    b = batch(rating(1), at=T0 + 60, anchors=Anchors())
    assert b.rows[0].time_unverified == 1
    store.write(b)
    assert store.db.query("SELECT at_ms, time_unverified FROM ratings") == [(int(T0 * 1000) - 60_000, 0)]
    assert anchors.get(("s", "d", "b1")) == int(T0 * 1000) - 120_000


def test_a_restarted_collector_reloads_the_boots_seen_recently(store):
    import time as _time
    now = _time.time()
    store.write(classify([Message(*status(0, 120_000), 1, 1, False, now)]))
    assert store.load_anchors() == [(("s", "d", "b1"), int(now * 1000) - 120_000)]
    store.db.execute("UPDATE boots SET seen_at = '2020-01-01T00:00:00.000Z'")  # a boot of long ago
    assert store.load_anchors() == []


def test_ratings_that_came_before_their_boots_first_live_status_are_placed_when_it_comes(store):
    # A kiosk connected before the collector subscribed: its status was only seen retained, so its
    # first ratings (kiosk clock 3 days behind, unsynced) wait flagged where the kiosk put them.
    anchors = Anchors()
    eid = str(uuid.uuid4())
    early = batch(rating(1), rating(2), event(3, eid), at=T0 + 5, anchors=anchors)
    store.write(early)
    rows = store.db.query("SELECT time_unverified, at_ms = ts_ms FROM ratings")
    assert rows == [(1, 1), (1, 1)]
    hours = lambda: store.db.query("SELECT hour, flagged, SUM(n) FROM rollup_hour GROUP BY hour, flagged "  # noqa: E731
                                   "HAVING SUM(n) != 0 ORDER BY hour")
    three_days_early = int((T0 - 3 * 86400) // 3600)
    assert hours() == [(three_days_early, 2, 2)]  # FLAG_TIME: counted apart, at the kiosk's hour
    # 60 s later the boot's live status (mono 120 s): the boot's clock started at T0 + 65 - 120
    store.write(batch(status(3, 120_000), at=T0 + 65, anchors=anchors))
    placed = store.db.query("SELECT time_unverified, at_ms FROM ratings")
    want = int((T0 + 65 - 120 + 60) * 1000)  # offset + mono_ms of the tap (60 s)
    assert placed == [(0, want), (0, want)]
    assert store.db.query("SELECT time_unverified, at_ms FROM events") == [(0, want)]
    assert hours() == [(want // 3_600_000, 0, 2)]  # moved to the true hour, no longer apart
    # the move is counted as a clock correction of that boot (the two ratings 3 days off; the event's
    # own clock was only seconds off)
    assert store.db.query("SELECT n FROM clock_corrections WHERE boot = 'b1'") == [(2,)]
    # a later status of the same boot moves nothing again
    store.write(batch(status(3, 180_000), at=T0 + 125, anchors=anchors))
    assert hours() == [(want // 3_600_000, 0, 2)]


def test_a_rating_made_in_the_speaking_mode_is_stored_with_its_flag_and_counted(store):
    from collector.reports.speaking import speaking_count

    plain = rating(1)
    spoken = "hailong/v1/s/d/rating", encode(RatingV2(
        id=str(uuid.uuid4()), site="s", device="d", ts=AT, rating=2, scale=5, lang="vi", epoch=EPOCH, seq=2,
        boot="b1", mono_ms=60_000, clock="synced", mode="speaking"))
    res = store.write(batch(plain, spoken))
    assert res.inserted == 2
    assert sorted(store.db.query("SELECT rating, mode FROM ratings"), key=lambda r: r[0]) == [(2, "speaking"), (5, None)]
    start, end = int((T0 - 10 * 86400) * 1000), int((T0 + 86400) * 1000)
    assert speaking_count(store.db, start, end) == 1
    assert speaking_count(store.db, start, end, {"s"}) == 1 and speaking_count(store.db, start, end, {"x"}) == 0
    assert speaking_count(store.db, start, int(T0 * 1000) - 1) == 0  # placed in its own hour, not before
