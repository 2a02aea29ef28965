"""The embedded broker (no Mosquitto) carries the same kiosk -> collector flow over MQTT 3.1.1."""
from __future__ import annotations

import subprocess
import sys

from tests.e2e import chain
from tests.servers import free_port, wait_port


def test_simulated_kiosk_to_collector_through_the_embedded_broker(tmp_path):
    port = free_port()
    broker = subprocess.Popen([sys.executable, "-m", "broker", "embedded", "--port", str(port)],
                              cwd=chain.ROOT, stdout=open(tmp_path / "broker.log", "wb"), stderr=subprocess.STDOUT)
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = None
    try:
        wait_port(port, 20)
        cfg = tmp_path / "collector.yaml"
        # amqtt speaks 3.1.1 only and keeps sessions only for clients with a username
        cfg.write_text(f"kind: collector\nbroker: {{host: 127.0.0.1, port: {port}, protocol: '3.1.1', "
                       f"client_id: demo-collector, username: demo-collector}}\n"
                       f"database: {{url: '{db_url}'}}\nlog_interval_s: 2\n")
        collector = chain.Proc("collector", [chain.PY, "-m", "collector", "run", "--config", str(cfg)], tmp_path).start()
        kcfg = tmp_path / "kiosk.yaml"
        kcfg.write_text(f"kind: kiosk\nsite: ubnd-xa-a\ndevice: quay-1\n"
                        f"broker: {{host: 127.0.0.1, port: {port}, protocol: '3.1.1', username: quay-1}}\n"
                        f"outbox: {{path: outbox-k1.db}}\nrepeat_window_s: 0\n")
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 20), collector.tail()
        chain.tap_until_stored(tmp_path, kcfg, 60, db_url, collector)
        assert collector.stop() == 0
    finally:
        if collector is not None:
            collector.stop()
        broker.terminate()
        broker.wait(10)
