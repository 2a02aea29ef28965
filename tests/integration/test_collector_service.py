"""The collector as a process against a real Mosquitto: what a third party publishing with
``mosquitto_pub`` gets stored, rejected or ignored, and how the service starts and stops."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest

from collector.storage.db import connect
from tests.integration.test_collector_support import CollectorProc, _collector_cmd, counts, unique, wait_count
from tests.servers import free_port

pytestmark = pytest.mark.mosquitto


def pub(port: int, topic: str, payload: str | None, retain: bool = False) -> None:
    cmd = [shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
           "-t", topic]
    cmd += ["-n"] if payload is None else ["-m", payload]
    subprocess.run(cmd + (["-r"] if retain else []), check=True, timeout=10)


def rating(site: str, device: str, rid: str | None = None) -> str:
    return json.dumps({"v": 1, "id": rid or str(uuid.uuid4()), "site": site, "device": device,
                       "ts": "2026-11-23T08:15:00Z", "rating": 4, "scale": 5, "reason": None, "lang": "vi",
                       "officer": None, "service": None, "flags": []})


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ratings.db'}"


def test_mosquitto_pub_rating_is_stored_once_and_a_site_mismatch_is_rejected(mosquitto, tmp_path, sqlite_url):
    prefix = unique("p") + "/v1"
    col = CollectorProc(tmp_path, mosquitto.port, sqlite_url, prefix=prefix).start()
    try:
        pub(mosquitto.port, f"{prefix}/ubnd-a/quay-01/rating", rating("ubnd-a", "quay-01"))
        assert wait_count(sqlite_url, 1, timeout=10) == 1
        same = str(uuid.uuid4())
        for _ in range(10):
            pub(mosquitto.port, f"{prefix}/ubnd-a/quay-01/rating", rating("ubnd-a", "quay-01", same))
        pub(mosquitto.port, f"{prefix}/ubnd-b/quay-01/rating", rating("ubnd-a", "quay-01"))
        assert wait_count(sqlite_url, 1, timeout=10, table="rejects") == 1
        time.sleep(0.5)
        assert counts(sqlite_url) == {"ratings": 2, "distinct": 2, "rollup": 2, "rejects": 1}
        db = connect(sqlite_url, migrate=False)
        reject = db.query("SELECT topic, reason, payload FROM rejects")[0]
        assert reject[0] == f"{prefix}/ubnd-b/quay-01/rating" and reject[1] == "topic_mismatch"
        assert json.loads(bytes(reject[2]))["site"] == "ubnd-a"
        db.close()
        assert col.stop() == 0
        assert col.stats() | {"pid": 0} == {"received": 12, "stored": 2, "duplicates": 9, "rejected": 1,
                                            "ignored": 0, "batches": col.stats()["batches"], "pid": 0}
    finally:
        col.stop()


def test_status_keeps_the_device_current_and_a_retained_clear_is_ignored(mosquitto, tmp_path, sqlite_url):
    prefix = unique("p") + "/v1"
    col = CollectorProc(tmp_path, mosquitto.port, sqlite_url, prefix=prefix).start()
    topic = f"{prefix}/ubnd-a/quay-02/status"
    status = {"v": 1, "site": "ubnd-a", "device": "quay-02", "state": "online", "ts": "2026-11-23T08:15:00Z",
              "app_version": "1.2.0", "outbox_depth": 3, "last_rating_ts": "2026-11-23T08:14:00Z",
              "config_hash": "abc"}
    try:
        pub(mosquitto.port, topic, json.dumps(status), retain=True)
        pub(mosquitto.port, topic, json.dumps(status | {"state": "offline", "ts": "2026-11-23T07:00:00Z"}))  # older
        pub(mosquitto.port, topic, None, retain=True)  # a technician clears the retained status
        col.wait_log("ignored=1", timeout=10)
        db = connect(sqlite_url, migrate=False)
        row = db.query("SELECT state, status_ts, app_version, outbox_depth, last_rating_ts, config_hash, "
                       "clock_skew_s, last_seen FROM devices WHERE site='ubnd-a' AND device='quay-02'")
        assert row and row[0][:6] == ("offline", "2026-11-23T07:00:00.000Z", "1.2.0", 3, "2026-11-23T08:14:00.000Z",
                                      "abc")
        assert row[0][6] > 0  # the kiosk clock is behind the collector: positive skew in seconds
        assert row[0][7] > "2026-11-23T08:15:00.000Z"
        assert db.scalar("SELECT COUNT(*) FROM rejects") == 0
        db.close()
    finally:
        assert col.stop() == 0


def test_database_unreachable_at_start_exits_1_with_the_reason(mosquitto, tmp_path):
    col = CollectorProc(tmp_path, mosquitto.port, f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    col.proc = subprocess.Popen([*_collector_cmd(), "--config", str(col.config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = col.proc.communicate(timeout=20)
    assert col.proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to postgresql://nobody@127.0.0.1" in lines[0], err


def test_broker_unreachable_is_retried_and_said_then_messages_flow(mosquitto_factory, tmp_path, sqlite_url):
    broker = mosquitto_factory()  # not started yet
    col = CollectorProc(tmp_path, broker.port, sqlite_url)
    try:
        col.proc = subprocess.Popen([*_collector_cmd(), "--config", str(col.config)], stdout=open(col.log, "ab"),
                                    stderr=subprocess.STDOUT)
        col.wait_log("unreachable; retrying with backoff", timeout=10)
        broker.start()
        col.wait_log("connected to broker", timeout=40)
        pub(broker.port, "hailong/v1/ubnd-a/quay-01/rating", rating("ubnd-a", "quay-01"))
        assert wait_count(sqlite_url, 1, timeout=10) == 1
    finally:
        assert col.stop() == 0


def test_mqtt_3_1_1_collector_keeps_its_session_while_stopped(mosquitto, tmp_path, sqlite_url):
    prefix = unique("p") + "/v1"
    col = CollectorProc(tmp_path, mosquitto.port, sqlite_url, prefix=prefix, protocol="3.1.1").start()
    assert "MQTT 3.1.1" in col.log_text()
    assert col.stop() == 0
    for _ in range(3):  # published while the collector is down: queued in its session
        pub(mosquitto.port, f"{prefix}/ubnd-a/quay-01/rating", rating("ubnd-a", "quay-01"))
    col.start()
    try:
        assert wait_count(sqlite_url, 3, timeout=10) == 3
    finally:
        assert col.stop() == 0
