"""Staff lists in kiosk.yaml: inline or one staff.yaml per centre, PIN hashes only, clear errors."""
from __future__ import annotations

from datetime import datetime

import pytest

from config.loader import ConfigError, load
from config.pins import hash_pin
from kiosk.duty import Duty, Officer, parse_hours
from kiosk.officer_ui import ON_DUTY, PIN, PICK, SERVICE, OfficerEntry

H1 = hash_pin("1357", log2_n=10)
H2 = hash_pin("2468", log2_n=10)


def kiosk(tmp_path, staff: str, extra: str = "") -> str:
    p = tmp_path / "kiosk.yaml"
    p.write_text(f"kind: kiosk\nsite: xa-a\ndevice: quay-1\n{extra}staff: {staff}\n", encoding="utf-8")
    return p


def test_inline_staff_and_included_file_relative_to_the_kiosk_yaml(tmp_path):
    cfg = load(kiosk(tmp_path, f'[{{key: an, name: "Nguyễn Văn An", pin_hash: "{H1}", services: [ho-tich]}}]'))
    assert [(m.key, m.name, m.services) for m in cfg.staff] == [("an", "Nguyễn Văn An", ["ho-tich"])]
    (tmp_path / "centre").mkdir()
    (tmp_path / "centre" / "staff.yaml").write_text(
        f'kind: staff\nstaff:\n  - {{key: binh, name: "Bình", pin_hash: "{H2}", photo: binh.png}}\n', encoding="utf-8")
    sub = tmp_path / "k2"
    sub.mkdir()
    cfg = load(kiosk(sub, "{file: ../centre/staff.yaml}"))
    assert [m.key for m in cfg.staff] == ["binh"]
    assert cfg.staff[0].photo == (tmp_path / "centre" / "binh.png").resolve()  # beside the staff file


def test_a_plain_pin_is_refused_and_the_staff_file_line_and_field_are_named(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(kiosk(tmp_path, '[{key: an, name: "An", pin_hash: "1357"}]'))
    [line] = exc.value.problems
    assert line.startswith("kiosk.yaml:4: staff[0].pin_hash:") and "python -m config hash-pin" in line
    (tmp_path / "staff.yaml").write_text(
        f'kind: staff\nstaff:\n  - {{key: an, name: "An", pin_hash: "{H1}"}}\n  - {{key: bo, name: "Bo", pin_hash: "2468"}}\n',
        encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load(kiosk(tmp_path, "{file: staff.yaml}"))
    [line] = exc.value.problems
    assert f"in the staff file {tmp_path / 'staff.yaml'}: staff.yaml:4: staff[1].pin_hash:" in line
    with pytest.raises(ConfigError) as exc:
        load(kiosk(tmp_path, "{file: missing.yaml}"))
    assert "missing.yaml: file not found" in exc.value.problems[0]


def test_duplicate_officers_unknown_services_and_bad_hours_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="repeated: an"):
        load(kiosk(tmp_path, f'[{{key: an, name: A, pin_hash: "{H1}"}}, {{key: an, name: B, pin_hash: "{H2}"}}]'))
    with pytest.raises(ConfigError, match=r"services \['dat-dai'\] are not in services"):
        load(kiosk(tmp_path, f'[{{key: an, name: A, pin_hash: "{H1}", services: [dat-dai]}}]',
                   "services: [{key: ho-tich, name: Hộ tịch}]\n"))
    with pytest.raises(ConfigError, match="07:30-11:30"):
        load(kiosk(tmp_path, "[]", "duty: {opening_hours: {mon-fri: ['7h-11h']}}\n"))
    with pytest.raises(ConfigError, match="on_request"):
        load(kiosk(tmp_path, "[]", "requests: {mode: sometimes}\n"))


def entry():
    duty = Duty({"an": Officer("an", "An", H1, ("ho-tich", "dat-dai")), "bo": Officer("bo", "Bo", H2, ("ho-tich",))},
                hours=parse_hours({"mon-fri": ["07:00-11:30", "13:00-17:00"]}), lockout_s=300)
    recorded = []
    return OfficerEntry(duty, recorded.append, idle_s=30), recorded


def test_officer_entry_sign_in_with_service_sign_out_and_lockout():
    e, rec = entry()
    morning = datetime(2026, 11, 26, 8, 0)
    e.open(0)
    assert e.screen == PICK
    e.pick("an", 1)
    for d in "0000":
        e.digit(d, 1)
    assert e.submit(2, morning) == "wrong" and e.screen == PIN and e.duty.officer is None
    for d in "1357":
        e.digit(d, 3)
    assert e.submit(3, morning) == "ok" and e.screen == SERVICE
    e.pick_service("dat-dai", 4, morning)
    assert e.screen is None and (e.duty.officer.key, e.duty.service) == ("an", "dat-dai")
    assert [(c.event, c.officer, c.service) for c in rec] == [("sign_in", "an", "dat-dai")]
    # the same entry, the same PIN: the sign-out screen
    e.open(5)
    e.pick("an", 5)
    for d in "1357":
        e.digit(d, 5)
    e.submit(6, morning)
    assert e.screen == ON_DUTY
    e.sign_out(7)
    assert e.duty.officer is None and rec[-1].event == "sign_out"
    # five wrong PINs: locked, even for the right one
    e.open(10)
    e.pick("bo", 10)
    results = []
    for i in range(5):
        for d in "9999":
            e.digit(d, 10 + i)
        results.append(e.submit(10 + i, morning))
    assert results == ["wrong"] * 4 + ["locked"]
    for d in "2468":
        e.digit(d, 20)
    assert e.submit(20, morning) == "locked" and e.duty.officer is None
    assert 279 < e.duty.locked(20) <= 300


def test_closing_time_and_idle_officer_screens():
    e, rec = entry()
    e.open(0)
    e.pick("bo", 0)
    for d in "2468":
        e.digit(d, 0)
    assert e.submit(0, datetime(2026, 11, 26, 16, 0)) == "ok" and e.duty.officer.key == "bo"
    assert e.tick(100, datetime(2026, 11, 26, 16, 59)) == []
    [change] = e.tick(200, datetime(2026, 11, 26, 17, 0))
    assert (change.event, change.officer, change.detail) == ("auto_sign_out", "bo", "closing time")
    assert rec[-1] is change and e.duty.officer is None
    e.open(300)
    e.tick(331, datetime(2026, 11, 27, 8, 0))  # left open: closes itself after idle_s
    assert e.screen is None


def test_the_example_kiosk_includes_the_example_staff_file():
    from pathlib import Path

    cfg = load(Path(__file__).resolve().parents[2] / "config" / "examples" / "kiosk.yaml")
    assert [m.key for m in cfg.staff] == ["nguyen-van-an", "tran-thi-binh"]
    assert cfg.requests.mode == "open" and cfg.duty.idle_sign_out_s == 3600


def test_the_officer_on_duty_changes_service_and_is_signed_out_when_idle():
    e, rec = entry()
    e.duty.idle_sign_out_s = 600
    day = datetime(2026, 11, 26, 9, 0)
    e.open(0)
    e.pick("an", 0)
    for d in "1357":
        e.digit(d, 0)
    e.submit(0, day)
    e.pick_service("ho-tich", 1, day)
    e.open(2)
    e.pick("an", 2)
    for d in "1357":
        e.digit(d, 2)
    e.submit(3, day)
    e.change_service(4)
    assert e.screen == SERVICE
    e.pick_service("dat-dai", 5, day)
    # changing service is a new shift on the same counter: the old one ends where the new one begins
    assert [(c.event, c.service) for c in rec] == [("sign_in", "ho-tich"), ("sign_out", "ho-tich"), ("sign_in", "dat-dai")]
    e.duty.activity(300)
    assert e.tick(899, day) == []
    [change] = e.tick(900, day)
    assert (change.event, change.officer, change.detail) == ("auto_sign_out", "an", "idle")
