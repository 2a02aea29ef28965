"""python -m kiosk request publishes a v2 request a kiosk can decode, and says clearly when it cannot."""
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.contract import Request, decode

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "request", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_a_request_reaches_the_device_topic(mosquitto, tmp_path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"kind: desk\nbroker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n", encoding="utf-8")
    got = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("hailong/v1/xa-a/quay-1/request", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    try:
        res = run("--settings", str(desk), "--site", "xa-a", "--device", "quay-1", "--dossier", "H56-261123-0001",
                  "--ticket", "A012", "--expires", "120")
        assert res.returncode == 0, res.stderr
        end = time.monotonic() + 5
        while not got and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    [(topic, payload)] = got
    req = decode(topic, payload)
    assert isinstance(req, Request) and (req.dossier, req.ticket, req.expires_s) == ("H56-261123-0001", "A012", 120)
    assert req.id in res.stdout


def test_bad_input_and_no_broker_are_explained(tmp_path):
    desk = tmp_path / "desk.yaml"
    desk.write_text("kind: desk\nbroker: {host: 127.0.0.1, port: 1}\n", encoding="utf-8")
    bad = run("--settings", str(desk), "--site", "xa-a", "--device", "quay-1", "--dossier", "has space")
    assert bad.returncode == 2 and "--dossier" in bad.stderr
    down = run("--settings", str(desk), "--site", "xa-a", "--device", "quay-1")
    assert down.returncode == 3 and "kiosk request:" in down.stderr
    missing = run("--settings", str(tmp_path / "nope.yaml"), "--site", "xa-a", "--device", "quay-1")
    assert missing.returncode == 2 and "file not found" in missing.stderr
