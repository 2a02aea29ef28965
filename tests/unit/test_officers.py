"""Per-officer figures from shifts and ratings, checked against numbers worked out by hand."""
from __future__ import annotations

from datetime import datetime, time as dtime
from zoneinfo import ZoneInfo

from collector.reports.officers import Grade, OEvent, ORating, evaluate, shifts

TZ = "Asia/Ho_Chi_Minh"
Z = ZoneInfo(TZ)
SATISFIED = {5: [4, 5]}
GRADES = [Grade("Xuất sắc", 0.95), Grade("Tốt", 0.85), Grade("Khá", 0.70), Grade("Trung bình", 0.5), Grade("Yếu", 0)]


def ms(h: int, m: int = 0, day: int = 26) -> int:
    return int(datetime(2026, 11, day, h, m, tzinfo=Z).timestamp() * 1000)


def hours_for(site, day):
    return [(dtime(7), dtime(11, 30)), (dtime(13), dtime(17))] if day.weekday() < 5 else []


def ev(h, m, device, type_, officer=None, seq=0):
    return OEvent(ms(h, m), "xa-a", device, type_, officer, None, seq)


def rating(h, m, device, officer, value, reason=None, request=None, flagged=False):
    return ORating(ms(h, m), "xa-a", device, officer, "ho-tich", value, 5, reason, request, None, None, flagged)


EVENTS = [
    ev(7, 30, "q1", "sign_in", "an", 1), ev(11, 30, "q1", "sign_out", "an", 2),
    ev(13, 0, "q1", "sign_in", "an", 3),                              # never signed out: 17:00 closes it
    ev(8, 0, "q2", "sign_in", "binh", 1), ev(10, 0, "q2", "auto_sign_out", "binh", 2),
    ev(10, 30, "q2", "sign_in", "binh", 3),                           # ended by the next sign-in at 11:00
    ev(11, 0, "q2", "sign_in", "cuong", 4), ev(12, 0, "q2", "sign_out", "cuong", 5),
    ev(18, 0, "q2", "sign_in", "cuong", 6),                           # after closing: midnight closes it
    ev(14, 0, "q1", "request_expired", None, 4), ev(9, 0, "q2", "request_expired", None, 7),
]


def ratings():
    out = [rating(8, i, "q1", "an", 5) for i in range(8)]
    out += [rating(9, 0, "q1", "an", 2, "waiting", request="r1"), rating(9, 5, "q1", "an", 1, "attitude", request="r2")]
    out += [rating(9, 6, "q1", "an", 1, flagged=True)]               # a mashing hand: not counted
    out += [rating(8, 10 + i, "q2", "binh", 5) for i in range(5)]
    out += [rating(11, 10 + i, "q2", "cuong", 2, "waiting") for i in range(3)]
    out += [rating(15, 0, "q1", None, 5), rating(15, 1, "q1", None, 3)]
    return out


def test_shifts_close_at_sign_out_next_event_closing_time_or_midnight():
    got = [(s.device, s.officer, (s.end_ms - s.start_ms) / 3_600_000, s.closed_by) for s in shifts(EVENTS, TZ, hours_for)]
    assert got == [("q1", "an", 4.0, "sign_out"), ("q2", "binh", 2.0, "auto_sign_out"),
                   ("q2", "binh", 0.5, "next_event"), ("q2", "cuong", 1.0, "sign_out"),
                   ("q1", "an", 4.0, "closing_time"), ("q2", "cuong", 6.0, "midnight")]


def test_officer_figures_by_hand():
    rows, quality = evaluate(ratings(), EVENTS, start_ms=ms(0, 0, 1), end_ms=ms(0, 0, 30), tz=TZ,
                             satisfied=SATISFIED, hours_for=hours_for, min_ratings=5, grade_min_ratings=5,
                             grades=GRADES)
    by = {r.officer: r for r in rows}
    an, binh, cuong = by["an"], by["binh"], by["cuong"]
    # An: 10 ratings (the flagged one left out), 8 satisfied, 4 h + 4 h on duty
    assert (an.ratings, an.satisfied, an.rate, an.hours, an.per_hour) == (10, 8, 0.8, 8.0, 1.25)
    assert dict(an.reasons) == {"waiting": 1, "attitude": 1} and (an.answered, an.expired) == (2, 1)
    assert (an.grade, an.rank) == ("Khá", 2)
    # Binh: 5 of 5 in 2.5 h
    assert (binh.ratings, binh.rate, binh.hours, binh.per_hour, binh.grade, binh.rank, binh.expired) == \
        (5, 1.0, 2.5, 2.0, "Xuất sắc", 1, 1)
    # Cuong: 3 ratings, under the minimum: rate, reasons, grade and rank suppressed; hours still count
    assert cuong.suppressed and (cuong.rate, cuong.grade, cuong.rank, dict(cuong.reasons)) == (None, None, None, {})
    assert (cuong.ratings, cuong.hours, cuong.per_hour) == (3, 7.0, 0.43)
    [q] = quality
    assert (q.ratings, q.no_officer, q.no_officer_share) == (20, 2, 0.1)


def test_shifts_are_clipped_to_the_period():
    rows, _ = evaluate([], EVENTS, start_ms=ms(9, 0), end_ms=ms(14, 0), tz=TZ, satisfied=SATISFIED,
                       hours_for=hours_for)
    by = {r.officer: r.hours for r in rows}
    # An 09:00-11:30 and 13:00-14:00; Binh 09:00-10:00 and 10:30-11:00; Cuong 11:00-12:00
    assert by == {"an": 3.5, "binh": 1.5, "cuong": 1.0}


def test_a_power_cut_mid_shift_ends_the_shift_at_the_boots_last_sign_of_life():
    events = [OEvent(ms(8, 0), "xa-a", "q1", "sign_in", "an", None, 1, "boot-1"),
              OEvent(ms(13, 0), "xa-a", "q1", "sign_in", "binh", None, 1, "boot-2")]
    life = {("xa-a", "q1", "boot-1"): ms(9, 17)}  # its last status: then the power went
    got = [(s.officer, (s.end_ms - s.start_ms) / 60_000, s.closed_by) for s in shifts(events, TZ, hours_for, life)]
    # not until binh's sign-in at 13:00, nor the 11:30 closing: 77 minutes worked (and the last status)
    assert got[0] == ("an", 77 + 1 / 60_000, "last_sign_of_life")
    assert got[1] == ("binh", 240.0, "closing_time")  # boot-2 never went dark as far as anyone knows


def test_an_open_shift_never_counts_past_now():
    events = [OEvent(ms(8, 0), "xa-a", "q1", "sign_in", "an", None, 1, "boot-1")]
    life = {("xa-a", "q1", "boot-1"): ms(8, 5)}
    (s,) = shifts(events, TZ, hours_for, life, now_ms=ms(8, 6))
    assert (s.end_ms - s.start_ms, s.closed_by) == (5 * 60_000 + 1, "last_sign_of_life")
    (s,) = shifts(events, TZ, hours_for, {}, now_ms=ms(8, 6))  # six minutes after signing in: six minutes
    assert (s.end_ms - s.start_ms, s.closed_by) == (6 * 60_000, "now")
