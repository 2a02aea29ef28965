"""The speaking mode in the pure flow and its edges (kiosk/speaking.py): turned on by a key, the faces reached
one by one and named, a second key chooses, the rating carries the mode's flag on the wire, longer time-outs,
and the mode ends for the next citizen. Plus the contract and the collector keeping the flag."""
import json
from pathlib import Path

from broker.contract import ContractError, RatingV2, decode, rating_topic
from kiosk import speaking
from kiosk.flow import State
from kiosk.messages import rating_v2

from .test_kiosk_flow import make

SPEAKING = {"enabled": True, "speaking": {"enabled": True}}


def test_a_key_turns_the_mode_on_says_how_to_rate_and_a_second_key_chooses_the_face_heard():
    flow, sunk, events = make(voice=SPEAKING, followup={"enabled": False})
    assert flow.key_down("numpadmul", 10.0) is None
    assert flow.speaking and events[-1] == "say:intro"
    for t in (11.0, 12.0):
        flow.key_down("numpadadd", t)
        flow.key_up("numpadadd", t + 0.1)
    assert flow.focused() == "face.unhappy" and events.count("say:focus") == 2
    r = flow.key_down("numpadenter", 13.0)
    assert r is not None and r.rating == 2 and r.flags == [] and flow.rated_speaking
    assert flow.state is State.THANKS and events[-1] == "audio:thanks"
    assert flow.thanks_s == 10.0  # longer in the mode (voice.speaking.thank_you_s)
    flow.tick(13.0 + 9.9)
    assert flow.state is State.THANKS
    flow.tick(13.0 + 10.0)
    assert flow.state is State.RATING and not flow.speaking  # the next citizen starts with the ordinary screen


def test_the_choices_wrap_and_the_follow_up_reads_reasons_then_skip():
    flow, sunk, events = make(voice=SPEAKING)
    flow.speak_on(10.0)
    flow.move(-1, 11.0)
    assert flow.focused() == "lang.en"  # after the faces, the languages
    flow.move(1, 12.0)
    assert flow.focused() == "face.very_unhappy"
    assert flow.choose(13.0) is None and flow.state is State.FOLLOWUP and events[-1] == "say:followup"
    assert flow.followup_s == 45.0
    n = len(flow.reasons)
    for i in range(n + 1):
        flow.move(1, 14.0 + i)
    assert flow.focused() == "skip"
    r = flow.choose(20.0)
    assert r.rating == 1 and r.reason is None and flow.rated_speaking


def test_without_the_mode_configured_its_keys_do_nothing_and_ordinary_ratings_are_not_flagged():
    flow, sunk, events = make(followup={"enabled": False})
    flow.key_down("numpadmul", 10.0)
    assert not flow.speaking and flow.speak_on(11.0) is False
    flow.key_down("5", 12.0)
    assert sunk[-1].rating == 5 and not flow.rated_speaking


def test_the_mode_ends_when_left_idle_for_its_own_longer_time():
    flow, _, _ = make(voice=SPEAKING)
    flow.speak_on(10.0)
    flow.tick(10.0 + 31)
    assert flow.speaking  # the ordinary 30 s is not the mode's
    flow.tick(10.0 + 90)
    assert not flow.speaking


def test_a_language_is_reached_after_the_faces_and_chosen_like_one():
    flow, sunk, events = make(voice=SPEAKING)
    flow.speak_on(1.0)
    for t in range(6):
        flow.move(1, 2.0 + t)
    assert flow.focused() == "lang.vi"
    flow.move(1, 9.0)
    assert flow.choose(10.0) is None and flow.lang == "en" and events[-1] == "say:intro" and not sunk
    assert flow.speaking and flow.focused() is None


def test_a_finger_on_a_face_names_it_and_choose_takes_it():
    flow, sunk, events = make(voice=SPEAKING, followup={"enabled": False})
    flow.focus_to("face.happy", 1.0)
    assert flow.focused() is None  # not in the mode: nothing
    flow.speak_on(2.0)
    flow.focus_to("face.happy", 3.0)
    assert flow.focused() == "face.happy" and events[-1] == "say:focus"
    assert flow.choose(3.3).rating == 4


def test_what_is_said_in_the_mode():
    flow, _, _ = make(voice=SPEAKING)
    flow.speak_on(1.0)
    assert speaking.said("intro", flow, "an") == ["speaking_intro", "question", "officer.an", "back_in.idle"]
    flow.move(1, 2.0)
    assert speaking.said("focus", flow) == ["face.very_unhappy"] == speaking.said("listen", flow)
    assert speaking.said("thanks", flow) == ["thanks", "thanks_detail", "back_in.thanks"]


def test_headset_or_low_volume(tmp_path):
    flow, _, _ = make(voice=SPEAKING)
    sp = flow.cfg.voice.speaking
    cards = tmp_path / "cards"
    cards.write_text(" 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n", encoding="utf-8")
    assert not speaking.headset_plugged(cards) and speaking.volume(sp, False) == 0.3
    cards.write_text(cards.read_text() + " 2 [Headset        ]: USB-Audio - Logitech USB Headset\n")
    assert speaking.headset_plugged(cards) and speaking.volume(sp, True) == 0.8
    assert not speaking.headset_plugged(tmp_path / "none")


def test_gestures_a_swipe_moves_a_double_tap_chooses():
    g = speaking.Gestures(1280)
    g.down(1, 300, 400)
    assert g.up(1, 600, 410, 1.0) == "next"
    g.down(2, 600, 400)
    assert g.up(2, 300, 400, 2.0) == "previous"
    g.down(3, 640, 400)
    assert g.up(3, 642, 401, 3.0) == "tap"  # names what is under the finger
    g.down(4, 640, 400)
    assert g.up(4, 641, 400, 3.3) == "choose"
    g.down(5, 640, 400)
    assert g.up(5, 640, 400, 5.0) == "tap"  # a lone tap later chooses nothing


def test_the_wire_flag_is_optional_and_checked():
    flow, sunk, _ = make(voice=SPEAKING, followup={"enabled": False})
    flow.speak_on(1.0)
    flow.move(1, 2.0)
    r = flow.choose(3.0)
    from kiosk.clock import Stamp

    stamp = Stamp(r.ts, "boot1", 1000, "synced")
    msg = rating_v2(r, stamp, "00000000-0000-4000-8000-000000000001", 1, mode="speaking")
    topic = rating_topic(r.site, r.device)
    assert decode(topic, msg.encode()).mode == "speaking"
    plain = json.loads(rating_v2(r, stamp, "00000000-0000-4000-8000-000000000001", 2).encode())
    plain.pop("mode")  # an older kiosk sends no such field: still valid
    assert decode(topic, json.dumps(plain).encode()).mode is None
    bad = dict(plain, mode="loud")
    try:
        decode(topic, json.dumps(bad).encode())
    except ContractError as exc:
        assert "mode" in str(exc)
    else:
        raise AssertionError("mode 'loud' was accepted")
    assert "mode" in RatingV2.model_fields
