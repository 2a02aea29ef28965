"""The durable outbox: order, deletion only of what was acknowledged, persistence, two threads at once."""
import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from broker.contract import Rating, decode, new_event_id, rating_topic
from kiosk.outbox import Outbox

TOPIC = rating_topic("site-a", "quay-01")


def rating(n: int = 5) -> Rating:
    now = datetime.now(timezone.utc)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the wire keeps milliseconds
    return Rating(id=new_event_id(), site="site-a", device="quay-01", ts=now,
                  rating=n, scale=5, lang="vi")


def test_rows_come_back_in_tap_order_as_contract_payloads(tmp_path):
    box = Outbox(tmp_path / "o.db")
    made = [rating(i % 5 + 1) for i in range(10)]
    for r in made:
        box.add(r, TOPIC)
    rows = box.peek(0, 100)
    assert [r.id for r in rows] == [m.id for m in made]
    assert all(row.topic == TOPIC for row in rows)
    assert [decode(row.topic, row.payload) for row in rows] == made
    assert [r.id for r in box.peek(rows[4].seq, 3)] == [m.id for m in made[5:8]]
    assert box.depth() == 10


def test_only_acknowledged_rows_are_deleted(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(5):
        box.add(rating(), TOPIC)
    rows = box.peek()
    box.delete([rows[1].seq, rows[3].seq])
    assert box.ids() == [rows[0].id, rows[2].id, rows[4].id]
    box.delete([])
    assert box.depth() == 3


def test_committed_rows_survive_reopening(tmp_path):
    box = Outbox(tmp_path / "o.db", journal=True)
    made = [rating() for _ in range(3)]
    for r in made:
        box.add(r, TOPIC)
    box.close()  # no orderly shutdown is needed: see tests/integration/test_kiosk_outbox_kill.py
    again = Outbox(tmp_path / "o.db", journal=True)
    assert again.ids() == [r.id for r in made]
    assert again.journal_ids() == [r.id for r in made] and again.journal_count() == 3
    assert again.last_rating_ts() is not None


def test_journal_keeps_ids_after_delete(tmp_path):
    box = Outbox(tmp_path / "o.db", journal=True)
    r = rating()
    box.add(r, TOPIC)
    box.delete([box.peek()[0].seq])
    assert box.depth() == 0 and box.journal_ids() == [r.id]


def test_wal_and_full_sync(tmp_path):
    box = Outbox(tmp_path / "o.db")
    conn = box._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_same_rating_twice_is_refused_not_doubled(tmp_path):
    box = Outbox(tmp_path / "o.db")
    r = rating()
    box.add(r, TOPIC)
    with pytest.raises(sqlite3.IntegrityError):
        box.add(r, TOPIC)
    assert box.depth() == 1


def test_listeners_hear_each_add(tmp_path):
    box = Outbox(tmp_path / "o.db")
    heard = []
    box.listeners.append(lambda: heard.append(1))
    box.add(rating(), TOPIC)
    assert heard == [1]


def test_writer_and_reader_threads_lose_nothing(tmp_path):
    """The UI thread adds while the uplink thread reads and deletes, each on its own connection."""
    box = Outbox(tmp_path / "o.db")
    made, seen = [], []
    done = threading.Event()

    def writer():
        for _ in range(400):
            r = rating()
            box.add(r, TOPIC)
            made.append(r.id)
        done.set()

    def reader():
        last = 0
        while True:
            rows = box.peek(last, 50)
            if not rows:
                if done.is_set() and not box.peek(last, 1):
                    return
                continue
            seen.extend(r.id for r in rows)
            last = rows[-1].seq
            box.delete([r.seq for r in rows])

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen == made and box.depth() == 0
