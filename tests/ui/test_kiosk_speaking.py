"""The speaking mode and the spoken screens on the real kiosk window (Xvfb), with real WAV clips: turned on by
a key, moved to face 2 and chosen, the thank-you heard (the log of played clips) while the screen shows the
ordinary thank-you, the rating flagged on the wire; the same with a long press, swipes and a double tap. And a
walk over every screen in every enabled language (one with a picture on its button and recorded clips only)
that fails when a text has no clip."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from broker.contract import decode
from kiosk.outbox import Outbox
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_speaking_driver.py"
EXAMPLE = ROOT / "config" / "examples" / "kiosk.yaml"
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
followup:
  ask_at_or_below: 1
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time"}}
    - {key: attitude, texts: {vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
timeouts: {thank_you_s: 2}
repeat_window_s: 1
outbox: {path: outbox.db}
voice:
  enabled: true
  speaking: {enabled: true, thank_you_s: 3, hold_s: 1.5}
"""


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def run(mode: str, cfg: Path, tmp_path: Path, shots: Path) -> dict:
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), mode, str(cfg), str(tmp_path / "outbox.db"), str(shots),
                          str(result)], cwd=tmp_path, env=window_env(tmp_path), capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    return data


def test_the_speaking_mode_end_to_end_by_key_and_by_touch(tmp_path, artifacts, doc_image):
    from config import load
    from kiosk.voice_build import build

    cfg_path = tmp_path / "kiosk.yaml"
    cfg_path.write_text(CONFIG, encoding="utf-8")
    assert build(load(cfg_path)).built  # real clips, espeak-ng
    data = run("speaking", cfg_path, tmp_path, artifacts)
    steps = {s["step"]: s for s in data["steps"]}
    said = [p.split(":")[1] for p in data["played"]]

    assert steps["on"]["speaking"] and steps["on"]["screen"] == "rating"
    assert steps["on"]["banner"].startswith("Chế độ đọc") and steps["on"]["focus"] is None
    assert steps["at face 2"]["focus"] == "face.unhappy"
    first = said[:said.index("thanks")]
    assert first[0] == "speaking_intro" and first[-2:] == ["face.very_unhappy", "face.unhappy"], said
    assert said[said.index("thanks"):said.index("thanks") + 3] == ["thanks", "thanks_detail", "back_in.thanks"]
    # low volume: no headset in the test machine
    assert steps["on"]["volume"] == pytest.approx(0.3, abs=0.01)
    # the screen shows the ordinary thank-you: the same texts as after an ordinary tap, no banner
    assert steps["thanks"]["screen"] == "thanks" and steps["thanks"]["banner"] == ""
    assert steps["thanks"]["thanks_texts"] == steps["ordinary tap"]["thanks_texts"]
    assert not steps["after"]["speaking"]  # the next citizen starts with the ordinary screen

    assert steps["held"]["speaking"] and steps["touched face 5"]["focus"] == "face.very_happy"
    assert steps["touched face 5"]["screen"] == "rating"  # named, not chosen
    assert steps["swiped back and forth"]["focus"] == "face.very_happy"
    assert steps["swiped to face 2"]["focus"] == "face.unhappy"
    assert steps["double tap"]["screen"] == "thanks"
    assert not steps["ordinary tap"]["speaking"]

    box = Outbox(tmp_path / "outbox.db")
    rows = [decode(r.topic, r.payload) for r in box.peek(0, 100)]
    box.close()
    assert [(r.rating, r.mode, r.flags) for r in rows] == [(2, "speaking", []), (2, "speaking", []), (5, None, [])]
    assert all(length and length > 0.4 for length in data["lengths"].values()), data["lengths"]
    doc_image(artifacts / "kiosk-speaking-mode.png", "kiosk-speaking-mode.png")


def walk_config(tmp_path: Path) -> Path:
    """The example kiosk.yaml with speech and the speaking mode on, and Hmong enabled with a picture on its
    button and every text a recording (here made with espeak-ng, standing in for a technician's voice)."""
    from config import load
    from kiosk import voice

    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (("  enabled: [vi, en]", "  enabled: [vi, en, hmn]"),
                     ("      # picture: lang-hmn.png", "      picture: lang-hmn.png"),
                     ("  enabled: false               # true: say", "  enabled: true               # true: say"),
                     ("    enabled: false             # needs", "    enabled: true              # needs"),
                     ("    thank_you_s: 10", "    thank_you_s: 3")):
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "kiosk.yaml"
    path.write_text(text, encoding="utf-8")
    for name in ("staff.yaml", "lang-hmn.png"):
        shutil.copy(EXAMPLE.with_name(name), tmp_path / name)
    cfg = load(path)
    rec = tmp_path / "sounds"
    rec.mkdir()
    clips = {}
    for line in voice.lines(cfg):
        if line.lang == "hmn" and line.key not in ("lang.vi", "lang.en"):  # those are said in their own voice
            out = rec / f"hmn-{line.key}.wav"
            subprocess.run(["espeak-ng", "-v", "vi", "-w", str(out), "--", voice.spoken(line.text)], check=True,
                           capture_output=True, timeout=60)
            clips[line.key] = f"sounds/{out.name}"
    entries = ", ".join(f'"{k}": {v}' for k, v in clips.items())
    text = text.replace("  # clips:                     #", f"  clips: {{hmn: {{{entries}}}}}\n  #", 1)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_screen_in_every_language_is_heard(tmp_path, artifacts, doc_image):
    from config import load
    from kiosk import voice
    from kiosk.voice_build import build

    path = walk_config(tmp_path)
    cfg = load(path)
    report = build(cfg)
    assert report.silent == [] and voice.problems(cfg) == []
    assert {p.parent for p in report.recorded} == {tmp_path / "sounds"}
    data = run("walk", path, tmp_path, artifacts)
    heard = {":".join(p.split(":")[:2]) for p in data["played"]}
    on_screen = [f"{lang}:{key}" for lang in cfg.languages.enabled for key in voice.keys(cfg)
                 if not key.startswith("officer.") or key == f"officer.{cfg.officer}"]
    missing = [k for k in on_screen if k not in heard]
    assert not missing, f"screens or texts with no audio: {missing}"
    text_of = {f"{ln.lang}:{ln.key}": ln.text for ln in voice.lines(cfg)}
    for entry, file in data["files"].items():
        length = seconds(Path(file))  # a real WAV, of a plausible length for its text
        assert 0.4 < length < 1.5 + 0.12 * len(text_of[entry]), (entry, length)
        if entry.startswith("hmn:") and entry.split(":")[1] not in ("lang.vi", "lang.en"):
            assert Path(file).parent == tmp_path / "sounds"  # Hmong is heard from its recordings only
        if entry.endswith(":lang.hmn"):
            assert Path(file).parent == tmp_path / "sounds"  # on every screen, the name in its own voice
    clips = voice.Clips(cfg)
    doc_image(artifacts / "kiosk-language-picture.png", "kiosk-language-picture.png")
    assert all(clips.get(lang, f"officer.{k}") for lang in cfg.languages.enabled for k in voice.people(cfg))
