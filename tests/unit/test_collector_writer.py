"""The writer loop without a broker: batches by size, acks only after the commit, and a message the
database refuses does not block the stream forever."""
from __future__ import annotations

import queue
import threading
import time
import types
import uuid

from broker.contract import Rating, encode, utcnow
from collector.storage.db import connect
from collector.ingest.ingest import Message
from collector.ingest.service import Stats, Writer
from collector.ingest.store import Store

T = "hailong/v1/ubnd-a/quay-01/rating"


class FakeSource:
    def __init__(self):
        self.acked: list[int] = []
        self.receipts: list[tuple[str, bytes]] = []

    def ack(self, acks):
        self.acked.extend(mid for mid, _, _ in acks)

    def send_receipts(self, receipts):
        self.receipts.extend(receipts)


def cfg(max_size=100):
    return types.SimpleNamespace(batch=types.SimpleNamespace(max_size=max_size, max_wait_ms=20), log_interval_s=60,
                                 broker=types.SimpleNamespace(topic_prefix="hailong/v1"), receipts=True)


def rating(officer=None) -> bytes:
    return encode(Rating(id=str(uuid.uuid4()), site="ubnd-a", device="quay-01", ts=utcnow(), rating=5, scale=5,
                         lang="vi", officer=officer))


def writer_for(tmp_path, officers, source=None):
    """A writer over a queue already holding one rating per officer (mids 1, 2, ...) and a SQLite file."""
    q: queue.Queue = queue.Queue()
    for i, officer in enumerate(officers):
        q.put(Message(T, rating(officer), i + 1, 1, False, 1_795_000_000.0))
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    w = Writer(cfg(), lambda: Store(connect(db_url)), source or FakeSource(), q, Stats(), threading.Event(), None)
    return w, db_url


def run(writer: Writer, stop: threading.Event, seconds: float) -> None:
    t = threading.Thread(target=writer.run)
    t.start()
    t.join(seconds)
    stop.set()
    t.join(10)


def test_messages_are_acked_after_their_batch_and_stopping_flushes(tmp_path):
    w, _ = writer_for(tmp_path, [None] * 250)
    src, stop, stats = w.source, w.stop, w.stats
    run(w, stop, 1.0)
    assert src.acked == list(range(1, 251)) and stats.stored == 250 and stats.batches == 3


def test_a_message_the_database_refuses_becomes_a_reject_and_the_rest_is_stored(tmp_path, monkeypatch):
    real_write = Store.write

    def picky_write(self, batch):
        if any(r.officer == "poison" for r in batch.rows):
            raise ValueError("the database refuses this row")
        return real_write(self, batch)
    monkeypatch.setattr(Store, "write", picky_write)
    w, db_url = writer_for(tmp_path, ["a", "poison", "b"])
    src, stop = w.source, w.stop
    run(w, stop, 4.0)  # two retries (0.5 s + 1 s) before going one by one
    db = connect(db_url)
    assert db.scalar("SELECT COUNT(*) FROM ratings") == 2
    assert db.query("SELECT reason FROM rejects") == [("store_error",)]
    assert sorted(src.acked) == [1, 2, 3]


def test_the_next_batch_is_validated_while_the_previous_one_is_written(tmp_path, monkeypatch):
    real_write, writing, release = Store.write, threading.Event(), threading.Event()

    def slow_write(self, batch):
        writing.set()
        assert release.wait(5)
        return real_write(self, batch)
    monkeypatch.setattr(Store, "write", slow_write)
    w, _ = writer_for(tmp_path, [None] * 200)
    src, stop, stats = w.source, w.stop, w.stats
    t = threading.Thread(target=w.run)
    t.start()
    try:
        assert writing.wait(5)
        deadline = time.monotonic() + 5
        while w._ready.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = w._ready.queue[0]  # the second batch, already validated, while the first is not yet written
        assert waiting is not None and len(waiting[1].rows) == 100 and src.acked == []
    finally:
        release.set()
        time.sleep(0.2)
        stop.set()
        t.join(10)
    assert src.acked == list(range(1, 201)) and stats.stored == 200


def test_a_failing_ack_stops_the_writer_and_nothing_after_it_is_acked(tmp_path):
    """Three batches wait; acknowledging the first fails (the network thread is gone). The writer stops, and
    the later batches are never acknowledged: the broker redelivers them to the next collector."""
    db_url = f"sqlite:///{tmp_path / 'r.db'}"

    class BrokenSource(FakeSource):
        def __init__(self):
            super().__init__()
            self.tried: list[list[int]] = []  # every call to ack, failed or not
            self.stored_then: list[int] = []  # rows committed when it was called

        def ack(self, acks):
            self.tried.append([mid for mid, _, _ in acks])
            self.stored_then.append(connect(db_url).scalar("SELECT COUNT(*) FROM ratings"))
            raise RuntimeError("network thread gone")
    w, _ = writer_for(tmp_path, [None] * 250, BrokenSource())
    src, stop = w.source, w.stop
    t = threading.Thread(target=lambda: setattr(w, "result", w.run()))
    t.start()
    t.join(10)
    assert not t.is_alive() and w.result is False and stop.is_set()
    # The one ack tried came after its batch was committed, and none came after it failed.
    assert src.tried == [list(range(1, 101))] and src.stored_then == [100]
    assert src.acked == []
