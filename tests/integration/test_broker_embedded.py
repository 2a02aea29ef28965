"""The embedded amqtt broker: enough to try the chain out, with the limits the design names."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.contract import Rating, decode, new_event_id, rating_topic, utcnow
from broker.embedded import start_embedded
from tests.servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded():
    broker = start_embedded(free_port())
    yield broker
    broker.stop()


def client(port: int, client_id: str, username: str | None = None, protocol=mqtt.MQTTv311, clean: bool = True):
    kwargs = {"clean_session": clean} if protocol == mqtt.MQTTv311 else {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
    if username:
        c.username_pw_set(username)
    c.user_data_set({"connack": threading.Event(), "rc": None, "got": []})

    def on_connect(cl, ud, flags, rc, props):
        ud["rc"] = rc
        ud["connack"].set()

    c.on_connect = on_connect
    c.on_message = lambda cl, ud, m: ud["got"].append((m.topic, m.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert c.user_data_get()["connack"].wait(5), "no CONNACK"
    return c


def wait_for(c, n: int, timeout: float = 5.0) -> list:
    got = c.user_data_get()["got"]
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return got


def ratings(n: int) -> list[Rating]:
    return [Rating(id=new_event_id(), site="tan-lap", device="quay-1", ts=utcnow(), rating=1 + i % 5, scale=5,
                   lang="vi") for i in range(n)]


def stop(c) -> None:
    c.disconnect()
    c.loop_stop()


def test_the_embedded_broker_carries_qos1_ratings_to_a_subscriber(embedded):
    sub = client(embedded.port, "collector-1", username="collector")
    sub.subscribe("hailong/v1/+/+/rating", qos=1)
    time.sleep(0.2)
    pub = client(embedded.port, "kiosk-1")
    sent = ratings(20)
    for r in sent:
        pub.publish(rating_topic(r.site, r.device), r.encode(), qos=1).wait_for_publish(5)
    got = wait_for(sub, len(sent))
    stop(pub)
    stop(sub)
    assert [decode(t, p).encode() for t, p in got] == [r.encode() for r in sent]


def test_a_named_subscriber_gets_what_was_published_while_it_was_away(embedded):
    sub = client(embedded.port, "collector-1", username="collector", clean=False)
    sub.subscribe("hailong/v1/+/+/rating", qos=1)
    time.sleep(0.2)
    stop(sub)
    pub = client(embedded.port, "kiosk-1")
    sent = ratings(5)
    for r in sent:
        pub.publish(rating_topic(r.site, r.device), r.encode(), qos=1).wait_for_publish(5)
    stop(pub)
    sub = client(embedded.port, "collector-1", username="collector", clean=False)
    got = wait_for(sub, len(sent))
    stop(sub)
    assert sorted(decode(t, p).id for t, p in got) == sorted(r.id for r in sent)


def test_an_mqtt5_client_is_refused(embedded):
    c = client(embedded.port, "v5-client", protocol=mqtt.MQTTv5)
    rc = c.user_data_get()["rc"]
    stop(c)
    assert rc.is_failure and rc.getName() == "Unsupported protocol version"


def test_the_cli_prints_a_banner_and_stops_cleanly_on_sigterm():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "broker", "embedded", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port)
        c = client(port, "probe")
        assert not c.user_data_get()["rc"].is_failure
        stop(c)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "For trying things out only" in out and "MQTT 3.1.1 only" in out
    assert out.rstrip().endswith("embedded broker stopped")
    assert "Traceback" not in out


def test_a_busy_port_is_one_clear_error(embedded):
    out = subprocess.run([sys.executable, "-m", "broker", "embedded", "--port", str(embedded.port)], cwd=ROOT,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: cannot listen on 127.0.0.1:") and "--port" in out.stderr
    assert "Traceback" not in out.stderr
