"""A kiosk cut off for a week: 50,000 ratings wait in its outbox and drain in order, once, when the
broker returns, while the kiosk keeps taking taps. How fast: tests/bench/long_outage.py."""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.contract import Rating, new_event_id, rating_topic, subscription, utcnow
from kiosk.outbox import Outbox
from tests.e2e import chain
from tests.servers import Mosquitto

BACKLOG = 50_000
LIVE_TAPS = 200
SITE, DEVICE = "ubnd-xa-vung-cao", "quay-1"


def fill_outbox_with_a_week(path) -> list[str]:
    """What a week offline leaves behind: BACKLOG ratings spread over seven days, oldest first."""
    outbox = Outbox(path, journal=True)
    outbox._conn().execute("PRAGMA synchronous=OFF")  # only to build the fixture quickly
    topic = rating_topic(SITE, DEVICE)
    start = utcnow() - timedelta(days=7)
    step = timedelta(days=7) / BACKLOG
    for i in range(BACKLOG):
        r = Rating(id=new_event_id(), site=SITE, device=DEVICE, ts=start + i * step, rating=1 + i % 5, scale=5,
                   lang="vi")
        outbox.add(r, topic)
    ids = outbox.journal_ids()
    outbox.close()
    return ids


class ArrivalOrder:
    """An independent subscriber recording the order in which this kiosk's ratings reach the broker."""

    def __init__(self, port: int):
        self.ids: list[str] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(rating_topic(SITE, DEVICE), qos=1)
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = lambda c, u, m: self.ids.append(re.search(rb'"id":"([^"]+)"', m.payload).group(1).decode())
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(10)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def week_offline(workdir: Path) -> dict:
    """A kiosk whose outbox holds a week of ratings comes back to a broker and collector while a citizen
    taps LIVE_TAPS more (10/s) during the drain. Returns what was made, stored and seen, and how long it took
    (the timings are for tests/bench/long_outage.py; the test checks only what arrived)."""
    backlog_ids = fill_outbox_with_a_week(workdir / f"outbox-{SITE}-{DEVICE}.db")
    broker = Mosquitto(workdir / "broker").start()  # the broker "returns"
    db_url = f"sqlite:///{workdir / 'ratings.db'}"
    collector = chain.start_collector(workdir, broker.port, db_url)
    order = None
    try:
        chain.wait_subscribed(broker.port, db_url)
        order = ArrivalOrder(broker.port)
        t0 = time.monotonic()
        # The kiosk comes back: it resumes at 50,000 and a citizen taps 200 more (10/s) during the drain.
        kiosk = chain.start_kiosk_sim(workdir, SITE, DEVICE, broker.port, BACKLOG + LIVE_TAPS, rate=10)
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= BACKLOG, 120, interval=0.25), collector.tail()
        backlog_s = time.monotonic() - t0
        kiosk.p.wait(300)
        out = kiosk.tail(5000)
        assert kiosk.p.returncode == 0, out
        created = chain.journal_ids(workdir)
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= len(created), 60)
        drain_s = time.monotonic() - t0
        # the independent subscriber may still be reading its queue after the collector has stored all
        in_backlog = set(backlog_ids)
        chain.wait_for(lambda: len([i for i in order.ids if i in in_backlog]) >= BACKLOG, 60)
        m = re.search(r"tap latency p50=([\d.]+) ms p95=([\d.]+) ms max=([\d.]+) ms over (\d+) taps", out)
        assert m, out
        return {"backlog_ids": backlog_ids, "created": created, "stored": chain.stored_ids(db_url),
                "rollup": chain.rollup_total(db_url), "arrivals": list(order.ids), "backlog_s": backlog_s,
                "drain_s": drain_s, "taps": int(m[4]), "tap_p50_ms": float(m[1]), "tap_p95_ms": float(m[2]),
                "tap_max_ms": float(m[3])}
    finally:
        if order:
            order.close()
        collector.stop()
        broker.stop()


@pytest.mark.slow
def test_a_week_offline_drains_in_order_once_while_the_kiosk_keeps_taking_taps(tmp_path):
    """How fast it drains and how quickly the taps answer is measured by tests/bench/long_outage.py."""
    run = week_offline(tmp_path)
    backlog_ids, created, stored = run["backlog_ids"], run["created"], run["stored"]
    assert len(backlog_ids) == len(set(backlog_ids)) == BACKLOG
    # every tap made during the drain was kept, after the backlog, and every rating stored once: the
    # rollup every report reads holds each once too (the id key alone cannot show that)
    assert run["taps"] == LIVE_TAPS
    assert created[:BACKLOG] == backlog_ids and len(created) == len(set(created)) == BACKLOG + LIVE_TAPS
    assert len(stored) == len(created) and set(stored) == set(created)
    assert run["rollup"] == len(created)
    # in order: the backlog reached the broker oldest first, each exactly once
    in_backlog = set(backlog_ids)
    assert [i for i in run["arrivals"] if i in in_backlog] == backlog_ids
    print(f"\nLONG OUTAGE: backlog={BACKLOG} backlog_stored_s={run['backlog_s']:.1f} all_stored_s={run['drain_s']:.1f} "
          f"live_taps={run['taps']} tap_p50_ms={run['tap_p50_ms']} tap_p95_ms={run['tap_p95_ms']} "
          f"tap_max_ms={run['tap_max_ms']} missing=0 duplicated=0")
