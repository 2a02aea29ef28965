"""Officer on duty: PIN hashes, lockout after five wrong PINs, sign-out by hand, at closing time, when idle."""
import json
from datetime import datetime

import pytest

from config.pins import hash_pin, is_pin_hash, verify_pin
from kiosk.duty import Duty, Officer, parse_hours

FAST = 10  # a cheap scrypt cost for tests; the real default is 2**14


@pytest.fixture(scope="module")
def officers():
    return {"an": Officer("an", "Nguyễn Văn An", hash_pin("2468", log2_n=FAST), ("ho-tich", "dat-dai")),
            "binh": Officer("binh", "Trần Thị Bình", hash_pin("13579", log2_n=FAST), ("ho-tich",))}


def test_pin_hashes_are_salted_and_checked():
    a, b = hash_pin("2468", log2_n=FAST), hash_pin("2468", log2_n=FAST)
    assert a != b and is_pin_hash(a) and verify_pin("2468", a) and not verify_pin("2469", a)
    assert not verify_pin("2468", "2468") and not is_pin_hash("2468")
    with pytest.raises(ValueError):
        hash_pin("12ab")


def test_sign_in_takes_the_right_pin_and_the_only_service(officers):
    duty = Duty(officers)
    assert duty.try_pin("binh", "0000", now=1) == "wrong"
    assert duty.try_pin("binh", "13579", now=2) == "ok"
    [change] = duty.sign_in("binh", None, now=2)
    assert (change.event, change.officer, change.service) == ("sign_in", "binh", "ho-tich")
    assert duty.officer.name == "Trần Thị Bình"
    # another officer signing in signs the first out
    assert duty.try_pin("an", "2468", now=3) == "ok"
    assert [c.event for c in duty.sign_in("an", "dat-dai", now=3)] == ["sign_out", "sign_in"]
    assert duty.service == "dat-dai"
    assert [c.event for c in duty.sign_out(now=4)] == ["sign_out"] and duty.officer is None


def test_five_wrong_pins_lock_that_officer_even_the_right_pin(officers):
    duty = Duty(officers, lockout_s=300)
    assert [duty.try_pin("an", "1111", now=10 + i) for i in range(5)] == ["wrong"] * 4 + ["locked"]
    assert duty.try_pin("an", "2468", now=20) == "locked"
    assert duty.locked(now=20, officer_key="an") == pytest.approx(294)
    # the other officers are not locked out by guesses at one name
    assert duty.locked(now=20, officer_key="binh") == 0 and duty.try_pin("binh", "13579", now=21) == "ok"
    # after the wait, the next round of five wrong PINs for the same officer doubles it
    assert [duty.try_pin("an", "1111", now=400) for _ in range(5)][-1] == "locked"
    assert duty.locked(now=400, officer_key="an") == pytest.approx(600)
    assert duty.try_pin("an", "2468", now=1001) == "ok"
    assert duty.lockout.failures("an") == 0 and duty.try_pin("an", "1", now=1002) == "wrong"
    assert duty.lockout.failures("an") == 1  # the right PIN started the count again


def test_wrong_pins_and_lockouts_survive_a_restart_and_a_power_cycle(officers, tmp_path):
    from kiosk.pin_lockout import PinLockout

    path = tmp_path / "outbox.pin-lockout.json"
    duty = Duty(officers, lockout_s=300, lockout=PinLockout(path, 300, boot="boot-1"))
    assert [duty.try_pin("an", "1111", now=10 + i) for i in range(4)] == ["wrong"] * 4
    # the kiosk restarts in the same boot: four wrong PINs are remembered, the fifth locks
    again = Duty(officers, lockout_s=300, lockout=PinLockout(path, 300, boot="boot-1"))
    assert again.try_pin("an", "1111", now=20) == "locked"
    assert again.locked(now=100, officer_key="an") == pytest.approx(220)  # the same monotonic clock
    # switched off and on: the monotonic clock starts again; the lockout runs its whole length from the start
    cycled = Duty(officers, lockout_s=300, lockout=PinLockout(path, 300, boot="boot-2"))
    assert cycled.try_pin("an", "2468", now=3.0) == "locked"
    assert cycled.locked(now=3.0, officer_key="an") == pytest.approx(300)
    assert cycled.try_pin("binh", "13579", now=4.0) == "ok"
    assert cycled.try_pin("an", "2468", now=304.0) == "ok"
    assert "an" not in json.loads(path.read_text(encoding="utf-8"))["officers"]


def test_a_damaged_lockout_file_starts_empty(officers, tmp_path):
    from kiosk.pin_lockout import PinLockout

    path = tmp_path / "outbox.pin-lockout.json"
    for text in ("{not json", '{"officers": {"an": {"failures": "x"}}}', "[]"):
        path.write_text(text, encoding="utf-8")
        duty = Duty(officers, lockout=PinLockout(path, 300, boot="b"))
        assert duty.try_pin("an", "2468", now=1) == "ok"


def test_automatic_sign_out_at_closing_time_and_when_idle(officers):
    hours = parse_hours({"mon-fri": ["07:30-11:30", "13:30-17:00"], "sat": ["07:30-11:30"]})
    duty = Duty(officers, hours=hours, idle_sign_out_s=3600)
    duty.sign_in("an", "ho-tich", now=0)
    signed = datetime(2026, 11, 23, 8, 0)   # a Monday
    assert duty.tick(now=100, local=datetime(2026, 11, 23, 12, 0), signed_in_local=signed) == []  # lunch
    duty.activity(now=3000)
    [auto] = duty.tick(now=3100, local=datetime(2026, 11, 23, 17, 0), signed_in_local=signed)
    assert (auto.event, auto.officer, auto.detail) == ("auto_sign_out", "an", "closing time")
    duty.sign_in("an", "ho-tich", now=5000)
    [idle] = duty.tick(now=5000 + 3600, local=datetime(2026, 11, 24, 9, 0), signed_in_local=datetime(2026, 11, 24, 8, 0))
    assert idle.detail == "idle"


def test_opening_hours_are_checked():
    with pytest.raises(ValueError, match="07:30-11:30"):
        parse_hours({"mon": ["7h30-11h"]})
    with pytest.raises(ValueError, match="day names"):
        parse_hours({"monday": ["07:30-11:30"]})
    assert parse_hours({"sat-sun": ["08:00-09:00"]})[6][0][1].hour == 9


def test_hash_pin_command_prints_a_hash_the_kiosk_accepts(monkeypatch, capsys):
    import io

    from config.__main__ import main

    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert main(["hash-pin", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert is_pin_hash(printed) and verify_pin("246810", printed) and "246810" not in printed
    assert printed.startswith("scrypt$15$8$1$")  # 32 MiB a guess
    monkeypatch.setattr("sys.stdin", io.StringIO("12ab\n"))
    assert main(["hash-pin", "--stdin"]) == 1
    assert "4 to 12 digits" in capsys.readouterr().err
    # a short PIN is refused unless a lower minimum is asked for
    monkeypatch.setattr("sys.stdin", io.StringIO("24680\n"))
    assert main(["hash-pin", "--stdin"]) == 1
    assert "ít nhất 6 chữ số / the PIN must have at least 6 digits" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("24680\n"))
    assert main(["hash-pin", "--stdin", "--min-digits", "5"]) == 0
    assert verify_pin("24680", capsys.readouterr().out.strip())
