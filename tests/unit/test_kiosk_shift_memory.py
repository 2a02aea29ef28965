"""After a power cut mid-shift the officer comes back only when that is safe."""
from datetime import datetime, timedelta, timezone

from kiosk.shift_memory import ShiftMemory

TZ = timezone(timedelta(hours=7))
T = datetime(2026, 12, 7, 9, 0, tzinfo=TZ)


def mem(tmp_path):
    return ShiftMemory(tmp_path / "outbox.db.on-duty.json")


def test_the_officer_comes_back_the_same_day_within_the_idle_time(tmp_path):
    m = mem(tmp_path)
    m.signed_in("an", "ho-tich", T, 0.0)
    m.touch(T + timedelta(minutes=20), 1200.0)
    got = mem(tmp_path).restorable(T + timedelta(minutes=25), idle_s=1800, closing=T.replace(hour=11, minute=30))
    assert got["officer"] == "an" and got["service"] == "ho-tich"
    assert m.read() is None  # taken: a second start does not restore again


def test_not_after_the_idle_time_another_day_closing_or_a_clean_sign_out(tmp_path):
    cases = [(T + timedelta(minutes=31), 1800, None),            # idle longer than the idle sign-out
             (T + timedelta(days=1), 1800, None),                # another day
             (T + timedelta(minutes=5), 1800, T + timedelta(minutes=4)),  # past closing
             (T - timedelta(days=20000), 1800, None)]            # a clock that jumped back (no RTC)
    for now, idle, closing in cases:
        m = mem(tmp_path)
        m.signed_in("an", None, T, 0.0)
        assert m.restorable(now, idle, closing) is None, (now, idle, closing)
    m = mem(tmp_path)
    m.signed_in("an", None, T, 0.0)
    m.signed_out()
    assert m.restorable(T + timedelta(minutes=1), 1800, None) is None
