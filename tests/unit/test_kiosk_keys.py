"""Physical keys in the pure flow: one key per face, listen and back, a held key is one press, and a key
mashed through the thank-you screen is flagged like a mashed touch. Plus the key map's checks."""
import pytest

from config import ConfigError, load
from kiosk.flow import State
from kiosk.keys import HeldKeys, default_face_keys, pin_key

from .test_kiosk_flow import make


def hold(flow, name, start, seconds, rate=30.0, delay=0.5):
    """A key held down: the press, then X's auto-repeat (after ``delay``, ``rate`` a second), then the up."""
    out = [flow.key_down(name, start)]
    t = start + delay
    while t < start + seconds:
        out.append(flow.key_down(name, t))
        t += 1 / rate
    flow.key_up(name, start + seconds)
    return [r for r in out if r is not None]


@pytest.mark.parametrize("key,rating", [("1", 1), ("3", 3), ("5", 5), ("numpad4", 4), ("numpad2", 2)])
def test_each_face_key_rates_that_face_once(key, rating):
    flow, sunk, _ = make(followup={"enabled": False})
    r = flow.key_down(key, 10.0)
    flow.key_up(key, 10.1)
    assert r is not None and [x.rating for x in sunk] == [rating] and r.flags == []
    assert flow.state is State.THANKS


def test_a_key_held_for_3_seconds_stores_one_rating():
    flow, sunk, _ = make(followup={"enabled": False})
    got = hold(flow, "5", 10.0, 3.0)
    for t in (11.0, 12.0, 13.0, 14.5):
        flow.tick(t)
    assert len(got) == 1 and len(sunk) == 1 and sunk[0].rating == 5
    assert flow.state is State.RATING  # the thank-you went by; the held key did not rate again


def test_a_held_low_face_key_does_not_pick_the_first_reason():
    flow, sunk, _ = make()
    hold(flow, "1", 10.0, 3.0)
    assert flow.state is State.FOLLOWUP and sunk == []
    r = flow.key_down("2", 14.0)  # face key 2 on the follow-up screen is reason 2
    assert (r.rating, r.reason, r.flags) == (1, "attitude", [])


def test_back_skips_the_followup_and_a_face_key_past_the_reasons_chooses_nothing():
    flow, sunk, _ = make()
    flow.key_down("2", 10.0)
    flow.key_up("2", 10.1)
    assert flow.key_down("5", 11.0) is None and flow.state is State.FOLLOWUP  # only 2 reasons
    r = flow.key_down("backspace", 12.0)
    assert (r.rating, r.reason) == (2, None) and flow.state is State.THANKS


def test_a_key_right_after_the_screen_changed_is_ignored_like_a_touch():
    flow, sunk, _ = make()
    flow.key_down("1", 10.0)
    flow.key_up("1", 10.05)
    assert flow.key_down("1", 10.2) is None and flow.state is State.FOLLOWUP  # within settle_s (0.4 s)


def test_keys_mashed_during_the_thank_you_flag_the_next_rating():
    flow, sunk, _ = make()
    flow.key_down("5", 0.0)
    flow.key_up("5", 0.1)
    t = 0.5
    while t < 4.0:  # a child pressing keys through the thank-you screen
        for k in ("1", "3", "5"):
            flow.key_down(k, t)
            flow.key_up(k, t + 0.05)
        t += 0.4
    flow.tick(4.0)
    assert flow.state is State.RATING
    r = flow.key_down("1", 4.5)
    assert r is not None and (r.rating, r.reason, r.flags) == (1, None, ["rapid_repeat"])
    assert [x.flags for x in sunk] == [[], ["rapid_repeat"]]


def test_a_key_and_a_touch_are_counted_alike():
    a, sa, _ = make(followup={"enabled": False})
    b, sb, _ = make(followup={"enabled": False})
    for t in (0.0, 5.0, 5.2, 5.9, 12.0):
        a.touch(t)  # a real touch: the root sees the finger, then the face button acts
        a.tap_face(4, t)
        a.tick(t + 0.01)
        b.key_down("4", t)
        b.key_up("4", t + 0.05)
        b.tick(t + 0.01)
    assert [r.flags for r in sa] == [r.flags for r in sb] and len(sa) == len(sb) >= 2


def test_listen_asks_for_speech_and_unknown_keys_do_nothing():
    flow, sunk, events = make()
    flow.key_down("q", 1.0)
    assert events == [] and sunk == []
    flow.key_down("0", 2.0)  # the first key of a visit plays the question once
    flow.key_up("0", 2.1)
    flow.key_down("numpad0", 3.0)
    assert events == ["audio:start", "audio:listen"]


def test_keys_off_and_on_other_screens():
    flow, sunk, _ = make(keys={"enabled": False})
    assert flow.key_down("5", 1.0) is None and sunk == []
    flow, sunk, _ = make()
    assert flow.key_down("5", 1.0, faces_shown=False) is None and sunk == []  # waiting screen
    flow.state = State.TECHNICIAN
    assert flow.key_down("4", 5.0) is None and flow.state is State.TECHNICIAN and sunk == []


def test_the_technician_types_the_pin_on_a_keypad(monkeypatch):
    monkeypatch.setenv("TEST_KIOSK_PIN", "2468")
    flow, sunk, _ = make()
    flow.corner_down(0.0)
    flow.tick(3.1)
    assert flow.state is State.PIN
    for i, key in enumerate(["2", "numpad4", "9", "backspace", "2", "4", "6"]):
        flow.key_down(key, 4.0 + i)
        flow.key_up(key, 4.05 + i)
    flow.key_down("8", 12.0)
    flow.key_down("8", 12.6)  # held: auto-repeat types nothing more
    flow.key_up("8", 13.0)
    assert flow.pin == "2468"
    flow.key_down("numpadenter", 14.0)
    assert flow.state is State.TECHNICIAN and sunk == []


@pytest.mark.parametrize("name,pressed", [("7", "7"), ("numpad0", "0"), ("enter", "OK"), ("numpadenter", "OK"),
                                          ("backspace", "C"), ("a", None), ("numpadadd", None)])
def test_pin_keys(name, pressed):
    assert pin_key(name) == pressed


def test_a_lost_key_up_does_not_make_the_key_dead():
    held = HeldKeys(stale_s=1.0)
    assert held.down("1", 0.0) and not held.down("1", 0.6) and not held.down("1", 1.5)
    assert held.down("1", 3.0)  # no repeat for 1.5 s: the key was released, the up was lost
    held.up("1")
    assert held.down("1", 3.1)


def test_default_keys_follow_the_scale():
    flow, _, _ = make(faces={"scale": 3}, followup={"enabled": False})
    assert flow.cfg.keys.faces == default_face_keys(3) == [["1", "numpad1"], ["2", "numpad2"], ["3", "numpad3"]]
    assert flow.key_down("4", 1.0) is None
    assert flow.key_down("3", 2.0).rating == 3


@pytest.mark.parametrize("keys,needle", [
    ("{faces: [a, b, c]}", "give 5 entries, one per face"),
    ("{faces: [a, b, c, d, z9]}", "unknown key 'z9'"),
    ("{faces: [a, b, c, d, e], back: a}", "the key 'a' is given twice"),
    ("{faces: [1, 2, 3, 4, 5], listen: 1}", "the key '1' is given twice"),
    ("{listen: escape}", "kept for the technician"),
    ("{back: '1'}", "default face keys and listen or back too"),
])
def test_a_wrong_key_map_names_the_field_and_the_fix(tmp_path, keys, needle):
    path = tmp_path / "kiosk.yaml"
    path.write_text(f"kind: kiosk\nsite: a\ndevice: b\nkeys: {keys}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(path)
    assert needle in str(e.value) and "keys" in str(e.value), str(e.value)


def test_a_key_map_in_yaml_with_one_name_or_a_list(tmp_path):
    path = tmp_path / "kiosk.yaml"
    path.write_text("kind: kiosk\nsite: a\ndevice: b\nfaces: {scale: 3}\n"
                    "followup: {ask_at_or_below: 1}\n"
                    "keys: {faces: [f1, [f2, numpadenter], f3], listen: l, back: [left]}\n", encoding="utf-8")
    cfg = load(path)
    assert cfg.keys.faces == [["f1"], ["f2", "numpadenter"], ["f3"]] and cfg.keys.listen == ["l"]
