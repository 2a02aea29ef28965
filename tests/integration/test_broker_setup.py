"""The generated Mosquitto set-up, run by a real Mosquitto from the files `init` wrote."""
from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker import setup
from broker.__main__ import main
from broker.contract import rating_topic
from config import load
from config.common import BrokerConnection
from tests.servers import Mosquitto, free_port, wait_port

pytestmark = pytest.mark.mosquitto
ROOT = Path(__file__).resolve().parents[2]


def init_dir(folder: Path) -> tuple[int, int]:
    """init from a broker.yaml bound to loopback, on free ports; returns (tls_port, local_port)."""
    folder.mkdir(parents=True, exist_ok=True)
    yml = folder.parent / f"{folder.name}-broker.yaml"
    yml.write_text("kind: broker\nhostnames: [127.0.0.1, localhost]\nlisteners:\n  tls: {bind: 127.0.0.1}\n")
    tls_port, local_port = free_port(), free_port()
    assert main(["init", "--dir", str(folder), "--config", str(yml),
                 "--tls-port", str(tls_port), "--local-port", str(local_port)]) == 0
    return tls_port, local_port


def secret(folder: Path, user: str) -> str:
    return (folder / "secrets" / f"{user}.pass").read_text().strip()


class Conn:
    """A paho client that records connect results and messages."""

    def __init__(self, port: int, user: str | None = None, password: str | None = None, ca: Path | None = None,
                 client_id: str = "", persistent: bool = False, protocol=mqtt.MQTTv5):
        self.port, self.persistent = port, persistent
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        if user:
            self.c.username_pw_set(user, password)
        if ca:
            self.c.tls_set(ca_certs=str(ca))
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.c.on_disconnect = lambda *a: self.dropped.set()
        self.result = None
        self.messages: list[tuple[str, bytes]] = []
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))

    def _on_connect(self, client, userdata, flags, reason_code, props):
        self.result = reason_code
        self.connected.set()

    def connect(self, timeout: float = 5.0):
        props = None
        if self.persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        if self.c.protocol == mqtt.MQTTv5:
            self.c.connect("127.0.0.1", self.port, clean_start=not self.persistent, properties=props)
        else:
            self.c.connect("127.0.0.1", self.port)
        self.c.loop_start()
        assert self.connected.wait(timeout), "no CONNACK"
        return self.result

    def subscribe(self, flt: str) -> list:
        """Subscribe at QoS 1; returns the broker's reason codes (a failure when it refused)."""
        done = threading.Event()
        codes: list = []
        self.c.on_subscribe = lambda client, userdata, mid, reason_codes, props: (codes.extend(reason_codes), done.set())
        self.c.subscribe(flt, qos=1)
        assert done.wait(5), "no SUBACK"
        return codes

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def publish_all(conn: Conn, topic: str, payloads: list[bytes]) -> None:
    for p in payloads:
        conn.c.publish(topic, p, qos=1).wait_for_publish(5)


_brokers: dict[Path, Mosquitto] = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One broker folder: kiosks tan-lap/quay-1 and tan-lap/quay-2, collector main; Mosquitto running on it."""
    folder = tmp_path_factory.mktemp("broker") / "etc"
    tls_port, local_port = init_dir(folder)
    for dev in ("quay-1", "quay-2"):
        setup.add_device(folder, "tan-lap", dev)
    setup.add_collector(folder, "main")
    broker = Mosquitto(folder, port=tls_port, conf_file=folder / "mosquitto.conf").start()
    wait_port(local_port)
    _brokers[folder] = broker
    yield folder, tls_port, local_port
    broker.stop()


@pytest.fixture
def collector(site):
    folder, tls_port, _ = site
    c = Conn(tls_port, "collector-main", secret(folder, "collector-main"), ca=folder / "certs" / "ca.crt")
    assert not c.connect().is_failure
    yield c
    c.close()


def test_anonymous_client_is_refused(site):
    _, _, local_port = site
    conn = Conn(local_port)
    rc = conn.connect()
    conn.close()
    assert rc.is_failure and rc.getName() == "Not authorized"


def test_wrong_password_is_refused(site):
    _, _, local_port = site
    conn = Conn(local_port, "tan-lap--quay-1", "not-the-password")
    rc = conn.connect()
    conn.close()
    assert rc.is_failure


def publish_once(port: int, user: str, password: str, topic: str, payload: bytes, qos: int = 1) -> None:
    """Connect, publish, wait for the ack or the broker closing the connection, disconnect."""
    kiosk = Conn(port, user, password)
    assert not kiosk.connect().is_failure
    info = kiosk.c.publish(topic, payload, qos=qos)
    try:
        info.wait_for_publish(3)
    except RuntimeError:
        pass  # Mosquitto 2.0.11 closes the connection after refusing a QoS 1 publish
    kiosk.close()


def test_a_kiosk_cannot_publish_on_another_kiosks_topic(site, collector):
    folder, _, local_port = site
    collector.subscribe("hailong/v1/+/+/rating")
    cred = ("tan-lap--quay-1", secret(folder, "tan-lap--quay-1"))
    publish_once(local_port, *cred, rating_topic("tan-lap", "quay-2"), b"forged", qos=1)
    publish_once(local_port, *cred, rating_topic("tan-lap", "quay-2"), b"forged0", qos=0)
    publish_once(local_port, *cred, "hailong/v1/other/thing", b"outside")
    publish_once(local_port, *cred, rating_topic("tan-lap", "quay-1"), b"own")  # arrives after the others would have
    collector.wait_for(1)
    time.sleep(0.3)
    assert collector.messages == [(rating_topic("tan-lap", "quay-1"), b"own")]


def test_a_kiosk_publishes_its_own_topics_over_tls_with_the_printed_block(site, collector, tmp_path):
    folder, _, _ = site
    for kind in ("rating", "status"):  # shared subscriptions pass the ACL too
        assert not collector.subscribe(f"$share/collectors/hailong/v1/+/+/{kind}")[0].is_failure
    issued = setup.add_device(folder, "tan-lap", "quay-3")
    assert issued.note.startswith("applied to the running Mosquitto")
    # the kiosk's folder: kiosk.yaml's broker block plus the two copied files
    (tmp_path / "ca.crt").write_bytes((folder / "certs" / "ca.crt").read_bytes())
    (tmp_path / "tan-lap--quay-3.pass").write_bytes(issued.password_file.read_bytes())
    (tmp_path / "kiosk.yaml").write_text("site: tan-lap\ndevice: quay-3\n" + issued.yaml_block)
    b = load(tmp_path / "kiosk.yaml", kind="kiosk").broker
    assert isinstance(b, BrokerConnection) and b.tls is not None
    kiosk = Conn(b.port, b.username, b.password.resolve(), ca=b.tls.ca)
    assert not kiosk.connect().is_failure
    publish_all(kiosk, rating_topic("tan-lap", "quay-3"), [b"r"])
    publish_all(kiosk, f"{b.topic_prefix}/tan-lap/quay-3/status", [b"s"])
    kiosk.close()
    assert sorted(collector.wait_for(2)) == [(rating_topic("tan-lap", "quay-3"), b"r"),
                                             ("hailong/v1/tan-lap/quay-3/status", b"s")]


def test_a_client_that_does_not_trust_the_ca_is_refused(site):
    folder, tls_port, _ = site
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set("tan-lap--quay-1", secret(folder, "tan-lap--quay-1"))
    c.tls_set()  # the system's CAs only
    with pytest.raises(ssl.SSLError):
        c.connect("127.0.0.1", tls_port)


def test_a_removed_device_is_refused_after_run_reloads(tmp_path, capsys):
    folder = tmp_path / "etc"
    tls_port, local_port = init_dir(folder)
    setup.add_device(folder, "tan-lap", "quay-9")
    password = secret(folder, "tan-lap--quay-9")
    proc = subprocess.Popen([sys.executable, "-m", "broker", "run", "--dir", str(folder)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(local_port)
        assert int((folder / "mosquitto.pid").read_text()) == proc.pid  # `run` became mosquitto
        before = Conn(local_port, "tan-lap--quay-9", password)
        assert not before.connect().is_failure
        capsys.readouterr()
        assert main(["remove-device", "tan-lap", "quay-9", "--dir", str(folder)]) == 0
        assert "applied to the running Mosquitto" in capsys.readouterr().out
        assert before.dropped.wait(5), "removing the device did not disconnect it"
        before.close()
        time.sleep(0.5)
        after = Conn(local_port, "tan-lap--quay-9", password)
        rc = after.connect()
        after.close()
        assert rc.is_failure and rc.getName() == "Not authorized"
    finally:
        proc.terminate()
        proc.wait(10)


def test_qos1_messages_survive_a_broker_restart_for_a_persistent_subscriber(tmp_path):
    folder = tmp_path / "etc"
    tls_port, local_port = init_dir(folder)
    setup.add_device(folder, "tan-lap", "quay-1")
    setup.add_collector(folder, "main")
    broker = Mosquitto(folder, port=tls_port, conf_file=folder / "mosquitto.conf").start()
    ca = folder / "certs" / "ca.crt"
    try:
        sub = Conn(tls_port, "collector-main", secret(folder, "collector-main"), ca=ca, client_id="col-1",
                   persistent=True)
        assert not sub.connect().is_failure
        sub.subscribe("hailong/v1/+/+/rating")
        sub.close()

        kiosk = Conn(tls_port, "tan-lap--quay-1", secret(folder, "tan-lap--quay-1"), ca=ca)
        assert not kiosk.connect().is_failure
        payloads = [f"r{i}".encode() for i in range(50)]
        publish_all(kiosk, rating_topic("tan-lap", "quay-1"), payloads)  # every PUBACK received
        kiosk.close()

        broker.restart()
        sub = Conn(tls_port, "collector-main", secret(folder, "collector-main"), ca=ca, client_id="col-1",
                   persistent=True)
        assert not sub.connect().is_failure
        got = sub.wait_for(len(payloads))
        sub.close()
        assert sorted(p for _, p in got) == sorted(payloads)
    finally:
        broker.stop()
