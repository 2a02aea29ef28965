"""Completeness, pure: missing ranges from what arrived, counters per outbox epoch, replaced outboxes,
the audit's verdict, and what ingest does with v2 events and retained messages."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st

from broker.contract import Event, RatingV2, encode
from collector.completeness import audit
from collector.completeness.completeness import (
    EpochState, Range, active_in, epoch_increments, missing_ranges, ranges_from_runs, ranges_text, replacements,
    summarize,
)
from collector.ingest.ingest import Message, classify

E1, E2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def runs(seqs: list[int]):
    """What the window query returns: the first seq, the jumps, the last seq."""
    got = sorted(seqs)
    gaps = [(a, b, "t") for a, b in zip(got, got[1:]) if b > a + 1]
    return got[0], gaps, got[-1]


def test_deleted_seqs_are_named_exactly_head_middle_and_tail():
    first, gaps, last = runs([2, 4, 5, 9])
    ranges = ranges_from_runs(first, "t0", gaps, last, 11, "t1")
    assert [(r.first, r.last) for r in ranges] == [(1, 1), (3, 3), (6, 8), (10, 11)]
    assert ranges_text(ranges) == "1, 3, 6-8, 10-11" and sum(r.count for r in ranges) == 7
    assert ranges_from_runs(None, None, [], None, 3, "t") == [Range(1, 3, "t")]
    assert ranges_from_runs(None, None, [], None, 0, None) == []


@given(st.sets(st.integers(1, 200), min_size=1), st.integers(0, 250))
def test_ranges_from_the_window_query_match_the_plain_definition(received, seq_last):
    highest = max(max(received), seq_last)
    first, gaps, last = runs(list(received))
    got = [(r.first, r.last) for r in ranges_from_runs(first, None, gaps, last, highest, None)]
    assert got == missing_ranges(received, highest)
    assert sum(b - a + 1 for a, b in got) == highest - len(received)


def test_a_gap_that_fills_closes_by_itself():
    assert missing_ranges([1, 2, 4], 5) == [(3, 3), (5, 5)]
    assert missing_ranges([1, 2, 4, 3, 5], 5) == []


def row(epoch, seq, at, received_at="2026-10-01T00:00:00.000Z", site="s", device="d"):
    return SimpleNamespace(site=site, device=device, epoch=epoch, seq=seq, at_ms=at, received_at=received_at)


def test_epoch_increments_sum_per_outbox_and_skip_v1():
    inc = epoch_increments([row(E1, 3, 300), row(E1, 1, 100, "2026-10-02T00:00:00.000Z"), row(None, None, 5),
                            row(E2, 7, 50)])
    assert [(i.epoch, i.received, i.max_seq, i.first_ms, i.last_ms, i.first_seen, i.last_seen) for i in inc] == [
        (E1, 2, 3, 100, 300, "2026-10-01T00:00:00.000Z", "2026-10-02T00:00:00.000Z"),
        (E2, 1, 7, 50, 50, "2026-10-01T00:00:00.000Z", "2026-10-01T00:00:00.000Z")]


def state(epoch, received, max_seq, seq_last=0, first_ms=0, last_ms=0, device="d", seen="2026-10-01T00:00:00.000Z"):
    return EpochState("s", device, epoch, received, max_seq, seq_last, first_ms, last_ms, seen, seen)


def test_created_is_the_highest_seq_known_from_messages_or_status():
    e = state(E1, 7, 8, seq_last=10)
    assert (e.created, e.missing) == (10, 3)
    s = summarize([e, state(E2, 5, 5)], replaced=1, unverified=2)
    assert (s.created, s.received, s.missing, s.rate, s.replaced, s.unverified) == (15, 12, 3, 0.8, 1, 2)
    assert "12/15 outbox messages received (80.00 %)" in s.line("en")


def test_a_new_outbox_after_the_first_is_a_replacement_dated_when_it_began():
    oct5 = int(datetime(2026, 10, 5, 3, tzinfo=timezone.utc).timestamp() * 1000)
    oct9, sep1 = "2026-10-09T00:00:00.000Z", "2026-09-01T00:00:00.000Z"
    # The new outbox's first rating was tapped on 5 Oct; the kiosk came back online on 9 Oct.
    [r] = replacements([state(E2, 2, 2, first_ms=oct5, seen=oct9), state(E1, 9, 9, first_ms=oct5 - 10**9, seen=sep1)])
    assert (r.old_epoch, r.new_epoch, r.at_ms) == (E1, E2, oct5)
    # Its first rating dated 1970 (a clock reset, unverified) cannot date it: the day it was heard of can.
    [r] = replacements([state(E2, 2, 2, first_ms=0, seen=oct9), state(E1, 9, 9, first_ms=oct5 - 10**9, seen=sep1)])
    assert r.at_ms == int(datetime(2026, 10, 9, tzinfo=timezone.utc).timestamp() * 1000)
    from collector.completeness.completeness import replaced_text
    assert replaced_text(r, ZoneInfo("Asia/Ho_Chi_Minh")) == "outbox replaced on 2026-10-09"
    assert replaced_text(r, ZoneInfo("Asia/Ho_Chi_Minh"), "vi") == ("đã thay hộp thư đi ngày 2026-10-09 / "
                                                                  "outbox replaced on 2026-10-09")


def test_an_epoch_is_in_a_period_when_its_messages_or_statuses_fall_in_it():
    e = state(E1, 1, 1, first_ms=100, last_ms=200)
    e.first_seen = e.last_seen = "1970-01-01T00:00:00.150Z"
    assert active_in(e, 150, 160) and active_in(e, 0, 101) and not active_in(e, 201, 300)


def test_the_audit_fails_when_anything_is_missing_and_lists_it_per_device():
    missing = state(E1, 7, 10)
    missing.ranges = [Range(3, 3), Range(6, 7)]
    audits = audit.build([missing, state(E2, 4, 4, device="e")], [], {("s", "e"): 2},
                         [{"site": "s", "device": "d", "boot": "b", "n": 4, "min_delta_ms": 259_200_000,
                           "max_delta_ms": 259_200_000, "first_ms": 0, "last_ms": 1}], {("s", "v1only"): 5})
    assert [(a.device, a.created, a.received, a.missing, a.unverified) for a in audits] == [
        ("d", 10, 7, 3, 0), ("e", 4, 4, 0, 2), ("v1only", 0, 0, 0, 0)]
    assert audit.exit_code(audits) == 1 and audit.exit_code(audits[1:]) == 0
    table = audit.rows(audits, timezone.utc)
    assert table[0][7] == "3, 6-7" and table[0][10] == "4 moved +72.0 h (boot b)"
    assert table[2][4:6] == ["v1", "v1"]  # a v1 kiosk has nothing to count against
    assert all(isinstance(v, (str, int, float)) for r in table for v in r)


T0 = 1_795_000_000.0


def test_events_are_stored_deduplicated_and_retained_ratings_or_events_are_rejected():
    ev = encode(Event(id=str(uuid.uuid4()), site="s", device="d", ts=datetime.now(timezone.utc), type="request_expired",
                      epoch=E1, seq=4, boot="b", mono_ms=9, clock="synced", officer="Lan", service="ho-tich",
                      request=str(uuid.uuid4()), dossier="H12.3-2026", ticket="A012", config_hash="abc",
                      detail="no answer in 600 s"))
    rating = encode(RatingV2(id=str(uuid.uuid4()), site="s", device="d", ts=datetime.now(timezone.utc), rating=5,
                             scale=5, lang="vi", epoch=E1, seq=5, boot="b", mono_ms=10, clock="synced",
                             dossier="H12.3-2026", ticket="A012"))
    b = classify([Message("hailong/v1/s/d/event", ev, 1, 1, False, T0), Message("hailong/v1/s/d/event", ev, 2, 1, False, T0),
                  Message("hailong/v1/s/d/rating", rating, 3, 1, True, T0),
                  Message("hailong/v1/s/d/event", ev, 4, 1, True, T0)])
    [e] = b.events
    assert (e.type, e.seq, e.officer, e.dossier, e.ticket, e.detail, e.config_hash) == (
        "request_expired", 4, "Lan", "H12.3-2026", "A012", "no answer in 600 s", "abc")
    assert b.duplicates == 1 and b.rows == [] and [r.reason for r in b.rejects] == ["retained", "retained"]
    assert len(b.acks) == 4
