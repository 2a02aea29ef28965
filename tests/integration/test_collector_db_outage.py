"""The database goes away mid-stream: nothing is acknowledged until it is back, then every rating
is stored exactly once. A real PostgreSQL, stopped with `pg_ctl -m immediate` and started again."""
from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.contract import rating_topic
from tests.e2e import chain
from tests.servers import Postgres, free_port

N = 3000


def rating(i: int) -> bytes:
    return json.dumps({"v": 1, "id": str(uuid.uuid4()), "site": "ubnd-a", "device": "quay-1",
                       "ts": "2026-11-23T08:15:00Z", "rating": 1 + i % 5, "scale": 5, "reason": None, "lang": "vi",
                       "officer": None, "service": None, "flags": []}).encode()


@pytest.mark.postgres
def test_postgres_outage_mid_stream_loses_nothing_and_doubles_nothing(tmp_path, mosquitto_factory):
    broker = mosquitto_factory().start()
    port = free_port()
    pg_dir = Path("/tmp") / f"hailong-pg-outage-{port}"  # the postgres user cannot enter pytest's folders
    pg = Postgres(pg_dir, port=port, durable=True).start()  # as in production: a commit is on disk
    db_url = pg.fresh_database("outage")
    collector = chain.start_collector(tmp_path, broker.port, db_url, batch=200)
    try:
        chain.wait_subscribed(broker.port, db_url)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()

        def publish():
            for i in range(N):
                pub.publish(rating_topic("ubnd-a", "quay-1"), rating(i), qos=1)
                time.sleep(0.002)  # about 6 s of stream

        t = threading.Thread(target=publish)
        t.start()
        time.sleep(1.5)
        pg.stop()  # like a crash: no clean shutdown
        time.sleep(5)
        pg.start()
        t.join()
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= N, 90), collector.tail()
        stored = chain.stored_ids(db_url)
        assert len(stored) == len(set(stored)) == N
        assert chain.rollup_total(db_url) == N
        log = collector.tail(20000)
        assert "cannot store a batch" in log, "the outage did not hit the stream: " + log[-2000:]
        assert collector.running(), "the collector must ride out a database outage"
        pub.loop_stop()
        pub.disconnect()
    finally:
        collector.stop()
        pg.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
