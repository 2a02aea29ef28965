"""Attacks on the generated broker set-up, each against a real Mosquitto started from what `init` wrote,
over its TLS listener: the accounts may do what broker/acl.py grants and nothing else."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker import setup
from broker.__main__ import main
from broker.contract import rating_topic, status_topic
from tests.integration.test_broker_setup import ROOT, Conn, init_dir, secret
from tests.servers import Mosquitto, wait_port

pytestmark = pytest.mark.mosquitto
SHARED = "$share/collectors/hailong/v1/+/+/rating"
KIOSK1, KIOSK2, OTHER_SITE = "tan-lap--quay-1", "tan-lap--quay-2", "xa-b--quay-1"


class Client(Conn):
    """Conn over the folder's TLS listener, with the PUBACK reason code of each publish."""

    def __init__(self, folder: Path, port: int, user: str, client_id: str = "", persistent: bool = False,
                 protocol=mqtt.MQTTv5, cert: str | None = None, password: str | None = None,
                 cert_dir: Path | None = None):
        super().__init__(port, user, password or secret(folder, user), client_id=client_id,
                         persistent=persistent, protocol=protocol)
        ca = folder / "certs" / "ca.crt"
        if cert:  # the account's certificate and key, from clients/ or a copy in cert_dir
            d = cert_dir or folder / "clients"
            self.c.tls_set(ca_certs=str(ca), certfile=str(d / f"{cert}.crt"), keyfile=str(d / f"{cert}.key"))
        else:
            self.c.tls_set(ca_certs=str(ca))
        self.acks: dict[int, object] = {}
        self.c.on_publish = lambda client, userdata, mid, rc, props: self.acks.__setitem__(mid, rc)
        self.retained: list[tuple[str, bytes]] = []
        self.c.on_message = self._on_msg

    def _on_msg(self, client, userdata, m):
        self.messages.append((m.topic, m.payload))
        if m.retain:
            self.retained.append((m.topic, m.payload))

    def publish(self, topic: str, payload: bytes, retain: bool = False):
        """Publish at QoS 1 and return the PUBACK's reason code (None if the broker closed the connection)."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        deadline = time.monotonic() + 3
        while info.mid not in self.acks and time.monotonic() < deadline and not self.dropped.is_set():
            time.sleep(0.01)
        return self.acks.get(info.mid)


def up(folder: Path, port: int, user: str, **kw) -> Client:
    c = Client(folder, port, user, **kw)
    rc = c.connect()
    assert not rc.is_failure, f"{user} refused: {rc}"
    return c


def refused(codes) -> bool:
    """A SUBACK that refuses the one filter subscribed."""
    return len(codes) == 1 and codes[0].is_failure


def accepted(rc) -> bool:
    """A PUBACK that says success (``rc`` from Client.publish)."""
    return rc is not None and not rc.is_failure


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Kiosks tan-lap/quay-1, quay-2 and xa-b/quay-1, collector main, desks of both sites, fleet main."""
    folder = tmp_path_factory.mktemp("attack") / "etc"
    tls_port, _ = init_dir(folder)
    for s, d in (("tan-lap", "quay-1"), ("tan-lap", "quay-2"), ("xa-b", "quay-1")):
        setup.add_device(folder, s, d)
    setup.add_collector(folder, "main")
    setup.add_desk(folder, "tan-lap", "front")
    setup.add_desk(folder, "xa-b", "front")
    setup.add_fleet(folder, "main")
    setup.add_bridge_user(folder, "xa-b", ["xa-b"])  # the bridge of commune xa-b carries its kiosks only
    broker = Mosquitto(folder, port=tls_port, conf_file=folder / "mosquitto.conf").start()
    yield folder, tls_port
    broker.stop()


def test_a_kiosk_cannot_join_the_collectors_shared_subscription(site):
    folder, port = site
    collector = up(folder, port, "collector-main")
    thief = up(folder, port, KIOSK1)
    thief311 = up(folder, port, OTHER_SITE, protocol=mqtt.MQTTv311)
    sender = up(folder, port, KIOSK2)
    try:
        assert not refused(collector.subscribe(SHARED))
        assert refused(thief.subscribe(SHARED)), "a kiosk account joined the collectors' shared subscription"
        assert refused(thief311.subscribe(SHARED))
        for i in range(10):
            assert accepted(sender.publish(rating_topic("tan-lap", "quay-2"), f"r{i}".encode()))
        got = collector.wait_for(10)
        time.sleep(0.3)
        assert sorted(p for _, p in got) == sorted(f"r{i}".encode() for i in range(10))
        assert thief.messages == [] and thief311.messages == []
    finally:
        for c in (collector, thief, thief311, sender):
            c.close()


@pytest.mark.parametrize("flt", ["#", "hailong/v1/#", "hailong/v1/+/+/rating", "hailong/v1/tan-lap/quay-1/+",
                                 "hailong/v1/tan-lap/quay-2/request", "hailong/v1/+/+/config",
                                 "$share/g/hailong/v1/tan-lap/quay-1/request", "$SYS/#",
                                 "$CONTROL/dynamic-security/v1/response"])
def test_a_kiosk_may_subscribe_to_nothing_but_its_own_inbound_topics(site, flt):
    folder, port = site
    kiosk = up(folder, port, KIOSK1)
    try:
        assert refused(kiosk.subscribe(flt)), f"a kiosk may subscribe to {flt}"
        for own in ("hailong/v1/tan-lap/quay-1/request", "hailong/v1/tan-lap/quay-1/config"):
            assert not refused(kiosk.subscribe(own))
    finally:
        kiosk.close()


def test_a_kiosk_cannot_change_accounts_through_the_control_topic(site):
    folder, port = site
    kiosk = up(folder, port, KIOSK1)
    try:
        rc = kiosk.publish("$CONTROL/dynamic-security/v1", json.dumps({"commands": [
            {"command": "createClient", "username": "intruder", "password": "x"}]}).encode())
        assert not accepted(rc)
    finally:
        kiosk.close()
    intruder = Client(folder, port, KIOSK1, password="x")
    intruder.c.username_pw_set("intruder", "x")
    assert intruder.connect().is_failure
    intruder.c.loop_stop()


def test_a_collector_publishes_nothing_but_the_time(site):
    folder, port = site
    collector = up(folder, port, "collector-main")
    try:
        assert not refused(collector.subscribe("hailong/v1/+/+/rating"))
        rc = collector.publish(rating_topic("tan-lap", "quay-1"), b"forged by a collector")
        assert not accepted(rc)
        time.sleep(0.3)
        assert collector.messages == []
    finally:
        collector.close()
    assert accepted(publish_as(folder, port, "collector-main", "hailong/v1/time", b'{"v":2,"ts":"2026-11-23T08:00:00Z"}'))
    # a kiosk reads the time but cannot say it
    kiosk = up(folder, port, "tan-lap--quay-1")
    try:
        assert not refused(kiosk.subscribe("hailong/v1/time"))
    finally:
        kiosk.close()
    assert not accepted(publish_as(folder, port, "tan-lap--quay-1", "hailong/v1/time", b'{"v":2,"ts":"1970-01-01T00:00:00Z"}'))


def test_a_kiosk_reusing_the_collectors_client_id_destroys_nothing(site):
    folder, port = site
    col = up(folder, port, "collector-main", client_id="victim", persistent=True)
    assert not refused(col.subscribe("hailong/v1/+/+/rating"))
    col.close()  # offline: its session keeps what arrives
    sender = up(folder, port, KIOSK2)
    for i in range(5):
        assert accepted(sender.publish(rating_topic("tan-lap", "quay-2"), f"q{i}".encode()))
    sender.close()
    attacker = up(folder, port, KIOSK1, client_id="victim", persistent=True)  # mosquitto_sub -c -i victim
    attacker.close()
    col = up(folder, port, "collector-main", client_id="victim", persistent=True)
    try:
        assert sorted(p for _, p in col.wait_for(5)) == [f"q{i}".encode() for i in range(5)]
        # and an online collector is not kicked off by the same trick
        attacker = up(folder, port, KIOSK1, client_id="victim", persistent=True)
        # the broker dealt with the attacker's CONNECT before its CONNACK: a rating sent now still reaching
        # the collector proves the collector's connection outlived it
        sender = up(folder, port, KIOSK2)
        try:
            assert accepted(sender.publish(rating_topic("tan-lap", "quay-2"), b"after"))
        finally:
            sender.close()
        assert (rating_topic("tan-lap", "quay-2"), b"after") in col.wait_for(6)
        attacker.close()
        assert not col.dropped.is_set(), "the collector was disconnected by a kiosk using its client id"
    finally:
        col.c.unsubscribe("hailong/v1/+/+/rating")
        col.close()


def mosquitto_cli(folder: Path, port: int, tool: str, user: str, *args: str) -> subprocess.CompletedProcess:
    """mosquitto_sub / mosquitto_pub (MQTT 3.1.1) over the TLS listener, as an attacker would use them."""
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), "--cafile", str(folder / "certs" / "ca.crt"),
                           "-u", user, "-P", secret(folder, user), *args], capture_output=True, text=True, timeout=20)


@pytest.mark.skipif(not shutil.which("mosquitto_sub"), reason="mosquitto-clients not installed")
def test_the_client_id_takeover_with_mosquitto_sub_and_mosquitto_pub_fails(site):
    folder, port = site
    flt = "hailong/v1/+/+/rating"
    victim = ("-c", "-i", "victim", "-q", "1", "-t", flt)
    assert mosquitto_cli(folder, port, "mosquitto_sub", "collector-main", *victim, "-E").returncode == 0
    for i in range(5):
        assert mosquitto_cli(folder, port, "mosquitto_pub", KIOSK2, "-q", "1", "-t", rating_topic("tan-lap", "quay-2"),
                             "-m", f"m{i}").returncode == 0
    mosquitto_cli(folder, port, "mosquitto_sub", KIOSK1, "-c", "-i", "victim", "-t", "hailong/v1/tan-lap/quay-1/request",
                  "-W", "1")
    back = mosquitto_cli(folder, port, "mosquitto_sub", "collector-main", *victim, "-C", "5", "-W", "5")
    assert back.stdout.split() == [f"m{i}" for i in range(5)], back.stderr
    mosquitto_cli(folder, port, "mosquitto_sub", "collector-main", "-i", "victim", "-t", flt, "-W", "1")  # clean up


def publish_as(folder: Path, port: int, user: str, topic: str, payload: bytes):
    """One QoS 1 publish on a fresh connection (the broker hangs up after a refused one)."""
    c = up(folder, port, user)
    try:
        return c.publish(topic, payload)
    finally:
        c.close()


def test_a_desk_sends_requests_to_its_own_site_only_and_a_kiosk_cannot_send_config(site):
    folder, port = site
    kiosk = up(folder, port, KIOSK1)
    request, config = "hailong/v1/tan-lap/quay-1/request", "hailong/v1/tan-lap/quay-1/config"
    try:
        assert not refused(kiosk.subscribe(request)) and not refused(kiosk.subscribe(config))
        assert not accepted(publish_as(folder, port, "desk-xa-b--front", request, b"from another site"))
        assert not accepted(publish_as(folder, port, KIOSK2, config, b"forged config"))
        assert not accepted(publish_as(folder, port, KIOSK2, request, b"forged request"))
        assert not accepted(publish_as(folder, port, "collector-main", request, b"from a collector"))
        own_desk = up(folder, port, "desk-tan-lap--front")
        try:
            assert refused(own_desk.subscribe("hailong/v1/+/+/status"))  # a desk reads nothing
            assert accepted(own_desk.publish(request, b"ask"))
        finally:
            own_desk.close()
        assert [p for _, p in kiosk.wait_for(1)] == [b"ask"]
        time.sleep(0.3)
        assert kiosk.messages == [(request, b"ask")]
    finally:
        kiosk.close()
    # nor may a kiosk write its own config (the fleet tool signs and sends it)
    assert not accepted(publish_as(folder, port, KIOSK1, config, b"self-made config"))


def test_only_a_collector_may_say_a_rating_is_stored(site):
    """A forged receipt would make a kiosk delete a rating the database does not have: the broker refuses
    one from a kiosk (for itself or another), a desk, the fleet tool and a bridge, and a kiosk reads
    only its own receipts."""
    folder, port = site
    receipt = "hailong/v1/tan-lap/quay-1/receipt"
    body = json.dumps({"v": 2, "site": "tan-lap", "device": "quay-1", "ts": "2026-12-07T10:00:00Z",
                       "epoch": "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5a", "seqs": [[1, 1000]]}).encode()
    # the kiosk itself (its account binds its client id: it forges before it listens)
    assert not accepted(publish_as(folder, port, KIOSK1, receipt, body)), "a kiosk receipted its own rating"
    kiosk, other = up(folder, port, KIOSK1), up(folder, port, KIOSK2)
    try:
        assert not refused(kiosk.subscribe(receipt))
        assert refused(other.subscribe(receipt)), "a kiosk may read another's receipts"
        other.close()
        for forger in (KIOSK2, "desk-tan-lap--front", "fleet-main", "bridge-xa-b"):
            assert not accepted(publish_as(folder, port, forger, receipt, body)), f"{forger} forged a receipt"
        time.sleep(0.3)
        assert kiosk.messages == [], "a forged receipt reached the kiosk"
        assert accepted(publish_as(folder, port, "collector-main", receipt, body))
        assert [p for _, p in kiosk.wait_for(1)] == [body]
    finally:
        kiosk.close()


def test_a_bridge_carries_its_communes_ratings_up_and_receipts_down_and_nothing_else(site):
    folder, port = site
    bridge = up(folder, port, "bridge-xa-b")
    try:
        for kind in ("rating", "status", "event"):
            assert accepted(bridge.publish(f"hailong/v1/xa-b/quay-1/{kind}", b"forwarded"))
        assert not refused(bridge.subscribe("hailong/v1/xa-b/+/receipt"))
        assert not refused(bridge.subscribe("hailong/v1/time"))
        assert refused(bridge.subscribe("hailong/v1/+/+/receipt")), "a bridge reads other communes' receipts"
        assert refused(bridge.subscribe("hailong/v1/+/+/rating")), "a bridge reads what kiosks send"
    finally:
        bridge.close()
    for kind in ("config", "request", "receipt"):
        rc = publish_as(folder, port, "bridge-xa-b", f"hailong/v1/xa-b/quay-1/{kind}", b"x")
        assert not accepted(rc), f"a bridge account may publish a {kind}"
    # nor speak for another commune's kiosks
    assert not accepted(publish_as(folder, port, "bridge-xa-b", "hailong/v1/tan-lap/quay-1/rating", b"forged"))


def test_a_collector_reads_the_retained_configs_but_cannot_write_or_share_them(site):
    folder, port = site
    fleet = up(folder, port, "fleet-main")
    config = "hailong/v1/tan-lap/quay-2/config"
    try:
        assert accepted(fleet.publish(config, b"pushed config", retain=True))
    finally:
        fleet.close()
    collector = up(folder, port, "collector-main")
    try:
        assert refused(collector.subscribe("$share/g/hailong/v1/+/+/config"))
        assert not refused(collector.subscribe("hailong/v1/+/+/config"))
        assert collector.wait_for(1) and (config, b"pushed config") in collector.retained
    finally:
        collector.close()
    assert not accepted(publish_as(folder, port, "collector-main", config, b"forged by a collector"))


def test_the_fleet_tool_sends_retained_config_and_reads_status_only(site):
    folder, port = site
    fleet = up(folder, port, "fleet-main")
    config = "hailong/v1/xa-b/quay-1/config"
    try:
        assert accepted(fleet.publish(config, b"signed yaml", retain=True))
        assert not refused(fleet.subscribe("hailong/v1/+/+/status"))
        assert refused(fleet.subscribe("hailong/v1/+/+/rating"))
        assert not accepted(fleet.publish(rating_topic("xa-b", "quay-1"), b"forged"))  # (the broker then hangs up)
        kiosk = up(folder, port, OTHER_SITE)
        try:
            kiosk.subscribe(config)
            assert kiosk.wait_for(1) and kiosk.retained == [(config, b"signed yaml")]  # waiting since before boot
        finally:
            kiosk.close()
    finally:
        fleet.close()


def fresh_retained(folder: Path, port: int, *filters: str, user: str = "collector-main") -> list[tuple[str, bytes]]:
    """What the broker retains under ``filters``, as a new subscriber sees it."""
    c = up(folder, port, user)
    try:
        for flt in filters:
            assert not refused(c.subscribe(flt))
        # the broker sends a subscription's retained messages before it reads the next packet: once a later
        # SUBACK is back (granted or refused, it does not matter), all of them have arrived
        c.subscribe("hailong/v1/-/-/barrier")
        return sorted(c.retained)
    finally:
        c.close()


def test_remove_device_clears_what_the_broker_retains_for_it(site):
    folder, port = site
    setup.add_device(folder, "tan-lap", "quay-7")
    user = "tan-lap--quay-7"
    kiosk = up(folder, port, user)
    fleet = up(folder, port, "fleet-main")
    cfg_topic = "hailong/v1/tan-lap/quay-7/config"
    quay7 = (status_topic("tan-lap", "quay-7"), rating_topic("tan-lap", "quay-7"))
    try:
        assert accepted(kiosk.publish(status_topic("tan-lap", "quay-7"), b"online", retain=True))
        assert accepted(kiosk.publish(rating_topic("tan-lap", "quay-7"), b"kept", retain=True))
        assert accepted(fleet.publish(cfg_topic, b"old config", retain=True))
    finally:
        fleet.close()
    assert len(fresh_retained(folder, port, *quay7)) == 2  # the attack works before removal
    assert main(["remove-device", "tan-lap", "quay-7", "--dir", str(folder)]) == 0
    assert kiosk.dropped.wait(5), "the removed device stayed connected"
    kiosk.close()
    assert fresh_retained(folder, port, *quay7) == []
    # a device added again under the same name does not receive the old device's config
    setup.add_device(folder, "tan-lap", "quay-7")
    assert fresh_retained(folder, port, cfg_topic, user=user) == []
    setup.remove(folder, user)


def test_clear_retained_sweeps_a_retained_rating_and_keeps_status(site, capsys):
    folder, port = site
    kiosk = up(folder, port, KIOSK2)
    try:
        assert accepted(kiosk.publish(rating_topic("tan-lap", "quay-2"), b"left retained", retain=True))
        assert accepted(kiosk.publish(status_topic("tan-lap", "quay-2"), b"online", retain=True))
    finally:
        kiosk.close()
    assert fresh_retained(folder, port, rating_topic("tan-lap", "quay-2")) != []
    assert main(["clear-retained", "--dir", str(folder)]) == 0
    assert rating_topic("tan-lap", "quay-2") in capsys.readouterr().out
    assert fresh_retained(folder, port, rating_topic("tan-lap", "quay-2")) == []
    assert fresh_retained(folder, port, status_topic("tan-lap", "quay-2")) == [(status_topic("tan-lap", "quay-2"), b"online")]


def test_a_device_removed_while_the_broker_is_down_has_its_retained_messages_cleared_by_run(tmp_path):
    folder = tmp_path / "etc"
    tls_port, local_port = init_dir(folder)
    setup.add_device(folder, "tan-lap", "quay-1")
    setup.add_collector(folder, "main")

    def run():
        p = subprocess.Popen([sys.executable, "-m", "broker", "run", "--dir", str(folder)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(tls_port)
        return p

    proc = run()
    try:
        kiosk = up(folder, tls_port, "tan-lap--quay-1")
        assert accepted(kiosk.publish(status_topic("tan-lap", "quay-1"), b"online", retain=True))
        kiosk.close()
        proc.terminate()
        proc.wait(10)
        removed = setup.remove(folder, "tan-lap--quay-1")
        assert removed.existed and "not running" in removed.note
        proc = run()
        deadline = time.monotonic() + 10
        while fresh_retained(folder, tls_port, "hailong/v1/+/+/status") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fresh_retained(folder, tls_port, "hailong/v1/+/+/status") == []
        assert setup.accounts(folder).retained_to_clear == []
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def cert_site(tmp_path_factory):
    """A set-up that demands client certificates: every account gets one."""
    folder = tmp_path_factory.mktemp("certs") / "etc"
    folder.mkdir(parents=True)
    yml = folder.parent / "broker.yaml"
    yml.write_text("kind: broker\nhostnames: [127.0.0.1]\nlisteners:\n  tls: {bind: 127.0.0.1, require_client_cert: true}\n")
    from tests.servers import free_port
    port = free_port()
    assert main(["init", "--dir", str(folder), "--config", str(yml), "--tls-port", str(port)]) == 0
    for d in ("quay-1", "quay-2"):
        setup.add_device(folder, "tan-lap", d)
    setup.add_collector(folder, "main")
    broker = Mosquitto(folder, port=port, conf_file=folder / "mosquitto.conf").start()
    yield folder, port, broker
    broker.stop()


def test_a_client_certificate_opens_only_its_own_account(cert_site):
    folder, port, _ = cert_site
    collector = up(folder, port, "collector-main", cert="collector-main")
    # quay-1's certificate with quay-2's user name and password
    mixed = up(folder, port, KIOSK2, cert=KIOSK1)
    try:
        collector.subscribe("hailong/v1/+/+/rating")
        rc = mixed.publish(rating_topic("tan-lap", "quay-2"), b"as quay-2")
        assert not accepted(rc), "a certificate opened another device's account"
        mixed.close()
        mixed = up(folder, port, KIOSK2, cert=KIOSK1)
        assert accepted(mixed.publish(rating_topic("tan-lap", "quay-1"), b"as quay-1"))  # the cert's own
        assert collector.wait_for(1) == [(rating_topic("tan-lap", "quay-1"), b"as quay-1")]
    finally:
        mixed.close()
        collector.close()


def tls_accepted(folder: Path, port: int, user: str, cert: str | None, cert_dir: Path | None = None) -> bool:
    """Whether the broker completes a connection for ``user`` with that certificate (None: none)."""
    c = Client(folder, port, user, cert=cert, cert_dir=cert_dir)
    try:
        c.c.connect("127.0.0.1", port)
        c.c.loop_start()
        return c.connected.wait(3) and not c.result.is_failure
    except OSError:  # ssl.SSLError is one
        return False
    finally:
        c.c.disconnect()
        c.c.loop_stop()


def test_without_a_client_certificate_the_password_alone_is_refused(cert_site):
    folder, port, _ = cert_site
    assert tls_accepted(folder, port, KIOSK1, KIOSK1)
    assert not tls_accepted(folder, port, KIOSK1, None), "connected without a client certificate"


def test_a_replaced_or_removed_certificate_is_refused(cert_site, tmp_path):
    folder, port, broker = cert_site
    user = "tan-lap--quay-5"

    def keep_copy(name: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        for ext in ("crt", "key"):
            (d / f"{user}.{ext}").write_bytes((folder / "clients" / f"{user}.{ext}").read_bytes())
        return d

    setup.add_device(folder, "tan-lap", "quay-5")
    first = keep_copy("first")
    setup.add_device(folder, "tan-lap", "quay-5")  # rotated: a new certificate, the old one revoked
    assert tls_accepted(folder, port, user, user, cert_dir=first)  # until the broker reloads its revocation list
    broker.proc.send_signal(signal.SIGHUP)  # what the command does itself for a broker started by `run`
    assert _within(10, lambda: not tls_accepted(folder, port, user, user, cert_dir=first)), \
        "a replaced certificate still opens the account 10 s after the reload"
    assert tls_accepted(folder, port, user, user)  # the new one does (and the broker answers at all)
    assert not tls_accepted(folder, port, user, user, cert_dir=first)
    second = keep_copy("second")
    assert tls_accepted(folder, port, KIOSK1, user, cert_dir=second)  # until the reload
    setup.remove(folder, user)
    broker.proc.send_signal(signal.SIGHUP)
    assert _within(10, lambda: not tls_accepted(folder, port, KIOSK1, user, cert_dir=second)), \
        "a removed device's certificate still connects 10 s after the reload"
    assert tls_accepted(folder, port, KIOSK1, KIOSK1)  # the others are untouched


def _within(seconds: float, condition) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (asked every 0.1 s): a reload takes effect when it does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def kiosk_config(folder: Path, port: int, account: str, device: str):
    from config.kiosk import KioskConfig
    return KioskConfig.model_validate({
        "site": "tan-lap", "device": device, "repeat_window_s": 0,
        "broker": {"host": "127.0.0.1", "port": port, "protocol": "3.1.1", "keepalive_s": 5,
                   "tls": {"ca": str(folder / "certs" / "ca.crt")}, "username": account,
                   "password": {"file": str(folder / "secrets" / f"{account}.pass")}}})


def test_a_311_kiosk_whose_account_may_not_publish_its_topics_keeps_its_ratings(site, tmp_path):
    """MQTT 3.1.1 has no reason code in PUBACK: the real uplink, logged in with quay-1's account but
    configured as quay-2, must not delete a rating the broker refused."""
    from kiosk.flow import Flow
    from kiosk.outbox import Outbox
    from kiosk.uplink import Uplink
    folder, port = site
    collector = up(folder, port, "collector-main")
    collector.subscribe("hailong/v1/+/+/rating")
    cfg = kiosk_config(folder, port, KIOSK1, "quay-2")
    box = Outbox(tmp_path / "outbox.db")
    flow = Flow(cfg, lambda r: box.add(r, rating_topic("tan-lap", "quay-2")))
    made = []
    for i in range(3):
        made.append(flow.tap_face(5, now=i * 10.0))
        flow.tick(i * 10.0 + 5)  # back to the faces
    assert None not in made and box.depth() == 3
    uplink = Uplink(cfg, box).start()
    try:
        deadline = time.monotonic() + 4  # several connections: each is refused and closed by the broker
        while time.monotonic() < deadline and box.depth() == 3:
            time.sleep(0.05)
        assert box.depth() == 3, f"the outbox lost {3 - box.depth()} refused rating(s); uplink: {uplink.last_error}"
        assert sorted(box.ids()) == sorted(r.id for r in made)
        ours = [p for _, p in collector.messages if any(r.id.encode() in p for r in made)]
        assert ours == []
    finally:
        uplink.stop()
        box.close()
        collector.close()


def test_fleet_push_works_with_the_fleet_account_and_not_with_a_kiosks(site, tmp_path):
    """The real `python -m broker fleet push`, logged in as add-fleet's account, over TLS."""
    from tests.integration.test_fleet_push import cli, make_fleet
    folder, port = site
    setup.add_device(folder, "xa-a", "quay-1")  # taken by the running broker at once
    root = make_fleet(tmp_path, port, n_devices=2)

    def push_as(user: str) -> subprocess.CompletedProcess:
        (root / "push.yaml").write_text(
            f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\ntimeout_s: 3\n"
            f"broker: {{host: 127.0.0.1, port: {port}, tls: {{ca: {folder / 'certs' / 'ca.crt'}}}, username: {user}, "
            f"password: {{file: {folder / 'secrets' / f'{user}.pass'}}}}}\n", encoding="utf-8")
        return cli("fleet", "push", str(root), check=False)

    forged = push_as("xa-a--quay-1")
    assert forged.returncode != 0 and "not confirmed" in forged.stderr
    assert fresh_retained(folder, port, "hailong/v1/xa-a/quay-1/config", user="xa-a--quay-1") == []
    res = push_as("fleet-main")
    assert res.returncode == 0 and "2 config(s) published" in res.stdout, res.stderr
    got = fresh_retained(folder, port, "hailong/v1/xa-a/quay-1/config", user="xa-a--quay-1")
    assert [t for t, _ in got] == ["hailong/v1/xa-a/quay-1/config"]
    status = subprocess.run([sys.executable, "-m", "broker", "fleet", "status", "--settings", str(root / "push.yaml"),
                             "--wait", "0.5"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    setup.remove(folder, "xa-a--quay-1")  # also clears the pushed configs it was sent


def desk_folder(folder: Path, tmp: Path, site_slug: str) -> Path:
    """desk.yaml from add-desk's printed block, with the files it names copied next to it."""
    issued = setup.add_desk(folder, site_slug, "front")  # rotates the password; a running broker takes it
    tmp.mkdir()
    (tmp / "ca.crt").write_bytes((folder / "certs" / "ca.crt").read_bytes())
    (tmp / f"{issued.username}.pass").write_bytes(issued.password_file.read_bytes())
    (tmp / "desk.yaml").write_text("kind: desk\n" + issued.yaml_block, encoding="utf-8")
    return tmp / "desk.yaml"


def test_the_desk_tool_asks_its_own_sites_kiosk_and_is_refused_for_another_site(site, tmp_path):
    folder, port = site
    kiosk = up(folder, port, KIOSK1)
    request = "hailong/v1/tan-lap/quay-1/request"

    def ask(desk_yaml: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kiosk", "request", "--settings", str(desk_yaml),
                               "--site", "tan-lap", "--device", "quay-1", "--ticket", "A012"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    try:
        assert not refused(kiosk.subscribe(request))
        other = ask(desk_folder(folder, tmp_path / "xa-b", "xa-b"))
        assert other.returncode != 0, other.stdout
        own = ask(desk_folder(folder, tmp_path / "tan-lap", "tan-lap"))
        assert own.returncode == 0, own.stderr
        got = kiosk.wait_for(1)
        time.sleep(0.3)
        assert len(kiosk.messages) == 1 and got[0][0] == request and b"A012" in got[0][1]
    finally:
        kiosk.close()


def test_the_admin_account_logs_in_only_through_the_control_socket(site):
    """docs/broker.md: broker-admin is the tooling's, through data/mosquitto.sock. With its password (read off a
    backup, say) it must not log in on the TLS or the local plain listener, whatever client id it asks for."""
    folder, port = site
    ports = [int(line.split()[1]) for line in (folder / "mosquitto.conf").read_text().splitlines()
             if line.startswith("listener ") and line.split()[1] != "0"]
    assert port in ports and len(ports) == 2  # TLS, and plain MQTT on loopback
    for p in ports:
        for client_id in ("", "broker-admin", "broker-admin.socket"):
            c = Conn(p, "broker-admin", secret(folder, "broker-admin"), client_id=client_id)
            if p == port:
                c.c.tls_set(ca_certs=str(folder / "certs" / "ca.crt"))
            rc = c.connect()
            try:
                assert rc is not None and rc.is_failure, (p, client_id, rc)
            finally:
                c.close()
    # while the tooling still works through the socket: a device added to the running broker can connect
    setup.add_device(folder, "tan-lap", "quay-9")
    up(folder, port, "tan-lap--quay-9").close()
