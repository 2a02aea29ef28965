"""Two kiosks with one device id (a clerk copied a kiosk.yaml): both screens look normal, but they throw
each other off the broker and their ratings merge into one counter. The collector flags the device
within a minute (audit and devices table), and each kiosk says so in its log and its status."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e import chain
from tests.servers import Mosquitto

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_kiosks_sharing_a_device_id_are_flagged_within_a_minute(backend, tmp_path, postgres_server):
    db_url = postgres_server.fresh_database("shared_id") if backend == "postgres" \
        else f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = Mosquitto(tmp_path / "broker").start()
    procs = []
    try:
        collector = chain.start_collector(tmp_path, broker.port, db_url)
        procs.append(collector)
        chain.wait_subscribed(broker.port, db_url)
        for name in ("first", "copy"):  # the same kiosk.yaml on two machines, each with its own outbox
            home = tmp_path / name
            home.mkdir()
            procs.append(chain.start_kiosk_sim(home, "ubnd-a", "quay-01", broker.port, 30, 2, extra=("--stay",)))

        def flagged() -> bool:
            return bool(chain.query(db_url, "SELECT COUNT(*) FROM devices WHERE device = 'quay-01' "
                                             "AND shared_last_ms IS NOT NULL")[0][0])
        assert chain.wait_for(flagged, 60), collector.tail()
        year = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).year
        out = subprocess.run([chain.PY, "-m", "collector", "audit", "--config", str(tmp_path / "e2e-collector.yaml"),
                              "--period", str(year), "--format", "json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env=chain._env())
        assert out.returncode == 1, out.stdout + out.stderr  # not a clean month: two kiosks' figures merged
        (dev,) = [d for d in json.loads(out.stdout)["devices"] if d["device"] == "quay-01"]
        assert dev["shared_id"] is not None and "two kiosks share the id of ubnd-a/quay-01" in out.stderr
        # each kiosk finds out too: the broker keeps throwing it off for the other
        assert chain.wait_for(lambda: any("another kiosk uses this device id" in p.tail(20000)
                                          for p in procs[1:]), 60), procs[1].tail()
        assert chain.wait_for(lambda: bool(chain.query(
            db_url, "SELECT COUNT(*) FROM devices WHERE device = 'quay-01' AND fault = ?",
            ("device id used by another kiosk",))[0][0]), 60)
        # merged, but nothing lost: the audit counts both outboxes' messages, every one received
        homes = [tmp_path / name for name in ("first", "copy")]
        assert chain.wait_for(lambda: all(sqlite3.connect(h / "outbox-ubnd-a-quay-01.db").execute(
            "SELECT COUNT(*) FROM journal").fetchone()[0] == 30 for h in homes), 60)
        chain.assert_audit_whole(tmp_path, db_url, "ubnd-a", "quay-01",
                                 [h / "outbox-ubnd-a-quay-01.db" for h in homes], timeout=90)
    finally:
        for p in procs:
            p.stop()
        broker.stop()


def test_a_kiosk_that_restarts_is_not_taken_for_two(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = Mosquitto(tmp_path / "broker").start()
    collector = chain.start_collector(tmp_path, broker.port, db_url)
    try:
        chain.wait_subscribed(broker.port, db_url)
        for _ in range(3):  # three runs of one kiosk, one after the other
            kiosk = chain.start_kiosk_sim(tmp_path, "ubnd-a", "quay-02", broker.port, 5, 0)
            kiosk.p.wait(60)
        rows = chain.query(db_url, "SELECT shared_last_ms FROM devices WHERE device = 'quay-02'")
        assert rows == [(None,)]
    finally:
        collector.stop()
        broker.stop()
