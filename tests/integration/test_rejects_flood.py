"""A stolen kiosk account floods the real broker with contract-breaking messages (as the audit did: 3,000
messages of 7.9 KB): the real collector keeps a few counted rows, not one per message, every valid rating
of that kiosk and of another is stored, old rejects expire, and the device_rejects rule fires for that
kiosk only. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.alerting.evaluate import Evaluator
from collector.storage.db import connect
from collector.ingest.rejects import RejectPolicy
from config.collector import CollectorConfig
from tests.integration.test_collector_support import CollectorProc, counts, rating_payloads, unique

pytestmark = [pytest.mark.mosquitto]
FLOOD = 3000


def publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("stolen"), protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(200)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def garbage(i: int) -> bytes:
    """7.9 KB that breaks the contract: too large (kept as too_large, clipped)."""
    return json.dumps({"v": 1, "junk": i, "fill": os.urandom(3900).hex()}).encode().ljust(7900)[:7900]


def test_a_flood_of_rejects_from_one_kiosk_stays_small_and_every_valid_rating_is_stored(mosquitto, tmp_path, db_url):
    prefix = unique("flood") + "/v1"
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60 * 86400))
    db = connect(db_url)  # a reject left from two months ago: past the default 30 days
    db.execute("INSERT INTO rejects (received_at, topic, reason, payload) VALUES (?, 't', 'bad_json', ?)", (old, b"x"))
    db.close()
    col = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix).start()
    c = publisher(mosquitto.port)
    try:
        stolen, other = f"{prefix}/ubnd-x/quay-01/rating", f"{prefix}/ubnd-y/quay-02/rating"
        good_x = rating_payloads(30, site="ubnd-x", device="quay-01")
        good_y = rating_payloads(30, site="ubnd-y", device="quay-02")
        infos = []
        for i in range(FLOOD):
            infos.append(c.publish(stolen, garbage(i), qos=1))
            if i % 100 == 0:  # the kiosk's own valid ratings and another kiosk's, in the middle of the flood
                infos.append(c.publish(stolen, good_x[i // 100], qos=1))
                infos.append(c.publish(other, good_y[i // 100], qos=1))
            if i % 50 == 0:  # bad JSON, bad fields: other reasons from the same kiosk
                infos.append(c.publish(stolen, b"{" * 50, qos=1))
                infos.append(c.publish(stolen, json.dumps({"v": 1, f"k{i}": 1}).encode(), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        want_rejects = FLOOD + 2 * (FLOOD // 50)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and counts(db_url)["rejects"] < want_rejects:
            time.sleep(0.2)
        got = counts(db_url)
        assert (got["ratings"], got["rejects"]) == (60, want_rejects), got
        db = connect(db_url, migrate=False)
        try:
            per_device = RejectPolicy().per_device
            stored = db.query("SELECT site, device, reason, repeats, LENGTH(payload), size FROM rejects")
            assert len(stored) <= per_device + 1, stored  # the kiosk's rows: a few, not thousands
            assert {(r[0], r[1]) for r in stored} == {("ubnd-x", "quay-01")}
            too_large = [r for r in stored if r[2] == "too_large"]
            assert too_large and too_large[0][3] == FLOOD and too_large[0][4] <= RejectPolicy().keep_bytes
            assert too_large[0][5] == 7900  # the real size is kept
            assert db.scalar("SELECT COUNT(*) FROM rejects WHERE topic = 't'") == 0  # expired
            assert db.scalar("SELECT COUNT(*) FROM ratings WHERE site = 'ubnd-y'") == 30

            cfg = CollectorConfig.model_validate({"alerts": {"rules": [
                {"name": "rac", "kind": "device_rejects", "threshold": 0.5, "minutes": 10, "min_ratings": 20}]},
                "notify": {"enabled": False}})
            now = datetime.now(timezone.utc)
            events = Evaluator(cfg, db).run(now)
            assert events == [("rac", "device:ubnd-x/quay-01", "fire")]  # not the other kiosk
            detail = json.loads(db.scalar("SELECT detail FROM alerts"))
            assert detail["rejected"] == want_rejects and detail["count"] == want_rejects + 30
            assert Evaluator(cfg, db).run(now + timedelta(minutes=30)) == [("rac", "device:ubnd-x/quay-01", "clear")]
        finally:
            db.close()
        assert col.alive
    finally:
        c.loop_stop()
        c.disconnect()
        assert col.stop() == 0
