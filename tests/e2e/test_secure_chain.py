"""The production set-up end to end: a Mosquitto from `broker init` (TLS, passwords, ACL), a kiosk
with the block `add-device` printed, a collector with its `add-collector` account; nothing anonymous."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e import chain
from tests.servers import Mosquitto, free_port, wait_port


def broker_cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "broker", *args], cwd=chain.ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def init_tls_broker(workdir: Path) -> tuple[Path, int]:
    """`broker init` into workdir/broker from a broker.yaml listening with TLS on a free loopback port:
    (the broker folder, its TLS port)."""
    bdir, tls_port = workdir / "broker", free_port()
    (workdir / "broker.yaml").write_text("kind: broker\nhostnames: [127.0.0.1, localhost]\n"
                                         "listeners:\n  tls: {bind: 127.0.0.1}\n")
    broker_cli("init", "--dir", str(bdir), "--config", str(workdir / "broker.yaml"), "--tls-port", str(tls_port))
    return bdir, tls_port


def yaml_block(printed: str) -> str:
    """The `broker:` block add-device / add-collector print for pasting into a YAML file."""
    return "\n".join(line for line in printed.splitlines() if not line.startswith("#")) + "\n"


def test_kiosk_to_collector_over_tls_with_per_device_credentials(tmp_path):
    bdir, tls_port = init_tls_broker(tmp_path)
    kiosk_block = yaml_block(broker_cli("add-device", "ubnd-xa-a", "quay-1", "--dir", str(bdir)))
    collector_block = yaml_block(broker_cli("add-collector", "main", "--dir", str(bdir)))
    # What a technician copies next to each YAML file: the CA and the account's password file.
    for f in ("certs/ca.crt", "secrets/ubnd-xa-a--quay-1.pass", "secrets/collector-main.pass"):
        shutil.copy(bdir / f, tmp_path)
    assert f"port: {tls_port}" in kiosk_block and "tls:" in kiosk_block

    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector_yaml = tmp_path / "collector.yaml"
    collector_yaml.write_text("kind: collector\n" + collector_block.replace("broker:\n", "broker:\n  client_id: main\n", 1)
                              + f"database: {{url: '{db_url}'}}\nlog_interval_s: 2\n")
    kiosk_yaml = tmp_path / "kiosk.yaml"
    kiosk_yaml.write_text("kind: kiosk\nsite: ubnd-xa-a\ndevice: quay-1\n" + kiosk_block +
                          "outbox: {path: outbox-k.db}\nrepeat_window_s: 0\n")
    collector = chain.Proc("collector", [chain.PY, "-m", "collector", "run", "--config", str(collector_yaml)],
                           tmp_path).start()
    try:
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
        chain.tap_until_stored(tmp_path, kiosk_yaml, 40, db_url, collector)
        # The kiosk's status reached the devices table through the same ACL.
        assert chain.wait_for(lambda: bool(_device_rows(db_url)), 15)
        assert re.search(r"connected to broker 127\.0\.0\.1:\d+", collector.tail())
    finally:
        collector.stop()
        broker.stop()


def _device_rows(db_url):
    from collector.storage.db import connect

    db = connect(db_url)
    try:
        return db.query("SELECT site, device, state FROM devices WHERE site = 'ubnd-xa-a'")
    finally:
        db.close()
