"""Completeness figures as reports show them: the totals over many outboxes, which outbox counts in which
period, when each missing range was known, the order outboxes replaced each other. Expected values are
worked out by hand from the epochs below."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from collector.completeness.completeness import (
    EpochIncrement, EpochRow, EpochState, Range, Replacement, Summary, active_in, epoch_increments, epoch_rows,
    ranges_from_runs, ranges_text, replaced_text, replacements, started_ms, summarize,
)

E1, E2, E3 = ("11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222",
              "00000000-0000-0000-0000-000000000003")


def epoch(name: str, received: int, max_seq: int, seq_last: int = 0, *, first_ms=None, last_ms=None,
          first_seen=None, last_seen=None, seq_last_at=None, ranges=()) -> EpochState:
    return EpochState("tan-lap", "quay-1", name, received, max_seq, seq_last, first_ms, last_ms, first_seen,
                      last_seen, seq_last_at, list(ranges))


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_a_summary_adds_every_outbox_and_never_counts_more_received_than_created():
    a = epoch(E1, 5, 8, 10, ranges=[Range(3, 5), Range(9, 10)])  # created 10, 5 missing in 2 ranges
    b = epoch(E2, 4, 3)  # 4 received of 3 known: counted as 3 received, none missing
    c = epoch(E3, 1, 4, 2, ranges=[Range(1, 3)])  # created 4, 3 missing in 1 range
    s = summarize([a, b, c], replaced=2, unverified=5, corrections=1)
    assert (s.epochs, s.created, s.received, s.missing, s.ranges) == (3, 17, 9, 8, 3)
    assert (s.replaced, s.unverified, s.corrections) == (2, 5, 1)
    assert s.to_dict() == {"created": 17, "received": 9, "missing": 8, "missing_ranges": 3, "rate": 0.5294,
                           "epochs": 3, "outboxes_replaced": 2, "time_unverified": 5, "clock_corrections": 1}


def test_a_summary_of_one_device_reports_no_replacements_unverified_times_or_corrections_it_was_not_given():
    s = summarize([epoch(E1, 2, 2)])
    assert (s.replaced, s.unverified, s.corrections) == (0, 0, 0)
    assert s.to_dict()["rate"] == 1.0


def test_a_summary_with_nothing_created_has_no_rate_and_says_so_in_vietnamese_by_default():
    s = summarize([])
    assert s.rate is None and s.to_dict()["rate"] is None
    assert s.line().startswith("Độ đầy đủ: đã nhận 0/0 bản tin (–)")
    assert s.line("en").startswith("Completeness: 0/0 outbox messages received (–)")
    assert Summary(created=4, received=3).line("en").startswith("Completeness: 3/4 outbox messages received (75.00 %)")


def test_every_missing_range_says_since_when_it_was_known():
    # 1 and 2 never arrived (known when 3 arrived), 5-6 (known when 7 arrived), 9-10 (known from a status)
    got = ranges_from_runs(3, "t-first", [(4, 7, "t-gap")], 8, 10, "t-status")
    assert got == [Range(1, 2, "t-first"), Range(5, 6, "t-gap"), Range(9, 10, "t-status")]
    # Received seqs next to each other leave no range between them.
    assert ranges_from_runs(1, "t", [(1, 2, "t"), (2, 3, "t")], 3, 3, "t") == []


def test_one_message_created_and_none_received_is_one_missing_range():
    assert ranges_from_runs(None, None, [], None, 1, "t-status") == [Range(1, 1, "t-status")]


def test_the_ranges_text_shows_twenty_ranges_and_counts_the_rest():
    twenty = [Range(2 * i, 2 * i) for i in range(1, 21)]
    assert ranges_text(twenty) == ", ".join(str(2 * i) for i in range(1, 21))
    assert ranges_text(twenty + [Range(100, 101), Range(200, 200)]) == ranges_text(twenty) + " (+2 more)"


DAY_START, DAY_END = ms("2026-10-06T00:00:00"), ms("2026-10-07T00:00:00")


def test_an_outbox_known_only_from_statuses_counts_in_the_days_they_came():
    # No message of it arrived: it was heard of on 5 Oct, its last status on 7 Oct.
    e = epoch(E1, 0, 0, 4, first_seen="2026-10-05T08:00:00.000Z", last_seen="2026-10-05T08:00:00.000Z",
              seq_last_at="2026-10-07T08:00:00.000Z")
    assert active_in(e, DAY_START, DAY_END)
    assert not active_in(e, ms("2026-10-08T00:00:00"), ms("2026-10-09T00:00:00"))
    # Heard of on 5 Oct, last seen on 6 Oct (no status with a count).
    e = epoch(E1, 0, 0, first_seen="2026-10-05T08:00:00.000Z", last_seen="2026-10-06T12:00:00.000Z")
    assert active_in(e, DAY_START, DAY_END)


def test_an_outbox_counts_in_a_period_from_its_first_placed_message_and_a_day_is_half_open():
    assert active_in(epoch(E1, 1, 1, first_ms=DAY_START + 5), DAY_START, DAY_END)  # no later time known
    assert active_in(epoch(E1, 1, 1, first_ms=DAY_START - 10, last_ms=DAY_START), DAY_START, DAY_END)
    assert not active_in(epoch(E1, 1, 1, first_ms=DAY_END, last_ms=DAY_END + 10), DAY_START, DAY_END)
    assert not active_in(epoch(E1, 0, 0), DAY_START, DAY_END)  # nothing known of when it existed


def test_an_outbox_begins_when_first_heard_of_if_its_first_message_is_missing_or_dated_later():
    seen = "2026-10-05T08:00:00.000Z"
    assert started_ms(epoch(E1, 0, 0, 3, first_seen=seen)) == ms("2026-10-05T08:00:00")
    assert started_ms(epoch(E1, 1, 1, first_ms=ms("2026-10-05T09:00:00"), first_seen=seen)) == ms("2026-10-05T08:00:00")
    assert started_ms(epoch(E1, 1, 1, first_ms=ms("2026-10-05T07:00:00"), first_seen=seen)) == ms("2026-10-05T07:00:00")


def test_outboxes_replace_each_other_in_the_order_the_collector_heard_of_them():
    # E2 was heard of first, then E1, then E3 (whose id sorts first); one never heard of sorts last.
    e2 = epoch(E2, 1, 1, first_ms=ms("2026-10-01T08:00:00"), first_seen="2026-10-01T08:00:00.000Z")
    e1 = epoch(E1, 1, 1, first_ms=ms("2026-10-03T08:00:00"), first_seen="2026-10-03T08:00:00.000Z")
    e3 = epoch(E3, 1, 1, first_ms=ms("2026-10-05T08:00:00"), first_seen="2026-10-05T08:00:00.000Z")
    unheard = epoch("00000000-0000-0000-0000-000000000000", 0, 0)
    got = replacements([e3, unheard, e1, e2])
    assert got == [Replacement("tan-lap", "quay-1", E2, E1, ms("2026-10-03T08:00:00")),
                   Replacement("tan-lap", "quay-1", E1, E3, ms("2026-10-05T08:00:00")),
                   Replacement("tan-lap", "quay-1", E3, unheard.epoch, None)]


def test_a_replacement_is_dated_in_the_sites_zone_and_an_unknown_date_is_a_question_mark():
    r = Replacement("tan-lap", "quay-1", E1, E2, ms("2026-10-08T20:00:00"))  # 9 Oct 03:00 in Vietnam
    assert replaced_text(r, ZoneInfo("Asia/Ho_Chi_Minh")) == "outbox replaced on 2026-10-09"
    assert replaced_text(r._replace(at_ms=None), ZoneInfo("Asia/Ho_Chi_Minh")) == "outbox replaced on ?"
    assert replaced_text(r._replace(at_ms=None), ZoneInfo("Asia/Ho_Chi_Minh"), "vi") == (
        "đã thay hộp thư đi ngày ? / outbox replaced on ?")


def stored(epoch_id, seq, at_ms, day, device="quay-1"):
    return SimpleNamespace(site="tan-lap", device=device, epoch=epoch_id, seq=seq, at_ms=at_ms,
                           received_at=f"2026-10-{day:02d}T00:00:00.000Z")


def test_a_batchs_counts_per_outbox_take_the_highest_seq_and_the_earliest_and_latest_times_in_any_order():
    rows = [stored(E1, 2, 200, 2), stored(E1, 5, 500, 5), stored(E1, 1, 100, 1), stored(E1, 3, 300, 3),
            stored(E1, 4, 400, 4, device="quay-0")]
    assert epoch_increments(rows) == [
        EpochIncrement("tan-lap", "quay-0", E1, 1, 4, 400, 400, "2026-10-04T00:00:00.000Z", "2026-10-04T00:00:00.000Z"),
        EpochIncrement("tan-lap", "quay-1", E1, 4, 5, 100, 500, "2026-10-01T00:00:00.000Z", "2026-10-05T00:00:00.000Z")]


def status(epoch_id, seq_last, day, device="quay-1"):
    return SimpleNamespace(site="tan-lap", device=device, epoch=epoch_id, seq_last=seq_last,
                           seen_at=f"2026-10-{day:02d}T00:00:00.000Z")


def test_an_outboxs_row_keeps_the_highest_count_a_status_gave_and_when_and_widens_when_it_was_heard_of():
    inc = EpochIncrement("tan-lap", "quay-1", E1, 3, 5, 100, 300, "2026-10-03T00:00:00.000Z",
                         "2026-10-04T00:00:00.000Z")
    # An outbox heard of only by its status first, then E1's statuses: the highest count, first said on 2 Oct
    got = epoch_rows([inc], [status(E2, 4, 5), status(E1, 8, 2), status(E1, 6, 9), status(E1, 8, 7), status(E1, 7, 6)])
    day = "2026-10-{:02d}T00:00:00.000Z".format
    assert got == [EpochRow("tan-lap", "quay-1", E1, 3, 5, 8, day(2), 100, 300, day(2), day(9)),
                   EpochRow("tan-lap", "quay-1", E2, 0, 0, 4, day(5), None, None, day(5), day(5))]
    # Without a status the row has no count from one and is known from its messages alone.
    assert epoch_rows([inc], []) == [EpochRow("tan-lap", "quay-1", E1, 3, 5, 0, None, 100, 300, day(3), day(4))]
