"""Physical keys on the real kiosk window (Xvfb): each face key stores that rating once, a face key on the
follow-up screen chooses a reason, a key held down for 3 s (with auto-repeat) stores one rating, and keys
mashed through the thank-you screen flag the next rating like mashed touches."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker.contract import decode
from kiosk.outbox import Outbox
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_keys_driver.py"
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
followup:
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time"}}
    - {key: attitude, texts: {vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
timeouts: {thank_you_s: 1}
repeat_window_s: 1.5
outbox: {path: outbox.db}
"""


def test_each_face_key_stores_one_rating_and_a_key_held_3_s_stores_one(tmp_path, artifacts):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(tmp_path / "outbox.db"), str(artifacts / "keys"),
                          str(result)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    assert all(data["keycodes_as_kivy"].values()), data["keycodes_as_kivy"]  # our key names are Kivy's
    assert data["speech_modules"] == []  # memory: speech loads only when configured
    steps = {s["step"]: s for s in data["steps"]}
    assert [steps[f"after {k}"]["outbox"] for k in ("5", "numpad4", "3")] == [1, 2, 3]
    assert all(steps[f"after {k}"]["screen"] == "thanks" for k in ("5", "numpad4", "3"))
    assert steps["after numpad1"] == {"step": "after numpad1", "screen": "followup", "outbox": 3}
    assert steps["after reason key 2"]["outbox"] == 4
    assert steps["after holding 5 for 3 s"]["outbox"] == 5 and steps["end"]["outbox"] == 5
    assert steps["mashed through the thank-you"]["outbox"] == 6  # keys on the thank-you screen rate nothing
    assert steps["after the mash"]["outbox"] == 7

    box = Outbox(tmp_path / "outbox.db")
    rows = [decode(r.topic, r.payload) for r in box.peek(0, 100)]
    box.close()
    assert [(r.rating, r.reason, r.flags) for r in rows] == [
        (5, None, []), (4, None, []), (3, None, []), (1, "attitude", []), (5, None, []),
        (5, None, []), (4, None, ["rapid_repeat"])]


VOICE_DRIVER = ROOT / "tests" / "ui" / "kiosk_voice_driver.py"


def test_with_voice_on_the_kiosk_says_the_question_the_thank_you_and_listen_repeats_the_screen(tmp_path):
    from config import load
    from kiosk.voice import Clips
    from kiosk.voice_build import build

    cfg_path = tmp_path / "kiosk.yaml"
    cfg_path.write_text(CONFIG.replace("timeouts: {thank_you_s: 1}", "timeouts: {thank_you_s: 2}")
                        .replace("repeat_window_s: 1.5", "repeat_window_s: 0.5")
                        + "voice: {enabled: true}\n", encoding="utf-8")
    cfg = load(cfg_path)
    assert build(cfg).built  # the clips, built for real with espeak-ng
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(VOICE_DRIVER), str(cfg_path), str(tmp_path / "outbox.db"), str(result)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    said = [p.rsplit(":", 1)[0] for p in data["played"]]
    assert said == ["vi:question", "vi:question", "vi:thanks", "vi:thanks",
                    "vi:question", "vi:followup_question", "vi:thanks",
                    "vi:question", "en:question", "en:thanks"], data["played"]
    clips = Clips(cfg)
    for entry in data["played"]:  # each one is the clip voice build made for that text
        lang, key, name = entry.split(":")
        assert clips.get(lang, key).name == name
    assert all(length is not None and length > 0.4 for length in data["lengths"].values()), data["lengths"]

    box = Outbox(tmp_path / "outbox.db")
    rows = [decode(r.topic, r.payload) for r in box.peek(0, 100)]
    box.close()
    assert [(r.rating, r.reason, r.lang) for r in rows] == [(5, None, "vi"), (1, "attitude", "vi"), (4, None, "en")]


def test_the_officer_types_the_pin_on_a_keypad(tmp_path):
    from tests.ui.test_officer_ui import write_config

    cfg = write_config(tmp_path)
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "ui" / "officer_keys_driver.py"), str(cfg),
                          str(tmp_path / "outbox.db"), str(result)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    assert data["mask"] == "••••"  # 9 cleared, then 2 4 6 8; the held 8 typed once
    assert data["officer"] == "le-van-cuong"
    assert data["ratings"] == 0  # digit keys on the officer's screens rate nothing
