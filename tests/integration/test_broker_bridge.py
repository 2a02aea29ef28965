"""A commune Mosquitto bridging its kiosks' topics to a provincial Mosquitto, both from generated files."""
from __future__ import annotations

import pytest

from broker import setup
from broker.__main__ import main
from broker.contract import rating_topic
from tests.integration.test_broker_setup import Conn, init_dir, publish_all, secret
from tests.servers import Mosquitto, wait_port

pytestmark = pytest.mark.mosquitto


def test_ratings_queued_while_the_uplink_is_down_reach_the_province(tmp_path):
    # short names: the control socket inside must stay within a Unix socket path's 107 bytes
    province, commune = tmp_path / "p", tmp_path / "c"
    p_tls, _ = init_dir(province)
    setup.add_bridge_user(province, "tan-lap")
    setup.add_collector(province, "main")
    c_tls, c_local = init_dir(commune)
    setup.add_device(commune, "tan-lap", "quay-1")
    assert main(["bridge", "--dir", str(commune), "--name", "to-province", "--remote-host", "127.0.0.1",
                 "--remote-port", str(p_tls), "--ca", str(province / "certs" / "ca.crt"),
                 "--username", "bridge-tan-lap",
                 "--password-file", str(province / "secrets" / "bridge-tan-lap.pass")]) == 0

    up = Mosquitto(province, port=p_tls, conf_file=province / "mosquitto.conf").start()
    down = Mosquitto(commune, port=c_tls, conf_file=commune / "mosquitto.conf").start()
    ca = province / "certs" / "ca.crt"
    sub = Conn(p_tls, "collector-main", secret(province, "collector-main"), ca=ca, client_id="col", persistent=True)
    kiosk = Conn(c_local, "tan-lap--quay-1", secret(commune, "tan-lap--quay-1"))
    try:
        wait_port(c_local)
        assert not sub.connect().is_failure
        assert not sub.subscribe("hailong/v1/+/+/rating")[0].is_failure
        assert not kiosk.connect().is_failure
        topic = rating_topic("tan-lap", "quay-1")
        publish_all(kiosk, topic, [b"before"])
        assert sub.wait_for(1, timeout=15) == [(topic, b"before")], "the bridge did not carry a rating"
        sub.close()

        up.stop()  # the uplink goes down; the kiosk keeps publishing to its commune broker
        queued = [f"while-down-{i}".encode() for i in range(10)]
        publish_all(kiosk, topic, queued)
        up.start()

        sub = Conn(p_tls, "collector-main", secret(province, "collector-main"), ca=ca, client_id="col",
                   persistent=True)
        assert not sub.connect().is_failure
        got = sub.wait_for(len(queued), timeout=20)
        assert sorted(p for _, p in got) == sorted(queued)
    finally:
        kiosk.close()
        sub.close()
        down.stop()
        up.stop()
