"""An older signed config replayed on a kiosk's config topic does not take the kiosk back to it.

A real Mosquitto, a real collector, a simulated kiosk (``python -m kiosk simulate --stay``) with the
fleet's public key: the fleet pushes v1, then v2; someone who kept v1's signed payload publishes it
again (retained, as a bridge or collector account could read and resend it). The kiosk stays on v2,
across its own restart too, says once why, and the devices page shows the refusal in Vietnamese with
English beside it."""
from __future__ import annotations

import html
import re
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker import fleet
from broker.contract import config_topic, encode
from collector.storage.db import connect
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from tests.e2e import chain
from tests.e2e.chain import query as q
from tests.integration.test_dashboard_officers import login, request
from tests.servers import Mosquitto

SITE, DEVICE = "xa-a", "quay-01"
TOPIC = config_topic(SITE, DEVICE)
PASSWORD = "mật-khẩu-đúng-1"


def kiosk_yaml(port: int, reason: str) -> str:
    return (f"kind: kiosk\nsite: {SITE}\ndevice: {DEVICE}\n"
            f"broker: {{host: 127.0.0.1, port: {port}, keepalive_s: 5}}\n"
            "fleet: {public_key: fleet.pub}\nrepeat_window_s: 0\nstatus_interval_s: 5\noutbox: {path: outbox.db}\n"
            f"followup:\n  reasons:\n    - {{key: waiting, texts: {{vi: '{reason}', en: 'Long wait'}}}}\n")


def publish_retained(port: int, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(TOPIC, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.slow
def test_a_replayed_older_config_leaves_the_kiosk_on_the_newer_one_and_the_page_says_why(tmp_path):
    broker = Mosquitto(tmp_path / "broker").start()
    port = broker.port
    fleet.keygen(tmp_path / "keys")
    key = fleet.load_private(tmp_path / "keys" / "fleet.key")
    home = tmp_path / "kiosk"
    home.mkdir()
    (home / "fleet.pub").write_bytes((tmp_path / "keys" / "fleet.pub").read_bytes())
    (home / "kiosk.yaml").write_text(kiosk_yaml(port, "Chờ lâu"), encoding="utf-8")
    signed = datetime.now(timezone.utc) - timedelta(hours=1)
    v1_yaml, v2_yaml = kiosk_yaml(port, "Chờ lâu (v1)"), kiosk_yaml(port, "Chờ lâu (v2)")
    v1 = encode(fleet.sign(v1_yaml, SITE, DEVICE, key, ts=signed))
    v2 = encode(fleet.sign(v2_yaml, SITE, DEVICE, key, ts=signed + timedelta(minutes=10)))
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = chain.start_collector(tmp_path, port, db_url)
    kiosk_cmd = [chain.PY, "-m", "kiosk", "simulate", "--config", str(home / "kiosk.yaml"), "--count", "2",
                 "--rate", "2", "--journal", "--stay"]
    kiosk = chain.Proc("kiosk", kiosk_cmd, home)
    running = lambda: (home / "kiosk.yaml").read_text(encoding="utf-8")  # noqa: E731
    try:
        chain.wait_subscribed(port, db_url)
        kiosk.start()
        publish_retained(port, v1)
        assert chain.wait_for(lambda: running() == v1_yaml, 30), kiosk.tail()
        publish_retained(port, v2)
        assert chain.wait_for(lambda: running() == v2_yaml, 30), kiosk.tail()

        publish_retained(port, v1)  # the replay: v1's signed payload, kept from the first push
        assert chain.wait_for(lambda: "config_rejected" in kiosk.tail() and "stale" in kiosk.tail(), 30), kiosk.tail()
        assert running() == v2_yaml

        # restarted, the kiosk gets the retained v1 again at once: it stays on v2 and does not say it twice
        kiosk.stop()
        restarted_at = kiosk.log.stat().st_size
        kiosk.start()
        since_restart = lambda: kiosk.log.read_bytes()[restarted_at:].decode(errors="replace")  # noqa: E731
        assert chain.wait_for(lambda: "broker connected" in since_restart(), 30), since_restart()
        time.sleep(3)  # the retained v1 comes with the subscription; the kiosk looks at its inbox every 0.1 s
        assert running() == v2_yaml and kiosk.running()
        assert kiosk.tail(20000).count("stale") == 1, kiosk.tail()

        def stale_events() -> list[tuple]:
            return q(db_url, "SELECT config_hash, detail FROM events WHERE type = 'config_rejected' "
                             "AND site = ? AND device = ?", (SITE, DEVICE))

        assert chain.wait_for(lambda: len(stale_events()) == 1, 30), stale_events()
        [(config_hash, detail)] = stale_events()
        assert detail.startswith("stale:") and config_hash == fleet.sign(v1_yaml, SITE, DEVICE, key).sha256[:12]

        db = connect(db_url)
        app = Dashboard(CollectorConfig.model_validate({"dashboard": {"lang": "vi"}}), db, PASSWORD)
        server, url = start_in_thread(app)
        try:
            status, _, body = request(url, "/devices", headers=login(url, "admin", PASSWORD))
        finally:
            server.shutdown()
            server.server_close()
            app.close()
            db.close()
        assert status == 200
        text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body.decode())))
        assert "cấu hình cũ hơn cấu hình thiết bị đã chạy hoặc đã từ chối" in text, text[-3000:]
        assert "older than a config the kiosk already ran or refused" in text
        vi = text.index("cấu hình cũ hơn")
        assert vi < text.index("older than a config", vi)  # Vietnamese first, English beside it
    finally:
        kiosk.stop()
        collector.stop()
        broker.stop()
