"""Placing ratings on real time: a live status of the boot wins over any kiosk clock, a time in the
future is never believed, and what cannot be verified is flagged, never silently moved."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from broker.contract import Rating, RatingV2, StatusV2, encode
from collector.ingest.ingest import Message, classify
from collector.storage.placement import (
    CORRECTION_MIN_MS, FUTURE_TOLERANCE_MS, PAST_LIMIT_MS, Anchors, correction_increments, place, status_offset,
)

NOW = 1_795_000_000_000  # ms
DAY = 86_400_000


def test_an_anchored_boot_places_by_its_monotonic_clock_whatever_the_kiosk_ts():
    offset = NOW - 50_000_000  # the boot began ~14 h ago
    p = place(NOW - 3 * DAY, NOW, mono_ms=50_000_000 - 7_200_000, clock="unsynced", offset_ms=offset)
    assert p == (NOW - 7_200_000, False)


def test_without_an_anchor_a_synced_clock_is_trusted_and_an_unsynced_one_is_flagged_but_not_moved():
    assert place(NOW - DAY, NOW, mono_ms=5, clock="synced") == (NOW - DAY, False)
    assert place(NOW - 3 * DAY, NOW, mono_ms=5, clock="unsynced") == (NOW - 3 * DAY, True)
    assert place(NOW - 3 * DAY, NOW) == (NOW - 3 * DAY, False)  # v1 keeps its ts, as always


def test_a_time_later_than_the_receipt_plus_tolerance_is_placed_at_the_receipt_and_flagged():
    year_2199 = int(datetime(2199, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    assert place(year_2199, NOW) == (NOW, True)
    assert place(year_2199, NOW, mono_ms=1, clock="synced") == (NOW, True)
    assert place(NOW + FUTURE_TOLERANCE_MS, NOW) == (NOW + FUTURE_TOLERANCE_MS, False)  # a fast clock is fine
    assert place(NOW + FUTURE_TOLERANCE_MS + 1, NOW) == (NOW, True)


def test_an_unanchored_time_more_than_a_quarter_before_the_receipt_is_placed_at_the_receipt_and_flagged():
    year_1970 = 0
    assert place(year_1970, NOW) == (NOW, True)  # v1
    assert place(year_1970, NOW, mono_ms=5, clock="unsynced") == (NOW, True)  # a Pi back in 1970, no anchor yet
    assert place(NOW - PAST_LIMIT_MS - 1, NOW, mono_ms=5, clock="synced") == (NOW, True)  # back-dated
    assert place(NOW - PAST_LIMIT_MS, NOW) == (NOW - PAST_LIMIT_MS, False)  # a quarter offline: believed
    # an anchored boot is placed by its monotonic clock however old the kiosk's ts says it is
    assert place(year_1970, NOW, mono_ms=1000, clock="unsynced", offset_ms=NOW - 5000) == (NOW - 4000, False)


def test_a_v1_rating_stamped_in_1970_is_counted_apart_at_its_arrival():
    old = Rating(id=str(uuid.uuid4()), site="s", device="d", ts=datetime(1970, 1, 2, tzinfo=timezone.utc), rating=1,
                 scale=5, lang="vi")
    (row,) = classify([Message("hailong/v1/s/d/rating", encode(old), 1, received=NOW / 1000)]).rows
    assert (row.at_ms, row.time_unverified) == (NOW, 1) and row.ts.startswith("1970-01-02")


def test_the_status_offset_is_bounded_by_receipt_and_by_a_synced_kiosk_time():
    assert status_offset(NOW, NOW - 3 * DAY, 1000, "unsynced") == NOW - 1000
    # A status queued for a collector that was down arrives an hour late, stamped on time by a synced kiosk.
    assert status_offset(NOW, NOW - 3_600_000, 1000, "synced") == NOW - 3_600_000 - 1000


def test_anchors_keep_the_smallest_offset_since_delay_only_adds():
    a = Anchors()
    assert a.observe(("s", "d", "b"), 1000) and not a.observe(("s", "d", "b"), 1500)
    assert a.observe(("s", "d", "b"), 900) and a.get(("s", "d", "b")) == 900
    small = Anchors(limit=4)
    for i in range(10):
        small.observe(("s", "d", str(i)), i)
    assert len(small) <= 4 and small.get(("s", "d", "9")) == 9


@given(ts=st.integers(0, 2**42), recv=st.integers(0, 2**42), mono=st.none() | st.integers(0, 2**40),
       clock=st.sampled_from([None, "synced", "unsynced"]), offset=st.none() | st.integers(-2**41, 2**41))
def test_a_placed_time_is_never_after_the_receipt_plus_tolerance(ts, recv, mono, clock, offset):
    p = place(ts, recv, mono_ms=mono, clock=clock, offset_ms=offset)
    assert p.at_ms <= recv + FUTURE_TOLERANCE_MS
    if p.at_ms not in (ts, recv):
        assert offset is not None and mono is not None and not p.unverified


def _v2(boot: str, ts: datetime, mono_ms: int, seq: int = 1, clock: str = "unsynced") -> bytes:
    return encode(RatingV2(id=str(uuid.uuid4()), site="s", device="d", ts=ts, rating=5, scale=5, lang="vi",
                           epoch="11111111-1111-1111-1111-111111111111", seq=seq, boot=boot, mono_ms=mono_ms,
                           clock=clock))


def _status(boot: str, mono_ms: int, ts: datetime) -> bytes:
    return encode(StatusV2(site="s", device="d", state="online", ts=ts, app_version="2", outbox_depth=0, boot=boot,
                           mono_ms=mono_ms, clock="unsynced", epoch="11111111-1111-1111-1111-111111111111",
                           seq_last=2))


def test_a_status_later_in_the_batch_still_anchors_the_ratings_before_it_and_a_retained_one_does_not():
    recv = NOW / 1000
    wrong = datetime.fromtimestamp(recv, timezone.utc) - timedelta(days=3)
    msgs = [Message("hailong/v1/s/d/rating", _v2("b1", wrong, 40_000_000), 1, 1, False, recv),
            Message("hailong/v1/s/d/status", _status("b1", 50_000_000, wrong), 2, 1, False, recv),
            Message("hailong/v1/s/d/rating", _v2("b2", wrong, 40_000_000, 2), 3, 1, False, recv),
            Message("hailong/v1/s/d/status", _status("b2", 50_000_000, wrong), 4, 1, True, recv)]
    anchors = Anchors()
    b = classify(msgs, anchors=anchors)
    anchored, replayed = b.rows
    assert (anchored.at_ms, anchored.time_unverified) == (NOW - 10_000_000, 0)
    assert (replayed.at_ms, replayed.time_unverified) == (anchored.ts_ms, 1)
    assert anchors.get(("s", "d", "b1")) == NOW - 50_000_000 and anchors.get(("s", "d", "b2")) is None
    # A later batch uses what this one learned.
    later = classify([Message("hailong/v1/s/d/rating", _v2("b1", wrong, 45_000_000, 3), 5, 1, False, recv + 9)],
                     anchors=anchors)
    assert later.rows[0].at_ms == NOW - 5_000_000


def test_corrections_count_what_moved_more_than_a_minute_per_boot():
    recv = NOW / 1000
    wrong = datetime.fromtimestamp(recv, timezone.utc) - timedelta(days=3)
    msgs = [Message("hailong/v1/s/d/status", _status("b1", 50_000_000, wrong), 1, 1, False, recv),
            Message("hailong/v1/s/d/rating", _v2("b1", wrong, 50_000_000, 1), 2, 1, False, recv),
            Message("hailong/v1/s/d/rating", _v2("b1", datetime.fromtimestamp(recv, timezone.utc), 50_000_000, 2,
                                                 "synced"), 3, 1, False, recv),
            Message("hailong/v1/s/d/rating", encode(Rating(id=str(uuid.uuid4()), site="s", device="d",
                                                           ts=datetime(2199, 1, 1, tzinfo=timezone.utc), rating=1,
                                                           scale=5, lang="vi")), 4, 1, False, recv)]
    [one, two] = correction_increments(classify(msgs).rows)
    assert (one.boot, one.n) == ("", 1) and one.max_delta_ms < -CORRECTION_MIN_MS  # the 2199 v1 rating
    assert (two.boot, two.n) == ("b1", 1) and abs(two.min_delta_ms - 3 * DAY) < 1000
