"""python -m broker fleet push signs every device's merged config and leaves it retained at a real
Mosquitto, where each kiosk (and one that was offline during the push) finds and accepts it."""
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker import fleet
from broker.contract import ConfigPush, decode
from kiosk.config_apply import ConfigTaker

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]


def cli(*args, check=True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "broker", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"exit {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def make_fleet(tmp_path: Path, port: int, n_devices: int = 3) -> Path:
    root = tmp_path / "fleet"
    (root / "devices" / "xa-a").mkdir(parents=True)
    (root / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {port}}}\n"
        "fleet: {public_key: fleet.pub}\n"
        "followup:\n  reasons:\n    - key: waiting\n      texts: {vi: \"Chờ đợi lâu\"}\n", encoding="utf-8")
    for i in range(1, n_devices + 1):
        (root / "devices" / "xa-a" / f"quay-{i}.yaml").write_text("", encoding="utf-8")
    cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    (root / "push.yaml").write_text(
        f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\nbroker: {{host: 127.0.0.1, port: {port}}}\n",
        encoding="utf-8")
    return root


def retained_configs(port: int, wait_s: float = 1.5) -> dict[str, ConfigPush]:
    got: dict[str, ConfigPush] = {}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda _c, _u, m: got.__setitem__(m.topic, decode(m.topic, m.payload))
    c.connect("127.0.0.1", port)
    c.subscribe("hailong/v1/+/+/config", qos=1)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        c.loop(0.1)
    c.disconnect()
    return got


def test_push_publishes_signed_retained_configs_that_kiosks_accept(mosquitto, tmp_path):
    root = make_fleet(tmp_path, mosquitto.port)
    dry = cli("fleet", "push", str(root), "--dry-run")
    assert "3 config(s) checked and signed; nothing published" in dry.stdout
    assert retained_configs(mosquitto.port, 0.5) == {}
    res = cli("fleet", "push", str(root))
    assert "3 config(s) published" in res.stdout
    got = retained_configs(mosquitto.port)
    assert sorted(got) == [f"hailong/v1/xa-a/quay-{i}/config" for i in (1, 2, 3)]
    # a kiosk that comes later (offline during the push) finds its retained config and applies it
    device_dir = tmp_path / "quay-2"
    device_dir.mkdir()
    cfg = device_dir / "kiosk.yaml"
    (device_dir / "fleet.pub").write_bytes((tmp_path / "keys" / "fleet.pub").read_bytes())
    cfg.write_text("kind: kiosk\nsite: xa-a\ndevice: quay-2\n", encoding="utf-8")
    taker = ConfigTaker(cfg, "xa-a", "quay-2", [fleet.load_public(tmp_path / "keys" / "fleet.pub")], "hailong/v1")
    push = got["hailong/v1/xa-a/quay-2/config"]
    from broker.contract import encode
    out = taker.offer("hailong/v1/xa-a/quay-2/config", encode(push), now=1.0)
    assert out.event == "config_applied" and out.config.followup.reasons[0].key == "waiting"
    assert out.config_hash == push.sha256[:12]
    clear_retained(mosquitto.port, list(got))


def clear_retained(port: int, topics: list[str]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for t in topics:
        c.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def test_push_refuses_a_fleet_with_a_mistake_and_names_it(mosquitto, tmp_path):
    root = make_fleet(tmp_path, mosquitto.port)
    (root / "devices" / "xa-a" / "quay-2.yaml").write_text("faces:\n  scale: 9\n", encoding="utf-8")
    res = cli("fleet", "push", str(root), "--site", "xa-a", check=False)
    assert res.returncode == 1
    assert "devices/xa-a/quay-2.yaml:2: faces.scale: 9 is not allowed; use 2 to 5" in res.stderr
    assert "nothing pushed" in res.stderr


def test_push_without_a_key_says_how_to_make_one(mosquitto, tmp_path):
    root = make_fleet(tmp_path, mosquitto.port)
    (tmp_path / "keys" / "fleet.key").unlink()
    res = cli("fleet", "push", str(root), check=False)
    assert res.returncode == 2 and "python -m broker fleet keygen" in res.stderr
