"""The durable outbox: order, deletion only of what was acknowledged, persistence, two threads at once;
storage faults (injected at the SQL call: tests/integration/test_kiosk_storage_faults.py uses real
full and read-only filesystems), sequence numbers, and damaged files."""
import json
import sqlite3
import threading
import time
from pathlib import Path
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


# ---------------------------------------------------------------- storage faults (injected at the SQL call)
class FlakyConn:
    """A real connection whose next COMMITs fail the way SQLite fails them on a full or dying disk:
    the transaction is already rolled back when the error is raised."""

    def __init__(self, conn, faults):
        self._conn, self._faults = conn, faults

    def execute(self, sql, *args):
        fail = self._faults.get("commit") if sql == "COMMIT" else self._faults.get("delete") \
            if sql.startswith("DELETE") else None
        if fail:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError(fail)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture
def flaky(monkeypatch):
    faults: dict = {}
    real = sqlite3.connect
    monkeypatch.setattr("kiosk.outbox.sqlite3.connect", lambda *a, **k: FlakyConn(real(*a, **k), faults))
    monkeypatch.setattr("kiosk.outbox.RETRY_S", 0.05)
    return faults


def test_disk_full_at_commit_keeps_the_rating_in_memory_and_names_the_fault(tmp_path, flaky):
    """Was: COMMIT failed with "database or disk is full", the ROLLBACK after it raised "cannot
    rollback - no transaction is active" and the app exited."""
    box = Outbox(tmp_path / "o.db")
    box.add(rating(), TOPIC)
    flaky["commit"] = "database or disk is full"
    held = rating()
    assert box.add(held, TOPIC) is None  # not durable: no exception, no thank-you
    assert box.fault == "disk full" and [m.id for m in box.memory] == [held.id]
    assert box.depth() == 2 and box.seq_last == 1


def test_read_only_disk_is_named_and_nothing_raises(tmp_path, flaky):
    box = Outbox(tmp_path / "o.db")
    flaky["commit"] = "attempt to write a readonly database"
    assert box.add(rating(), TOPIC) is None
    assert box.fault == "read-only"
    assert box.delete_ids(["x"]) is False


def test_when_the_disk_returns_held_ratings_are_written_once_in_tap_order(tmp_path, flaky):
    box = Outbox(tmp_path / "o.db")
    first = rating()
    box.add(first, TOPIC)
    flaky["commit"] = "database or disk is full"
    held = [rating() for _ in range(3)]
    for r in held:
        box.add(r, TOPIC)
    flaky.clear()
    # the outbox tries the disk again by itself every RETRY_S
    deadline = time.monotonic() + 5
    while box.fault and time.monotonic() < deadline:
        time.sleep(0.02)
    assert box.fault is None and box.memory == []
    assert box.ids() == [first.id] + [r.id for r in held]
    seqs = [s for (s,) in sqlite3.connect(tmp_path / "o.db").execute("SELECT msg_seq FROM outbox ORDER BY seq")]
    assert seqs == [1, 2, 3, 4] and box.seq_last == 4


def test_a_tap_after_the_disk_returns_writes_the_held_ones_first(tmp_path, flaky):
    box = Outbox(tmp_path / "o.db")
    flaky["commit"] = "disk I/O error"
    held = rating()
    box.add(held, TOPIC)
    assert box.fault == "I/O error"
    flaky.clear()
    later = rating()
    assert box.add(later, TOPIC) is not None
    assert box.ids() == [held.id, later.id] and box.fault is None


def test_failing_delete_does_not_raise_and_keeps_the_row(tmp_path, flaky):
    box = Outbox(tmp_path / "o.db")
    r = rating()
    box.add(r, TOPIC)
    flaky["delete"] = "database or disk is full"
    assert box.delete_ids([r.id]) is False
    assert box.fault == "disk full" and box.ids() == [r.id]


# ---------------------------------------------------------------- sequence numbers (contract v2)
def test_every_message_gets_the_next_seq_of_the_epoch_in_its_own_transaction(tmp_path):
    box = Outbox(tmp_path / "o.db")
    epoch = box.epoch
    assert epoch and box.seq_last == 0
    seen = []

    def builder(e, s):
        seen.append((e, s))
        return json.dumps({"id": f"m{s}", "epoch": e, "seq": s}).encode()

    box.add(builder, TOPIC, id="m1")
    box.add(rating(), TOPIC)                       # a v1 rating keeps working, and is numbered too
    box.add(b'{"id": "m3"}', TOPIC, id="m3")       # a ready payload
    box.add(builder, TOPIC, id="m4")
    assert seen == [(epoch, 1), (epoch, 4)] and box.seq_last == 4
    assert json.loads(box.peek()[3].payload) == {"id": "m4", "epoch": epoch, "seq": 4}
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.epoch == epoch and again.seq_last == 4
    again.add(builder, TOPIC, id="m5")
    assert seen[-1] == (epoch, 5)
    assert Outbox(tmp_path / "other.db").epoch != epoch  # a new outbox is a new epoch


def test_a_refused_insert_uses_no_number(tmp_path, flaky):
    box = Outbox(tmp_path / "o.db")
    box.add(rating(), TOPIC)
    flaky["commit"] = "database or disk is full"
    box.add(rating(), TOPIC)
    flaky.clear()
    box.retry()
    box.add(rating(), TOPIC)
    seqs = [s for (s,) in sqlite3.connect(tmp_path / "o.db").execute("SELECT msg_seq FROM outbox ORDER BY seq")]
    assert seqs == [1, 2, 3]


def test_messages_sent_from_memory_are_numbered_in_a_memory_epoch(tmp_path, flaky):
    """A number of the disk's epoch cannot be recorded while the disk refuses writes, so a message
    sent straight from memory is numbered in this process's own epoch; the disk epoch stays gap-free."""
    box = Outbox(tmp_path / "o.db")
    box.add(lambda e, s: json.dumps({"id": "a", "epoch": e, "seq": s}).encode(), TOPIC, id="a")
    flaky["commit"] = "database or disk is full"
    for name in ("b", "c"):
        box.add(lambda e, s, n=name: json.dumps({"id": n, "epoch": e, "seq": s}).encode(), TOPIC, id=name)
    rows = box.memory_rows()
    bodies = [json.loads(r.payload) for r in rows]
    assert [(b["id"], b["seq"]) for b in bodies] == [("b", 1), ("c", 2)]
    assert {b["epoch"] for b in bodies} == {box.memory_epoch} and box.memory_epoch != box.epoch
    assert box.memory_rows() == rows  # numbered once: a resend is the same message
    box.forget_memory(["b"])          # the broker's PUBACK made it durable
    flaky.clear()
    box.retry()                       # "c" was sent but not acknowledged: it is kept, same payload
    box.add(lambda e, s: json.dumps({"id": "d", "epoch": e, "seq": s}).encode(), TOPIC, id="d")
    got = [(r.id, json.loads(r.payload)["epoch"] == box.epoch, json.loads(r.payload)["seq"]) for r in box.peek()]
    assert got == [("a", True, 1), ("c", False, 2), ("d", True, 2)]


# ---------------------------------------------------------------- a damaged outbox
def filled(tmp_path, n=300) -> tuple:
    path = tmp_path / "o.db"
    box = Outbox(path, journal=True)
    made = [rating() for _ in range(n)]
    for r in made:
        box.add(r, TOPIC)
    box.close()  # a clean stop
    return path, [r.id for r in made]


def damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "half":
        path.write_bytes(data[:len(data) // 2])
    elif how == "header":
        path.write_bytes(bytes(range(100)) + data[100:])
    elif how == "zero":
        path.write_bytes(b"")
    elif how == "middle":
        mid = len(data) // 2
        path.write_bytes(data[:mid] + b"\xa5\x5a" * 4096 + data[mid + 8192:])


@pytest.mark.parametrize("how", ["half", "header", "middle"])
def test_a_damaged_outbox_is_moved_aside_and_every_readable_row_salvaged(tmp_path, how):
    """Was: a crash at start-up before any window (half, header) or every read failing (middle)."""
    path, made = filled(tmp_path)
    old_epoch = json.loads((tmp_path / "o.db.epoch").read_text())["epoch"]
    damage(path, how)
    box = Outbox(path, journal=True)
    report = box.salvage
    assert box.fault is None and report is not None
    kept = box.ids()
    assert kept == [i for i in made if i in set(kept)]          # salvaged rows keep their order
    assert report["salvaged"] == len(kept) and report["salvaged"] + report["unreadable"] == len(made)
    if how == "header":
        assert kept == made                                      # nothing was lost, nothing may be
    else:
        assert len(kept) >= 50
    assert box.epoch != old_epoch and report["previous_epoch"] == old_epoch
    moved = Path(report["moved_to"])
    assert moved.exists() and moved.name.startswith("o.db.corrupt-")   # kept for recovery
    assert Path(str(moved) + ".report.json").exists()
    assert [k for _, k, _ in box.reports()] == ["outbox_salvaged"]     # to be sent as an event


def test_an_outbox_emptied_to_zero_bytes_is_reported_not_silently_empty(tmp_path):
    """Was: it started empty and 300 ratings were silently gone."""
    path, made = filled(tmp_path)
    damage(path, "zero")
    box = Outbox(path)
    assert box.salvage["what"] == "outbox missing or empty" and box.salvage["at_last_stop"] == 300
    assert [k for _, k, _ in box.reports()] == ["outbox_lost"]


def test_a_removed_outbox_is_reported_too(tmp_path):
    path, _ = filled(tmp_path, 3)
    path.unlink()
    assert Outbox(path).salvage["at_last_stop"] == 3


def test_a_brand_new_outbox_reports_nothing(tmp_path):
    box = Outbox(tmp_path / "o.db")
    assert box.salvage is None and box.reports() == []


def test_damage_found_while_running_is_recovered_at_the_read(tmp_path, monkeypatch):
    """Damage the start-up check did not see (it happens later, or the check missed it): the read
    that meets it moves the file aside and continues on the salvaged copy."""
    path, made = filled(tmp_path)
    damage(path, "middle")
    monkeypatch.setattr("kiosk.storage.looks_corrupt", lambda p: False)
    box = Outbox(path, journal=True)
    assert box.salvage is None
    seen, after = [], 0
    for _ in range(50):
        rows = box.peek(after, 20)
        if not rows:
            break
        seen += [r.id for r in rows]
        after = rows[-1].seq
        box.delete_ids([r.id for r in rows])
    report = box.salvage
    assert report is not None and box.fault is None and Path(report["moved_to"]).exists()
    assert len(seen) == len(set(seen)) == report["salvaged"] >= 100 and set(seen) <= set(made)
    assert report["salvaged"] + report["unreadable"] == len(made)


def test_outbox_check_and_salvage_commands(tmp_path):
    import subprocess
    import sys
    path, made = filled(tmp_path, 120)

    def run(*args):
        p = subprocess.run([sys.executable, "-m", "kiosk", "outbox", *args, str(path)], capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parents[2])
        return p.returncode, p.stdout

    code, out = run("check")
    assert code == 0 and "sound; 120 messages waiting" in out
    damage(path, "header")
    code, out = run("check")
    assert code == 1 and "DAMAGED" in out and "python -m kiosk outbox salvage" in out
    code, out = run("salvage")
    assert code == 0 and "salvaged 120 messages" in out and "moved to" in out
    code, out = run("check")
    assert code == 0 and "sound; 120 messages waiting" in out
    damage(path, "half")
    code, out = run("salvage")
    assert code == 1 and "LOST:" in out
