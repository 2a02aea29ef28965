"""A backlog on a poor link: 2 s of latency each way and every connection cut after 5 s.

Was: nothing was acknowledged for 95 s, the same oldest window reached the collector again and again
and the rest never. Now the first messages ride right behind CONNECT, the window grows from what a
connection proved, and no row acknowledged in this process is sent again: the backlog drains, each
rating stored once, with few copies on the wire.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest

from broker.contract import Rating, new_event_id, rating_topic, utcnow
from config.kiosk import KioskConfig
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.e2e import chain
from tests.e2e.proxy import CuttableProxy
from tests.e2e.test_long_outage import ArrivalOrder

SITE, DEVICE = "ubnd-xa-vung-cao", "quay-1"
BACKLOG = 200


@pytest.mark.mosquitto
def test_a_backlog_moves_forward_on_a_slow_link_cut_every_five_seconds(mosquitto, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = chain.start_collector(tmp_path, mosquitto.port, db_url)
    proxy = CuttableProxy(mosquitto.port, delay_s=2.0)
    watcher = None
    uplink = None
    outbox = Outbox(tmp_path / "outbox.db", journal=True)
    try:
        chain.wait_subscribed(mosquitto.port, db_url)
        watcher = ArrivalOrder(mosquitto.port)
        topic = rating_topic(SITE, DEVICE)
        for i in range(BACKLOG):
            outbox.add(Rating(id=new_event_id(), site=SITE, device=DEVICE, ts=utcnow(), rating=1 + i % 5,
                              scale=5, lang="vi"), topic)
        made = outbox.journal_ids()
        cfg = KioskConfig.model_validate({"site": SITE, "device": DEVICE, "repeat_window_s": 0,
                                          "broker": {"host": "127.0.0.1", "port": proxy.port, "keepalive_s": 30}})
        proxy.cut_every(5.0)
        start = time.monotonic()
        uplink = Uplink(cfg, outbox).start()
        drained = chain.wait_for(lambda: outbox.depth() == 0, 75, interval=0.5)
        took = time.monotonic() - start
        assert drained, f"{outbox.depth()} of {BACKLOG} still waiting after {took:.0f} s over {proxy.cuts} cuts"
        assert chain.wait_for(lambda: sorted(chain.stored_ids(db_url)) == sorted(made), 20), collector.tail()
        # Every rating once. The id is the table's key, so these count what the key cannot deduplicate:
        # the kiosk's journal (no rating made again under a new id while resending), the hourly rollup
        # every report reads (a copy counted twice there would not show in the ratings table), and the
        # copies on the wire against the duplicates the collector says it recognised.
        assert len(made) == len(set(made)) == BACKLOG and outbox.journal_ids() == made
        assert chain.rollup_total(db_url) == BACKLOG
        uplink.stop()
        uplink = None
        proxy.cut()  # nothing more reaches the broker; what it has, it hands to both subscribers
        assert chain.wait_for(chain.unchanged(lambda: len(watcher.ids)), 20, interval=1.0)
        copies = Counter(watcher.ids)
        assert set(copies) == set(made)
        # QoS 1 resends what a cut took before its PUBACK came back, never what was acknowledged:
        # few copies, where the old uplink sent its oldest window again on every connection
        assert sum(copies.values()) <= BACKLOG * 1.5, f"{sum(copies.values())} copies of {BACKLOG}"
        assert proxy.cuts >= 4  # the link really was cut while draining (the last cut is the one above)
        assert collector.stop() == 0
        totals = chain.collector_totals(collector)
        # the collector got the copies the watcher saw: each extra one arrived and was recognised, none stored
        assert totals["stored"] == BACKLOG and totals["duplicates"] == sum(copies.values()) - BACKLOG, totals
        assert chain.rollup_total(db_url) == BACKLOG
        print(f"drained {BACKLOG} in {took:.1f} s over {proxy.cuts} cuts and {proxy.connections} connections, "
              f"{sum(copies.values())} copies on the wire, {totals['duplicates']} recognised as duplicates")
    finally:
        if uplink:
            uplink.stop()
        outbox.close()
        proxy.close()
        if watcher:
            watcher.close()
        collector.stop()
