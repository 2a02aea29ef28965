"""A rating leaves the kiosk only when the database has it: receipts end to end, with real processes.

Each test runs a real Mosquitto (persistence on, no autosave before the kill: a power cut loses
everything it held), the real ``python -m collector run`` and ``python -m kiosk simulate --journal``.
The broker's PUBACK is not enough: in each scenario the broker acknowledges ratings and then loses
them (killed with -9, or no collector session to queue them for). Every rating must still be stored
exactly once: the database holds exactly the ids of the kiosk's journal, the hourly rollup counts
each once, and the kiosk's outbox ends empty only because receipts emptied it.
"""
from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e import chain
from tests.servers import Mosquitto


def _outbox(workdir: Path) -> Path:
    (path,) = workdir.glob("outbox-*.db")
    return path


def _outbox_counts(workdir: Path) -> tuple[int, int]:
    """(rows waiting, rows the broker took without a receipt yet), read beside the running kiosk."""
    try:
        conn = sqlite3.connect(_outbox(workdir), timeout=5)
    except ValueError:  # no outbox yet
        return -1, -1
    try:
        return conn.execute("SELECT COUNT(*), COUNT(sent) FROM outbox").fetchone()
    except sqlite3.Error:
        return -1, -1
    finally:
        conn.close()


def _kiosk(workdir: Path, port: int, count: int, rate: float, device: str = "quay-01") -> chain.Proc:
    """A simulated kiosk that stays connected after its taps (as a real one does)."""
    return chain.start_kiosk_sim(workdir, "ubnd-a", device, port, count, rate, extra=("--stay",))


def _stored_once(workdir: Path, db_url: str, count: int, collector: chain.Proc, timeout: float = 60,
                 device: str = "quay-01") -> None:
    assert chain.wait_for(lambda: len(chain.journal_ids(workdir)) == count, 60), "the kiosk did not tap them all"
    created = chain.journal_ids(workdir)
    ok = chain.wait_for(lambda: sorted(chain.stored_ids(db_url)) == sorted(created), timeout)
    assert ok, f"{len(set(chain.stored_ids(db_url)) & set(created))} of {count} stored\n{collector.tail()}"
    # once: the rollups count what was inserted, so a rating stored twice would count twice there
    assert chain.rollup_total(db_url) == count
    # the kiosk forgets them only because receipts said so
    assert chain.wait_for(lambda: _outbox_counts(workdir)[0] == 0, 30), _outbox_counts(workdir)
    # and the manager's audit agrees with the kiosk's own numbering: created = received, nothing missing
    chain.assert_audit_whole(workdir, db_url, "ubnd-a", device, _outbox(workdir))


@pytest.fixture
def db_url(request, tmp_path, postgres_server):
    if getattr(request, "param", "sqlite") == "postgres":
        return postgres_server.fresh_database(f"receipts_{abs(hash(request.node.name)) % 10**8}")
    return f"sqlite:///{tmp_path / 'ratings.db'}"


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
def test_ratings_acknowledged_by_a_broker_that_then_loses_power_are_stored_once(tmp_path, db_url):
    """The collector is away (its session queues at the broker), a kiosk taps 199 and the broker takes
    every one; the broker is killed with -9 and restarted; the collector comes back: 199 of 199."""
    broker = Mosquitto(tmp_path / "broker").start()
    collector = kiosk = None
    try:
        collector = chain.start_collector(tmp_path, broker.port, db_url)
        chain.wait_subscribed(broker.port, db_url)
        collector.stop()  # away for maintenance: its persistent session queues what comes
        kiosk = _kiosk(tmp_path, broker.port, 199, 0)
        # every rating was acknowledged by the broker (PUBACK) and is still kept: no receipt yet
        assert chain.wait_for(lambda: _outbox_counts(tmp_path) == (199, 199), 30), _outbox_counts(tmp_path)
        broker.stop(signal.SIGKILL)  # a power cut: what it held since its last save is gone
        broker.start()
        time.sleep(2)  # the kiosk reconnects and sends again, before any collector session exists
        collector.start()
        _stored_once(tmp_path, db_url, 199, collector)
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()
        broker.stop()


def test_a_kiosk_that_sends_before_any_collector_subscribed_loses_nothing(tmp_path):
    """A new broker, no collector session yet: the broker acknowledges and drops 20 ratings. The
    collector's first start (its time signal) makes the kiosk send them again."""
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = Mosquitto(tmp_path / "broker").start()
    collector = kiosk = None
    try:
        kiosk = _kiosk(tmp_path, broker.port, 20, 0)
        assert chain.wait_for(lambda: _outbox_counts(tmp_path) == (20, 20), 30), _outbox_counts(tmp_path)
        collector = chain.start_collector(tmp_path, broker.port, db_url)
        _stored_once(tmp_path, db_url, 20, collector)
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()
        broker.stop()


def test_a_collector_away_longer_than_its_session_expiry_loses_nothing(tmp_path):
    """The collector's session outlives a short absence only: away longer than session_expiry_s (7 days in
    the example, 3 s here), the broker has thrown the session away and acknowledges and drops what
    kiosks send. The collector's return (its time signal) makes the kiosk send them again."""
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = Mosquitto(tmp_path / "broker").start()
    collector = kiosk = None
    try:
        collector = chain.start_collector(tmp_path, broker.port, db_url, session_expiry_s=3)
        chain.wait_subscribed(broker.port, db_url)
        collector.stop()
        time.sleep(4)  # the session's expiry passes
        kiosk = _kiosk(tmp_path, broker.port, 30, 0)
        assert chain.wait_for(lambda: _outbox_counts(tmp_path) == (30, 30), 30), _outbox_counts(tmp_path)
        collector.start()
        _stored_once(tmp_path, db_url, 30, collector)
        # the premise: the broker had no session for the returning collector (it queued nothing)
        sessions = re.findall(r"session present: (\w+)", collector.log.read_text(errors="replace"))
        assert sessions == ["False", "False"], sessions
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()
        broker.stop()


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
def test_broker_killed_mid_stream_with_the_collector_running_loses_nothing(tmp_path, db_url):
    """The everyday form: 100 taps a second, the broker killed with -9 mid-stream and restarted; the
    restarted broker lost the collector's session, so the kiosk's first sends after it go nowhere."""
    broker = Mosquitto(tmp_path / "broker").start()
    collector = kiosk = None
    try:
        collector = chain.start_collector(tmp_path, broker.port, db_url)
        chain.wait_subscribed(broker.port, db_url)
        kiosk = _kiosk(tmp_path, broker.port, 600, 100)
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= 200, 30), collector.tail()
        broker.stop(signal.SIGKILL)
        time.sleep(0.5)
        broker.start()
        _stored_once(tmp_path, db_url, 600, collector, timeout=90)
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()
        broker.stop()


def test_kiosk_and_broker_on_one_power_circuit_lose_nothing(tmp_path):
    """Kiosk and broker killed together mid-stream, both restarted: every rating stored once."""
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    broker = Mosquitto(tmp_path / "broker").start()
    collector = kiosk = None
    try:
        collector = chain.start_collector(tmp_path, broker.port, db_url)
        chain.wait_subscribed(broker.port, db_url)
        kiosk = _kiosk(tmp_path, broker.port, 400, 100)
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= 150, 30), collector.tail()
        kiosk.kill9()
        broker.stop(signal.SIGKILL)
        time.sleep(0.5)
        broker.start()
        kiosk.start()  # the journal counts on from where it was: 400 in all
        _stored_once(tmp_path, db_url, 400, collector, timeout=90)
    finally:
        for p in (kiosk, collector):
            if p is not None:
                p.stop()
        broker.stop()


def test_through_a_bridge_a_killed_commune_broker_and_a_cut_link_lose_nothing(tmp_path):
    """A commune broker bridged to the province; the collector stores at the province. Mid-stream the
    bridge link is cut for 20 s, and meanwhile the commune broker, holding a backlog it acknowledged,
    is killed with -9 and restarted: receipts come back down the bridge, and what the commune broker
    lost is sent again by the kiosk. Every rating stored once."""
    from tests.e2e.bridge_outage import bridged_outage

    got = bridged_outage(tmp_path, cut_s=20, stored_once=_stored_once)
    assert got["stored"] == got["created"] == 300 and got["doubled"] == 0, got


@pytest.mark.postgres
def test_two_collectors_in_a_share_group_never_receipt_what_is_not_committed(tmp_path, postgres_server):
    """Two collectors share the stream into one PostgreSQL; one is killed with -9 mid-batch and
    restarted. A watcher checks every receipt against the database the moment it arrives: each seq
    it names must already be stored."""
    import json
    import threading

    import paho.mqtt.client as mqtt

    from collector.storage.db import connect

    db_url = postgres_server.fresh_database("receipts_share")
    broker = Mosquitto(tmp_path / "broker").start()
    checked, wrong = [], []
    lock = threading.Lock()
    watcher_db = {}

    def check(client, userdata, m):
        body = json.loads(m.payload)
        with lock:
            db = watcher_db.setdefault("db", connect(db_url))
            for first, last in body["seqs"]:
                n = db.scalar("SELECT (SELECT COUNT(*) FROM ratings WHERE device = ? AND epoch = ? AND seq BETWEEN ? AND ?)"
                              " + (SELECT COUNT(*) FROM events WHERE device = ? AND epoch = ? AND seq BETWEEN ? AND ?)",
                              (body["device"], body["epoch"], first, last) * 2)
                (checked if n == last - first + 1 else wrong).append((body["device"], first, last, n))

    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = check
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("hailong/v1/+/+/receipt", qos=1)
    watcher.loop_start()
    procs = []
    try:
        c1 = chain.start_collector(tmp_path, broker.port, db_url, client_id="c1", share_group="g", batch=500)
        c2 = chain.start_collector(tmp_path, broker.port, db_url, client_id="c2", share_group="g", batch=500)
        procs += [c1, c2]
        chain.wait_subscribed(broker.port, db_url)
        time.sleep(2)  # both members subscribed
        kiosks = [_kiosk(tmp_path, broker.port, 500, 50, device=f"quay-0{i}") for i in range(1, 5)]
        procs += kiosks
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= 600, 60), c1.tail()
        c1.kill9()
        time.sleep(2)
        c1.start()
        assert chain.wait_for(lambda: len(chain.journal_ids(tmp_path)) == 2000, 90)
        created = chain.journal_ids(tmp_path)
        assert chain.wait_for(lambda: sorted(chain.stored_ids(db_url)) == sorted(created), 90), c1.tail()
        assert chain.rollup_total(db_url) == 2000
        assert chain.wait_for(lambda: all(_outbox_counts_of(p)[0] == 0 for p in tmp_path.glob("outbox-*.db")), 60)
        def seen() -> int:
            with lock:
                return sum(last - first + 1 for _, first, last, _ in checked)
        assert chain.wait_for(lambda: seen() >= 2000, 30), f"the watcher checked {seen()} receipted seqs"
        with lock:
            assert wrong == [], f"receipts named seqs not yet stored: {wrong[:5]}"
    finally:
        for p in procs:
            p.stop()
        watcher.loop_stop()
        broker.stop()
        if "db" in watcher_db:
            watcher_db["db"].close()


def _outbox_counts_of(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*), COUNT(sent) FROM outbox").fetchone()
    finally:
        conn.close()
