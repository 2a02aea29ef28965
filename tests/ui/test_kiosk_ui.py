"""The real kiosk window under Xvfb: real touch events on every screen, what is shown, what is kept.

Kivy allows one window per process, so each test runs tests/ui/kiosk_driver.py in a subprocess; the
driver taps, saves screenshots to tests/artifacts/ and writes what it saw as JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker.contract import decode
from kiosk.outbox import Outbox

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_driver.py"
PIN = "2468"
PREFILL = 11
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
languages:
  enabled: [vi, en, hmn]
  custom:  # a language a technician added: what it does not translate falls back to Vietnamese
    hmn: {name: "Lus Hmoob", question: "Koj puas txaus siab rau peb txoj kev pab hnub no?",
          followup_question: "Dab tsi tsis zoo?", thanks: "Ua tsaug!"}
followup:
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time", hmn: "Tos ntev"}}
    - {key: attitude, texts: {vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
    - {key: guidance, texts: {vi: "Hướng dẫn khó hiểu", en: "Unclear guidance"}}
    - {key: paperwork, texts: {vi: "Hồ sơ, giấy tờ phức tạp", en: "Too much paperwork"}}
officer: nguyen-van-an
service: ho-tich
timeouts: {thank_you_s: 1}
repeat_window_s: 0  # the script taps faster than a person: no press is flagged or ignored
settle_s: 0
technician: {pin: {env: KIOSK_TEST_PIN}, hold_s: 1}
outbox: {path: outbox.db, warn_depth: 10}
audio: {vi: {start: missing.wav, thanks: not-a-sound.wav}, en: {start: prompt.wav, thanks: prompt.wav}}
"""
EXPECT = {
    "vi": {"question": "Ông/Bà có hài lòng với việc giải quyết thủ tục hôm nay không?", "face": "Rất hài lòng",
           "followup": "Điều gì chưa tốt?", "reason": "Chờ đợi lâu", "thanks": "Xin cảm ơn!"},
    "en": {"question": "How satisfied are you with our service today?", "face": "Very satisfied",
           "followup": "What went wrong?", "reason": "Long waiting time", "thanks": "Thank you!"},
    "hmn": {"question": "Koj puas txaus siab rau peb txoj kev pab hnub no?", "face": "Rất hài lòng",
            "followup": "Dab tsi tsis zoo?", "reason": "Tos ntev", "thanks": "Ua tsaug!"},
}


def write_prompt(path: Path, seconds: float = 0.5) -> None:
    """A real spoken-prompt stand-in: half a second of a 440 Hz tone, 16-bit mono WAV."""
    import math
    import struct
    import wave

    rate = 22050
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(rate * seconds))))


def run_driver(tmp_path: Path, lang: str, shots: Path) -> dict:
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "not-a-sound.wav").write_bytes(b"this is not audio")
    write_prompt(tmp_path / "prompt.wav")
    env = {**os.environ, "KIOSK_TEST_PIN": PIN, "KIVY_NO_ARGS": "1", "KCFG_KIVY_LOG_LEVEL": "warning",
           "KIVY_HOME": str(tmp_path / "kivy-home")}
    env.pop("KIVY_NO_CONSOLELOG", None)  # the log is checked below
    if not env.get("DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    env["SDL_AUDIODRIVER"] = "dummy"  # plays into nothing: the test machine has no sound card
    # eleven ratings already wait (the broker is out of reach): with three more the technician sees a warning
    from broker.contract import Rating, new_event_id, rating_topic, utcnow

    box = Outbox(tmp_path / "outbox.db")
    for _ in range(PREFILL):
        box.add(Rating(id=new_event_id(), site="ubnd-xa-tan-lap", device="quay-01", ts=utcnow(), rating=3,
                       scale=5, lang="vi"), rating_topic("ubnd-xa-tan-lap", "quay-01"))
    box.close()
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(tmp_path / "outbox.db"), lang, str(shots),
                          str(result)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    data["log"] = out.stdout + out.stderr
    return data


@pytest.mark.parametrize("lang", ["vi", "en", "hmn"])
def test_every_screen_by_touch(lang, tmp_path, artifacts, doc_image):
    data = run_driver(tmp_path, lang, artifacts)
    steps = {s["step"]: s for s in data["steps"]}
    e = EXPECT[lang]

    rating = steps["rating"]
    assert rating["screen"] == "rating" and rating["lang"] == lang
    assert e["question"] in rating["texts"] and e["face"] in rating["texts"]
    for name in ("Tiếng Việt", "English", "Lus Hmoob"):  # each language named in itself
        assert name in rating["texts"]
    assert rating["outbox"] == PREFILL

    # the happiest face goes straight to thank-you, kept before it shows
    assert steps["after_happy"]["screen"] == "thanks" and steps["after_happy"]["outbox"] == PREFILL + 1
    assert e["thanks"] in steps["after_happy"]["texts"]
    assert steps["back"]["screen"] == "rating"
    # the least happy one asks what went wrong
    assert steps["followup"]["screen"] == "followup" and steps["followup"]["outbox"] == PREFILL + 1
    assert e["followup"] in steps["followup"]["texts"] and e["reason"] in steps["followup"]["texts"]
    assert steps["after_reason"]["screen"] == "thanks" and steps["after_reason"]["outbox"] == PREFILL + 2
    assert steps["after_skip"]["screen"] == "thanks" and steps["after_skip"]["outbox"] == PREFILL + 3
    # the thank-you screen does not tell the officer what was pressed: same pixels
    assert (artifacts / f"thanks-{lang}.png").read_bytes() == (artifacts / f"thanks-after-reason-{lang}.png").read_bytes()

    # citizens cannot leave; a short corner press does nothing; a long one and the PIN open the technician view
    assert data["close_refused"] is True
    assert steps["short_corner"]["screen"] == "rating"
    assert steps["pin"]["screen"] == "pin"
    assert steps["technician"]["screen"] == "technician"
    for needle in ("ubnd-xa-tan-lap", "quay-01", "0.1.0", "kiosk.yaml", "127.0.0.1:1883", "Hộp thư đi / Outbox: 14 đang chờ",
                   "quá / above warn_depth 10", "Gửi lần cuối / Last sent", "(Asia/Ho_Chi_Minh)"):
        assert needle in data["tech_info"]
    # a missing or unplayable audio prompt is logged, and nothing else happens
    assert "missing.wav cannot be played" in data["log"]
    sounds = data["sounds"]
    assert sounds["vi:start"] is None  # the missing file, remembered as unplayable
    if lang == "en":  # switching to English plays its prompt; the thank-you plays the other
        for kind in ("start", "thanks"):
            assert sounds[f"en:{kind}"] is not None and 0.4 < sounds[f"en:{kind}"]["length"] < 0.7, sounds
    else:
        assert "en:start" not in sounds
    # ... whose exit button closes the app
    assert data["exited"] and "still_running_after_exit" not in data

    box = Outbox(tmp_path / "outbox.db")
    rows = [decode(r.topic, r.payload) for r in box.peek(0, 100)][PREFILL:]
    box.close()
    assert [(r.rating, r.reason, r.lang) for r in rows] == [(5, None, lang), (1, "waiting", lang), (2, None, lang)]
    assert all(r.site == "ubnd-xa-tan-lap" and r.officer == "nguyen-van-an" and r.service == "ho-tich" for r in rows)
    assert len({r.id for r in rows}) == 3

    for screen in ("rating", "followup", "thanks", "technician"):
        assert (artifacts / f"{screen}-{lang}.png").stat().st_size > 10_000
    if lang in ("vi", "en"):
        doc_image(artifacts / f"rating-{lang}.png", f"kiosk-rating-{lang}.png")


@pytest.mark.mosquitto
def test_cli_run_connects_to_mqtt_url_and_stops_cleanly_on_sigterm(mosquitto, tmp_path):
    """`python -m kiosk run --windowed ... --mqtt-url ...`: the status goes online, and SIGTERM (systemd stop)
    closes the app, which says offline itself."""
    import signal
    import time

    from broker.contract import status_topic
    from tests.integration.test_kiosk_uplink import Subscriber, wait_for

    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG.replace("device: quay-01", "device: quay-cli"), encoding="utf-8")
    env = {**os.environ, "KIOSK_TEST_PIN": PIN, "KIVY_NO_ARGS": "1", "KCFG_KIVY_LOG_LEVEL": "warning",
           "KIVY_HOME": str(tmp_path / "kivy-home")}
    if not env.get("DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    env["SDL_AUDIODRIVER"] = "dummy"  # plays into nothing: the test machine has no sound card
    sub = Subscriber(mosquitto.port, status_topic("ubnd-xa-tan-lap", "quay-cli"), client_id="cli-watch")
    p = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(cfg), "--windowed", "800x480",
                          "--mqtt-url", f"mqtt://127.0.0.1:{mosquitto.port}"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: any(json.loads(pl)["state"] == "online" for _, pl, _ in sub.messages), 30), \
            p.stdout.read() if p.poll() is not None else "no online status"
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0, out[-3000:]
        assert wait_for(lambda: json.loads(sub.messages[-1][1])["state"] == "offline", 5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sub.close()
