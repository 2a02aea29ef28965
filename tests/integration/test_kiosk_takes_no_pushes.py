"""A kiosk configured by hand without fleet.public_key ignores every pushed config. Its status says so
(pushes: off), the collector keeps it, and the devices page, the API and `fleet status` show it, Vietnamese
first; a kiosk with the fleet key says pushes: on and is shown as usual. Real Mosquitto, collector and kiosks."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from broker import fleet
from broker.fleet_view import NO_PUSHES
from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.web.api import device_health
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from tests.e2e import chain
from tests.e2e.chain import query as q
from tests.integration.test_dashboard_attacks import get, login

pytestmark = pytest.mark.mosquitto
SITE = "xa-tu-cau-hinh"
PASSWORD = "mật-khẩu-đúng-1"


def test_a_kiosk_without_the_fleet_key_says_it_takes_no_pushes_and_the_devices_page_shows_it(mosquitto, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = chain.start_collector(tmp_path, mosquitto.port, db_url)
    fleet.keygen(tmp_path)
    kiosks = []
    try:
        chain.wait_subscribed(mosquitto.port, db_url)
        for device, fleet_key in (("by-hand", ""), ("enrolled", "fleet: {public_key: fleet.pub}\n")):
            cfg = chain.kiosk_config(tmp_path, SITE, device, mosquitto.port)
            cfg.write_text(cfg.read_text(encoding="utf-8") + fleet_key, encoding="utf-8")
            kiosks.append(chain.Proc(f"kiosk-{device}", [chain.PY, "-m", "kiosk", "simulate", "--config", str(cfg),
                                                         "--count", "1", "--rate", "2", "--stay"], tmp_path).start())
        pushes = lambda: dict(q(db_url, "SELECT device, pushes FROM devices WHERE site = ?", (SITE,)))  # noqa: E731
        assert chain.wait_for(lambda: pushes() == {"by-hand": "off", "enrolled": "on"}, 60), \
            (pushes(), kiosks[0].tail())

        cfg = CollectorConfig.model_validate({"dashboard": {"lang": "vi"}})
        db = connect(db_url)
        app = Dashboard(cfg, db, PASSWORD)
        server, url = start_in_thread(app)
        try:
            cookie = re.search(r"hl_session=([^;]+)", login(url, PASSWORD).getheader("Set-Cookie")).group(1)
            status, _, body = get(url, "/devices", cookie)
            api = {d["device"]: d for d in device_health(app, Scope("all"), {})["devices"] if d["site"] == SITE}
        finally:
            server.shutdown()
            server.server_close()
            app.close()
            db.close()
        assert status == 200
        rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr[^>]*>(?:(?!</tr>).)*?<td[^>]*>(by-hand|enrolled)</td>"
                                                             r"(?:(?!</tr>).)*</tr>", body.decode(), re.S)}
        assert set(rows) == {"by-hand", "enrolled"}, body.decode()[-3000:]
        assert "Không nhận cấu hình đẩy / takes no pushes" in rows["by-hand"]
        assert NO_PUSHES not in rows["enrolled"]
        assert (api["by-hand"]["takes_pushes"], api["enrolled"]["takes_pushes"]) == (False, True)

        push_yaml = tmp_path / "push.yaml"
        push_yaml.write_text(f"kind: fleet\nkey: {tmp_path / 'fleet.key'}\n"
                             f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n", encoding="utf-8")
        out = subprocess.run([chain.PY, "-m", "broker", "fleet", "status", "--settings", str(push_yaml), "--wait", "2"],
                             cwd=chain.ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith(SITE + "/")}
        assert NO_PUSHES in lines[f"{SITE}/by-hand"] and NO_PUSHES not in lines[f"{SITE}/enrolled"]
    finally:
        for k in kiosks:
            k.stop()
        collector.stop()
        _clear_statuses(mosquitto.port)


def _clear_statuses(port: int) -> None:
    """The session broker is shared: leave no retained status of these kiosks behind."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for device in ("by-hand", "enrolled"):
        c.publish(f"hailong/v1/{SITE}/{device}/status", b"", qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def test_the_status_field_is_optional_for_kiosks_older_than_it():
    from pydantic import ValidationError

    from broker.contract import StatusV2, decode, encode, status_topic

    fields = dict(site=SITE, device="old", state="online", ts="2026-11-27T01:00:00Z", app_version="0.9",
                  outbox_depth=0, boot="b1", mono_ms=5, clock="synced",
                  epoch="5f0c2a9e-7d1b-4c3a-8e2f-9a0b1c2d3e4f", seq_last=0)
    payload = encode(StatusV2(**fields)).replace(b',"pushes":null', b"")
    assert b"pushes" not in payload  # as a kiosk older than the field sends it
    old = decode(status_topic(SITE, "old"), payload)
    assert old.pushes is None
    assert decode(status_topic(SITE, "new"), encode(StatusV2(**{**fields, "device": "new", "pushes": "off"}))).pushes == "off"
    with pytest.raises(ValidationError):
        StatusV2(**{**fields, "pushes": "maybe"})
