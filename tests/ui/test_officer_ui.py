"""Officers at the counter in the real kiosk window under Xvfb, by real touches: the discreet entry,
wrong PIN and lockout, today's service, the officer's name and photo in Vietnamese and English,
ratings carrying officer and service, sign-out by the officer and at closing time, all as durable
events in the outbox."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker.contract import Event, RatingV2, decode
from config.pins import hash_pin
from kiosk.outbox import Outbox
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "officer_driver.py"


def write_photo(path: Path) -> None:
    """A small real PNG portrait stand-in: a blue disc on a light background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 96), (235, 238, 242))
    ImageDraw.Draw(img).ellipse((18, 10, 78, 70), fill=(40, 90, 160))
    ImageDraw.Draw(img).rectangle((10, 72, 86, 96), fill=(40, 90, 160))
    img.save(path)


def write_config(tmp_path: Path) -> Path:
    (tmp_path / "centre").mkdir()
    write_photo(tmp_path / "centre" / "binh.png")
    fast = dict(log2_n=10)  # a real scrypt hash, cheap enough for a test
    (tmp_path / "centre" / "staff.yaml").write_text(f"""kind: staff
site: ubnd-xa-tan-lap
staff:
  - key: tran-thi-binh
    name: Trần Thị Bình
    photo: binh.png
    pin_hash: "{hash_pin('1357', **fast)}"
    services: [ho-tich, dat-dai]
  - key: le-van-cuong
    name: Lê Văn Cường
    pin_hash: "{hash_pin('2468', **fast)}"
    services: [ho-tich]
""", encoding="utf-8")
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text("""kind: kiosk
site: ubnd-xa-tan-lap
device: quay-02
officer: co-dinh
services:
  - {key: ho-tich, name: "Hộ tịch"}
  - {key: dat-dai, name: "Đất đai"}
staff: {file: centre/staff.yaml}
duty:
  opening_hours: {mon-fri: ["07:00-11:30", "13:00-17:00"]}
  idle_sign_out_s: 0
  hold_s: 1
followup:
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time"}}
timeouts: {thank_you_s: 1}
repeat_window_s: 0
settle_s: 0
""", encoding="utf-8")
    return cfg


def test_officer_sign_in_rate_sign_out_by_touch(tmp_path, artifacts, doc_image):
    cfg = write_config(tmp_path)
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(tmp_path / "outbox.db"), str(artifacts),
                          str(result)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    steps = {s["step"]: s for s in data["steps"]}

    assert steps["start"]["officer_line"] == "" and steps["start"]["status"]["officer"] is None
    assert steps["short_press"]["screen"] == "rating"
    assert steps["pick"]["screen"] == "officer_pick"
    assert {"Trần Thị Bình", "Lê Văn Cường"} <= set(steps["pick"]["texts"])
    assert steps["wrong_pin"]["screen"] == "officer_pin" and "Sai mã PIN / Wrong PIN" in steps["wrong_pin"]["message"]
    assert steps["service"]["screen"] == "officer_service" and {"Hộ tịch", "Đất đai"} <= set(steps["service"]["texts"])
    vi, en = steps["rating_vi"], steps["rating_en"]
    assert vi["screen"] == "rating" and "Cán bộ tiếp nhận: Trần Thị Bình" in vi["badge_text"]
    assert vi["photo"].endswith("binh.png")
    assert "Officer: Trần Thị Bình" in en["badge_text"]
    assert vi["status"]["officer"] == "tran-thi-binh"
    # the thank-you never tells what was pressed, nor the officer's ratings
    assert not any("Bình" in t for t in steps["thanks"]["texts"]) and not steps["thanks"]["badge_visible"]
    assert steps["rating_vi"]["badge_visible"]
    assert steps["on_duty"]["screen"] == "officer_on_duty"
    assert steps["signed_out"]["officer_line"] == "" and steps["signed_out"]["status"]["officer"] is None
    assert any(t.endswith(": Lê Văn Cường") for t in steps["cuong"]["badge_text"])
    assert steps["after_closing"]["officer_line"] == "" and steps["after_closing"]["status"]["officer"] is None
    assert steps["locked"]["screen"] == "officer_pin" and "Locked, try again in 4:5" in steps["locked"]["message"]
    assert steps["locked_right_pin"]["screen"] == "officer_pin"  # still locked: not signed in

    box = Outbox(tmp_path / "outbox.db")
    msgs = [decode(r.topic, r.payload) for r in box.peek(0, 100)]
    box.close()
    ratings = [m for m in msgs if isinstance(m, RatingV2)]
    events = [m for m in msgs if isinstance(m, Event)]
    assert [(r.rating, r.officer, r.service) for r in ratings] == [
        (5, "tran-thi-binh", "dat-dai"), (2, "tran-thi-binh", "dat-dai"), (5, "co-dinh", None)]
    assert [(e.type, e.officer, e.service, e.detail) for e in events] == [
        ("sign_in", "tran-thi-binh", "dat-dai", None), ("sign_out", "tran-thi-binh", "dat-dai", None),
        ("sign_in", "le-van-cuong", "ho-tich", None), ("auto_sign_out", "le-van-cuong", "ho-tich", "closing time"),
        ("sign_in", "tran-thi-binh", "ho-tich", None), ("auto_sign_out", "tran-thi-binh", "ho-tich", "kiosk stopped")]
    assert steps["before_stop"]["status"]["officer"] == "tran-thi-binh"
    assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1))  # one gap-free sequence, shifts included

    for name in ("officer-pick", "officer-pin-wrong", "officer-service", "officer-locked", "rating-officer-vi",
                 "rating-officer-en"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
        doc_image(artifacts / f"{name}.png", f"kiosk-{name}.png")


@pytest.mark.mosquitto
def test_on_request_kiosk_waits_then_rates_the_desks_dossier(mosquitto, tmp_path, artifacts, doc_image):
    """A calm waiting screen until the desk asks through a real Mosquitto; the next tap carries the
    dossier and ticket; a request nobody answers becomes a request_expired event."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text("""kind: kiosk
site: ubnd-xa-tan-lap
device: quay-03
requests: {mode: on_request}
timeouts: {thank_you_s: 1}
repeat_window_s: 0
settle_s: 0
outbox: {receipts: false}   # no collector here: the test reads what reached the broker
""", encoding="utf-8")
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"kind: desk\nbroker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n", encoding="utf-8")
    got: list = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, m: got.append(decode(m.topic, m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("hailong/v1/ubnd-xa-tan-lap/quay-03/+", qos=1)
    sub.loop_start()
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    try:
        out = subprocess.run([sys.executable, str(ROOT / "tests" / "ui" / "request_driver.py"), str(cfg),
                              str(tmp_path / "outbox.db"), str(mosquitto.port), str(desk), str(artifacts), str(result)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        import time
        time.sleep(0.5)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    assert all(c["rc"] == 0 for c in data["cli"]), data["cli"]
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["idle"]["screen"] == "waiting" and "Xin chào!" in steps["idle"]["texts"]
    assert steps["asked"]["screen"] == "rating" and steps["after"]["screen"] == "waiting"
    assert steps["expired"]["screen"] == "waiting" and data["depth"] == 0

    ratings = [m for m in got if isinstance(m, RatingV2)]
    events = [m for m in got if isinstance(m, Event)]
    assert [(r.rating, r.dossier, r.ticket, r.service) for r in ratings] == [(5, "H56.22-261126-0007", "A015", "ho-tich")]
    assert ratings[0].request is not None
    assert [(e.type, e.dossier) for e in events] == [("request_expired", "H56.22-261126-0008")]
    doc_image(artifacts / "waiting-vi.png", "kiosk-waiting-vi.png")
