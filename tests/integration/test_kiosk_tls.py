"""The uplink over TLS with a username and password from a secret, against a real Mosquitto."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broker.contract import decode, rating_topic
from config.kiosk import KioskConfig
from kiosk.flow import Flow
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.integration.test_kiosk_uplink import wait_for
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, obj):
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


@pytest.fixture
def tls_broker(tmp_path):
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, ca_key, ca=True)
    _write(tmp_path / "ca.crt", ca)
    _write(tmp_path / "server.crt", _cert("127.0.0.1", ca_key, ca.subject, srv_key, ca=False))
    _write(tmp_path / "server.key", srv_key)
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "kiosk-user", "s3cret-pw"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "watcher", "watch-pw"], check=True)
    os.chmod(passwd, 0o600)
    port, plain = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"{user}per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
                    f"log_dest stdout\nlistener {port} 127.0.0.1\ncafile {tmp_path / 'ca.crt'}\n"
                    f"certfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n"
                    f"listener {plain} 127.0.0.1\n")
    broker = Mosquitto(tmp_path / "broker", port=plain, conf_file=conf).start()
    yield port, plain, tmp_path
    broker.stop()


def _cfg(port: int, ca, env: str) -> KioskConfig:
    return KioskConfig.model_validate({
        "site": "site-tls", "device": "quay-01",
        "broker": {"host": "127.0.0.1", "port": port, "tls": {"ca": str(ca)}, "username": "kiosk-user",
                   "password": {"env": env}, "keepalive_s": 5}})


def test_rating_arrives_over_tls_with_password(tls_broker, tmp_path, monkeypatch):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port, plain, certs = tls_broker
    monkeypatch.setenv("KIOSK_TLS_PW", "s3cret-pw")
    got = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-watch")
    sub.username_pw_set("watcher", "watch-pw")
    sub.on_message = lambda c, u, m: got.append(m)
    sub.connect("127.0.0.1", plain)
    sub.subscribe(rating_topic("site-tls", "quay-01"), qos=1)
    sub.loop_start()
    cfg = _cfg(port, certs / "ca.crt", "KIOSK_TLS_PW")
    box = Outbox(tmp_path / "o.db")
    flow = Flow(cfg, lambda r: box.add(r, rating_topic("site-tls", "quay-01")))
    up = Uplink(cfg, box).start()
    try:
        time.sleep(0.3)
        r = flow.tap_face(4, now=0.0)
        assert wait_for(lambda: got, 15), f"nothing arrived; uplink {up.state}: {up.last_error}"
        assert decode(got[0].topic, got[0].payload).id == r.id
        assert wait_for(lambda: box.depth() == 0, 5)
    finally:
        up.stop()
        box.close()
        sub.loop_stop()
        sub.disconnect()


def test_wrong_password_keeps_the_rating_and_says_why(tls_broker, tmp_path, monkeypatch):
    port, _plain, certs = tls_broker
    monkeypatch.setenv("KIOSK_TLS_PW", "wrong")
    cfg = _cfg(port, certs / "ca.crt", "KIOSK_TLS_PW")
    box = Outbox(tmp_path / "o.db")
    Flow(cfg, lambda r: box.add(r, rating_topic("site-tls", "quay-01"))).tap_face(5, now=0.0)
    up = Uplink(cfg, box).start()
    try:
        assert wait_for(lambda: up.last_error is not None, 10)
        time.sleep(1.0)
        assert up.state != "connected" and box.depth() == 1
        assert "refused" in up.last_error.lower() or "not authorized" in up.last_error.lower()
    finally:
        up.stop()
        box.close()
