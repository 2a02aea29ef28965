"""The durable outbox: every rating is committed here before the thank-you screen shows.

SQLite in WAL mode with synchronous=FULL: a committed row survives kill -9 and power loss. The UI
thread adds rows; the uplink thread reads them in order, marks a row ``sent`` at the broker's PUBACK
and deletes it only when a collector's receipt (wire contract v2) says the database holds it
(``receipt``); rows without a receipt key (contract v1) are deleted at PUBACK. Each thread gets its own connection (sqlite3 connections must not be shared across threads);
one lock orders writes and a recovery, so a row is never written to a file just moved aside. Reads
do not take it (a tap never waits for the uplink's reads): a read that races a recovery reads again.
An optional journal keeps every id ever created (tests and the simulator compare it with what arrived).

Storage faults never escape: a failing write names the fault (``fault``: disk full, read-only, I/O
error, outbox corrupt), keeps the message in memory (``memory``) and the caller decides what to show.
``retry()`` tries the disk again; the first write that succeeds writes the memory back in tap order.

Sequence numbers (wire contract v2): the outbox has an ``epoch`` (a UUID made with the file, in the
meta table) and numbers every durable message 1, 2, 3, ... with no gap (``msg_seq``), in the same
transaction as the insert. A message that waited in memory gets its number when it is finally
written. A message sent straight from memory while the disk refuses writes (see ``memory_rows``)
cannot get a number of the disk's epoch: that number could not be recorded, and after a restart the
same number would go to another message. It is numbered instead in a memory epoch of this process
(a fresh UUID, numbered from 1), which no other process ever uses, so both epochs stay gap-free.

Receipt keys: each row keeps the (epoch, seq) its payload carries (``r_epoch``, ``r_seq``, indexed), so
a receipt deletes by range whatever epoch the row came from (a row carried over from a salvaged outbox
keeps its old numbering). ``r_epoch`` is '' for a payload that carries none (v1), NULL until worked out
(rows a salvage copied in are keyed at the next open). ``sent`` holds the uplink's monotonic
milliseconds at the row's last PUBACK: it tells "waiting for the database" from "not sent yet".
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Optional, Union

from broker.contract import Rating, encode, format_ts

from . import storage
from .outbox_schema import SCHEMA, UPSERT_META  # noqa: F401  (salvage.py and tests read them)
from .storage import classify

log = logging.getLogger(__name__)

RETRY_S = 2.0  # while the disk refuses writes, try it again this often
MARKER_EVERY_S = 2.0  # the marker beside the outbox learns the last seq at most this often

# A message is a ready payload, a Rating (contract v1, encoded as is) or a builder (epoch, seq) -> payload.
Builder = Callable[[str, int], bytes]
Message = Union[Rating, bytes, Builder]


class Row(NamedTuple):
    seq: int
    id: str
    topic: str
    payload: bytes
    keyed: bool = False  # a receipt can name it (contract v2): it is kept after the PUBACK until then


@dataclass
class Held:
    """A message the disk refused, kept in memory in tap order."""
    id: str
    topic: str
    message: Message
    created: str
    payload: Optional[bytes] = None   # built once it was sent straight from memory
    mem_seq: Optional[int] = None


def receipt_key(payload: bytes) -> tuple[str, Optional[int]]:
    """The (epoch, seq) a contract v2 payload carries, as a receipt names it; ('', None) if none (v1)."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "", None
    if isinstance(obj, dict) and obj.get("v") == 2 and isinstance(obj.get("epoch"), str) \
            and type(obj.get("seq")) is int:
        return obj["epoch"].lower(), obj["seq"]
    return "", None


def _utc() -> str:
    return format_ts(datetime.now(timezone.utc))


class Outbox:
    def __init__(self, path: str | Path, journal: bool = False, recover: bool = True):
        self.path = Path(path)
        self.journal = journal
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self.listeners: list = []  # called (no arguments) after each add, e.g. to wake the uplink
        self.generation = 0        # bumped whenever the file under ``path`` is replaced
        self.fault: Optional[str] = None         # storage.DISK_FULL, READ_ONLY, IO_ERROR, CORRUPT
        self.fault_detail: Optional[str] = None
        self.memory: list[Held] = []             # refused by the disk, in tap order
        self.memory_epoch: Optional[str] = None  # see the module docstring
        self._memory_seq = 0
        self.epoch: Optional[str] = None
        self.seq_last = 0
        self.salvage: Optional[dict] = None      # what the last recovery saved and lost, for the technician
        self._recover = recover
        self._closed = threading.Event()
        self._healer: Optional[threading.Thread] = None
        self._marker_at = 0.0
        self.last_receipted_sent: Optional[int] = None  # ``sent`` of the newest row a receipt cleared
        self._open()

    # ------------------------------------------------------------ opening
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "generation", None) != self.generation:
            with self._lock:  # only this thread uses it: closing it here never cuts another's query
                if conn in self._all:
                    self._all.remove(conn)
            try:
                conn.close()
            except sqlite3.Error:
                pass
            conn = None
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit: survives power loss
            self._local.conn = conn
            self._local.generation = self.generation
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self) -> None:
        """Open (or create) the file; a corrupted or vanished outbox is recovered, never fatal."""
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                marker = storage.read_marker(self.path)
                if self._recover and storage.looks_corrupt(self.path):
                    self._salvage_and_replace()
                    return
                fresh = not self.path.exists() or self.path.stat().st_size == 0
                self._init_schema()
                unwritable = storage.probe_write(self.path.parent)  # opening alone writes nothing
                if unwritable:
                    self._set_fault(unwritable, OSError(f"a test write in {self.path.parent} failed"))
                if fresh and marker is not None and self._recover:
                    self._report_vanished(marker)
            except sqlite3.Error as exc:
                kind = classify(exc)
                if kind == storage.CORRUPT and self._recover:
                    self._salvage_and_replace()
                    return
                self._set_fault(kind, exc)
            except OSError as exc:
                self._set_fault(classify(exc), exc)

    def _init_schema(self) -> None:
        conn = self._conn()
        try:  # an outbox already in today's shape needs no write to open (a read-only card still reads)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
            cols = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('epoch', 'seq_last')")) \
                if "meta" in tables else {}
        except sqlite3.OperationalError:
            tables, cols, meta = set(), set(), {}
        if not ({"outbox", "journal", "meta", "reports", "outbox_receipt"} <= tables and {"msg_seq", "r_epoch", "sent"} <= cols
                and "epoch" in meta):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                cols = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
                for col in ("msg_seq", "r_epoch", "r_seq", "sent"):  # an outbox made by an earlier version
                    if col not in cols:
                        conn.execute(f"ALTER TABLE outbox ADD COLUMN {col} {'TEXT' if col == 'r_epoch' else 'INTEGER'}")
                conn.execute("CREATE INDEX IF NOT EXISTS outbox_receipt ON outbox (r_epoch, r_seq)")
                meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('epoch', 'seq_last')"))
                if "epoch" not in meta:
                    meta = {"epoch": str(uuid.uuid4()), "seq_last": "0"}
                    conn.execute(UPSERT_META, ("epoch", meta["epoch"]))
                    conn.execute(UPSERT_META, ("seq_last", "0"))
                    conn.execute(UPSERT_META, ("created", _utc()))
                self._commit(conn)
            except BaseException:
                self._rollback(conn)
                raise
        self.epoch = meta["epoch"]
        self.seq_last = int(meta.get("seq_last", 0))
        self._key_rows(conn)
        storage.write_marker(self.path, self.epoch)

    def _key_rows(self, conn: sqlite3.Connection) -> None:
        """Give rows without a receipt key (written before keys existed, or copied in by a salvage) the
        (epoch, seq) their payload carries. A card that refuses the write is tried again at the next open."""
        try:
            todo = conn.execute("SELECT seq, msg_seq, payload FROM outbox WHERE r_epoch IS NULL").fetchall()
            if not todo:
                return
            keys = [(*(receipt_key(bytes(p)) if m is None else (self.epoch, m)), s) for s, m, p in todo]
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("UPDATE outbox SET r_epoch = ?, r_seq = ? WHERE seq = ?", keys)
                self._commit(conn)
            except BaseException:
                self._rollback(conn)
                raise
        except sqlite3.Error as exc:
            log.warning("outbox %s: receipt keys not written yet (%s)", self.path, exc)

    def _report_vanished(self, marker: dict) -> None:
        """A marker says an outbox existed here, but the file is gone or empty: say so, loudly."""
        body = {"what": "outbox missing or empty", "path": str(self.path), "previous_epoch": marker.get("epoch"),
                "new_epoch": self.epoch, "salvaged": 0, "at_last_stop": marker.get("depth"),
                "seq_last": marker.get("seq_last"), "when": _utc()}
        log.error("outbox %s was missing or empty although outbox epoch %s existed (at its last clean stop it "
                  "held %s waiting ratings): those are lost; started epoch %s", self.path, body["previous_epoch"],
                  body["at_last_stop"], self.epoch)
        self._record_report("outbox_lost", body)
        self.salvage = body

    def _salvage_and_replace(self) -> None:
        """Move the damaged file aside (kept for recovery) and copy every readable row into a new outbox."""
        from .salvage import salvage_into

        self.generation += 1  # every thread drops its connection to the damaged file at its next use
        try:
            report = salvage_into(self.path)  # the journal too, when readable
        except (sqlite3.Error, OSError) as exc:  # even the new file cannot be made: a storage fault
            self._set_fault(classify(exc), exc)
            return
        self.salvage = report
        log.error("outbox %s was corrupt: moved to %s, %d rows salvaged into a new outbox (epoch %s), %s lost",
                  self.path, report["moved_to"], report["salvaged"], report["new_epoch"], report["unreadable"])
        self._init_schema()

    # ------------------------------------------------------------ faults
    def _set_fault(self, kind: Optional[str], exc: BaseException) -> None:
        kind = storage.refine(kind or storage.IO_ERROR, self.path.parent)
        if self.fault != kind:
            log.error("outbox %s: %s (%s)", self.path, kind, exc)
        self.fault, self.fault_detail = kind, f"{type(exc).__name__}: {exc}"
        if self._healer is None and not self._closed.is_set():
            self._healer = threading.Thread(target=self._heal, name="outbox-retry", daemon=True)
            self._healer.start()

    def _heal(self) -> None:
        """Try the disk every RETRY_S while it refuses writes; the kiosk returns to normal by itself."""
        while not self._closed.wait(RETRY_S):
            if self.retry():
                break
        with self._lock:
            self._healer = None

    def _clear_fault(self) -> None:
        if self.fault is not None:
            log.warning("outbox %s writes again (was: %s)", self.path, self.fault)
        self.fault = self.fault_detail = None

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # A failed COMMIT (disk full, I/O error) may already have rolled back: a ROLLBACK then raises.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _guard(self, exc: BaseException) -> None:
        """A storage error was met: name it; a corruption found while running is recovered at once."""
        if isinstance(exc, sqlite3.IntegrityError):
            raise exc
        kind = classify(exc)
        if kind == storage.CORRUPT and self._recover:
            log.error("outbox %s: read failed (%s): recovering", self.path, exc)
            self._salvage_and_replace()
            return
        self._set_fault(kind, exc)

    # ------------------------------------------------------------ writing
    def add(self, message: Message, topic: str, id: Optional[str] = None, created: Optional[str] = None,
            _again: bool = False) -> Optional[int]:
        """Commit one message durably; returns its send-order number, or None if the disk refused it
        and it is kept in memory (``fault`` says why). ``message`` is a Rating (v1, encoded as is), a
        ready payload, or a builder called with (epoch, seq) inside the transaction; bytes and
        builders need ``id``. A second message with the same id raises sqlite3.IntegrityError."""
        if isinstance(message, Rating):
            id, created = message.id, format_ts(message.ts)
        if id is None:
            raise ValueError("add() needs the message id for a payload or builder")
        created = created or _utc()
        with self._lock:
            try:
                if self.memory:
                    self._write_memory()
                rowid = self._insert(self._conn(), [Held(id, topic, message, created)])[0]
                self._clear_fault()
            except (sqlite3.Error, OSError) as exc:
                self._guard(exc)
                if self.fault is None and not _again:  # recovered from a corruption: the new file takes it
                    return self.add(message, topic, id, created, _again=True)
                if self.fault is None:
                    self._set_fault(storage.CORRUPT, exc)
                self.memory.append(Held(id, topic, message, created))
                rowid = None
        for listener in self.listeners:
            listener()
        return rowid

    def _insert(self, conn: sqlite3.Connection, items: list[Held], held: bool = False) -> list[int]:
        """One transaction; ``held``: messages from memory, where one already on disk (a commit that
        reported failure after all) is skipped instead of blocking the rest forever."""
        verb = "INSERT OR IGNORE" if held else "INSERT"
        conn.execute("BEGIN IMMEDIATE")
        try:
            seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq_last'").fetchone()[0])
            rowids = []
            for item in items:
                if item.payload is not None:   # already sent from memory with a memory-epoch number
                    payload, msg_seq = item.payload, None
                    r_epoch, r_seq = (self.memory_epoch, item.mem_seq) if item.mem_seq else ("", None)
                else:
                    seq += 1
                    payload, msg_seq = self._build(item.message, self.epoch, seq), seq
                    # a builder numbers it here; a ready payload or a Rating says its own numbering, if any
                    r_epoch, r_seq = receipt_key(payload) if isinstance(item.message, (Rating, bytes, bytearray)) \
                        else (self.epoch, seq)
                cur = conn.execute(f"{verb} INTO outbox (id, topic, payload, created, msg_seq, r_epoch, r_seq) "
                                   f"VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   (item.id, item.topic, payload, item.created, msg_seq, r_epoch, r_seq))
                if cur.rowcount == 0:  # already there: its number is not used
                    if msg_seq is not None:
                        seq -= 1
                    continue
                rowids.append(cur.lastrowid)
                if self.journal:
                    conn.execute("INSERT INTO journal (id) VALUES (?)", (item.id,))
            conn.execute(UPSERT_META, ("seq_last", str(seq)))
            conn.execute(UPSERT_META, ("last_rating_ts", items[-1].created))
            self._commit(conn)
        except BaseException:
            self._rollback(conn)
            raise
        self.seq_last = seq
        self._note_progress()
        return rowids

    def _note_progress(self) -> None:
        """Keep the marker's last seq close to the outbox's (at most every MARKER_EVERY_S, off the tap's
        transaction): a card that later loses the file still tells how far its numbering went, so the
        collector can count what was lost."""
        now = time.monotonic()
        if now - self._marker_at < MARKER_EVERY_S:
            return
        self._marker_at = now
        try:
            storage.write_marker(self.path, self.epoch, seq_last=self.seq_last, depth=None)
        except OSError:
            pass

    @staticmethod
    def _build(message: Message, epoch: str, seq: int) -> bytes:
        if isinstance(message, Rating):
            return encode(message)
        if isinstance(message, (bytes, bytearray)):
            return bytes(message)
        return message(epoch, seq)

    def _write_memory(self) -> None:
        held = list(self.memory)
        self._insert(self._conn(), held, held=True)
        self.memory = self.memory[len(held):]
        log.warning("outbox %s: %d messages kept in memory are now written", self.path, len(held))

    def retry(self) -> bool:
        """Try the disk again (called every few seconds while ``fault`` is set); True once it writes."""
        with self._lock:
            if self.fault is None and not self.memory:
                return True
            self.generation += 1  # every thread reopens: a connection opened read-only stays read-only
            try:
                if self.epoch is None:
                    self._open_again()
                if self.fault == storage.CORRUPT or self.epoch is None:
                    return False
                unwritable = storage.probe_write(self.path.parent)  # the filesystem itself, beyond SQLite's files
                if unwritable:
                    self._set_fault(unwritable, OSError(f"a test write in {self.path.parent} failed"))
                    return False
                if self.memory:
                    self._write_memory()
                else:
                    conn = self._conn()
                    conn.execute("BEGIN IMMEDIATE")
                    try:  # a write the size of a rating, fsynced, as a tap would do
                        conn.execute(UPSERT_META, ("probe", _utc() + " " + "x" * 512))
                        self._commit(conn)
                    except BaseException:
                        self._rollback(conn)
                        raise
                self._clear_fault()
            except (sqlite3.Error, OSError) as exc:
                self._guard(exc)
                return self.fault is None
        for listener in self.listeners:
            listener()
        return True

    def _open_again(self) -> None:
        self.fault = None
        self._open()

    def delete(self, seqs: Iterable[int]) -> bool:
        """Forget rows the broker acknowledged, by send-order number; False if the disk refused."""
        return self._delete("seq", list(seqs))

    def delete_ids(self, ids: Iterable[str]) -> bool:
        """Forget rows the broker acknowledged, by message id; False if the disk refused."""
        return self._delete("id", list(ids))

    def _write(self, work: Callable[[sqlite3.Connection], object], refused: object = None) -> object:
        """Run ``work(conn)`` in one write transaction under the lock; its result, or ``refused`` when the
        disk refused (the fault is named and handled as for any write)."""
        with self._lock:
            try:
                conn = self._conn()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    self._commit(conn)
                except BaseException:
                    self._rollback(conn)
                    raise
                return result
            except (sqlite3.Error, OSError) as exc:
                self._guard(exc)
                return refused

    def _by_keys(self, sql: str, keys: list, head: tuple = ()) -> bool:
        """``sql`` ending in ``IN`` over ``keys`` (after the ``head`` parameters), 500 keys a statement, in one
        transaction; False if the disk refused."""
        if not keys:
            return True

        def work(conn):
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                conn.execute(f"{sql} ({','.join('?' * len(chunk))})", [*head, *chunk])
            return True
        return self._write(work, False)

    def _delete(self, column: str, keys: list) -> bool:
        return self._by_keys(f"DELETE FROM outbox WHERE {column} IN", keys)

    def mark_acknowledged(self, ids: Iterable[str], mono_ms: int) -> bool:
        """The broker took these rows (PUBACK): they wait for a receipt now; False if the disk refused."""
        return self._by_keys("UPDATE outbox SET sent = ? WHERE id IN", list(ids), (mono_ms,))

    def receipt(self, receipts: Iterable[tuple[str, Iterable[tuple[int, int]]]]) -> Optional[int]:
        """A collector stored these (epoch, [(first, last), ...]): forget those rows, in one transaction.
        Returns how many rows were deleted, or None if the disk refused (the receipt comes again)."""
        todo = [(epoch, first, last) for epoch, ranges in receipts for first, last in ranges]
        if not todo:
            return 0

        def work(conn):
            newest = [conn.execute("SELECT MAX(sent) FROM outbox WHERE r_epoch = ? AND r_seq BETWEEN ? AND ?",
                                   t).fetchone()[0] for t in todo]
            before = conn.total_changes
            conn.executemany("DELETE FROM outbox WHERE r_epoch = ? AND r_seq BETWEEN ? AND ?", todo)
            return conn.total_changes - before, [n for n in newest if n is not None]
        done = self._write(work)
        if done is None:
            return None
        gone, newest = done
        if newest:  # the latest acknowledgement a receipt has cleared: older unreceipted rows were overtaken
            self.last_receipted_sent = max(newest)
        return gone

    def forget_acknowledged(self) -> int:
        """Trust the broker's PUBACK again (no collector sends receipts): forget every acknowledged row."""
        with self._lock:
            try:
                conn = self._conn()
                before = conn.total_changes
                conn.execute("DELETE FROM outbox WHERE sent IS NOT NULL")
                return conn.total_changes - before
            except (sqlite3.Error, OSError) as exc:
                self._guard(exc)
                return 0

    def receipt_epochs(self) -> set[str]:
        """The epochs rows waiting here are numbered in (this outbox's, and any carried over)."""
        return self._read(lambda c: {r[0] for r in c.execute("SELECT DISTINCT r_epoch FROM outbox WHERE r_epoch <> ''")},
                          set())

    def waiting(self) -> tuple[int, Optional[str]]:
        """Rows the broker took that no receipt has cleared yet: how many, and the oldest one's tap time."""
        row = self._read(lambda c: c.execute("SELECT COUNT(*), MIN(created) FROM outbox WHERE sent IS NOT NULL")
                         .fetchone(), None)
        return (row[0], row[1]) if row else (0, None)

    def adopt(self, other: Path) -> int:
        """Take every message still waiting in another outbox file (the one a changed ``outbox.path`` left
        behind) into this one, in its order and with its own numbering (receipts name them by it), and
        move that file aside; returns how many were taken. A copy already here is not taken twice."""
        from .salvage import move_aside

        src = sqlite3.connect(f"file:{other}?mode=ro", uri=True)
        try:
            rows = src.execute("SELECT id, topic, payload, created FROM outbox ORDER BY seq").fetchall()
            try:
                journal = [r[0] for r in src.execute("SELECT id FROM journal ORDER BY seq")]
            except sqlite3.Error:
                journal = []
        finally:
            src.close()
        taken = 0
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for id_, topic, payload, created in rows:
                    payload = bytes(payload)
                    cur = conn.execute("INSERT OR IGNORE INTO outbox (id, topic, payload, created, msg_seq, r_epoch, "
                                       "r_seq) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                                       (id_, topic, payload, created, *receipt_key(payload)))
                    taken += cur.rowcount
                if self.journal and journal:
                    known = {r[0] for r in conn.execute("SELECT id FROM journal")}
                    conn.executemany("INSERT INTO journal (id) VALUES (?)", [(i,) for i in journal if i not in known])
                self._commit(conn)
            except BaseException:
                self._rollback(conn)
                raise
        moved = move_aside(Path(other), "moved")
        marker = storage.marker_path(Path(other))  # its epoch lives on here: no "vanished" report there later
        if marker.exists():
            os.replace(marker, moved.with_name(moved.name + ".epoch"))
        log.warning("outbox moved: %d waiting messages taken from %s into %s (the old file is kept as %s)",
                    taken, other, self.path, moved)
        for listener in self.listeners:
            listener()
        return taken

    # ------------------------------------------------------------ memory, sent straight away
    def memory_rows(self) -> list[Row]:
        """Messages held in memory, as rows to send now; numbered in this process's memory epoch."""
        with self._lock:
            rows = []
            for item in self.memory:
                if item.payload is None:
                    if self.memory_epoch is None:
                        self.memory_epoch = str(uuid.uuid4())
                    self._memory_seq += 1
                    item.mem_seq = self._memory_seq
                    item.payload = self._build(item.message, self.memory_epoch, item.mem_seq)
                rows.append(Row(-(item.mem_seq or 0), item.id, item.topic, item.payload))
            return rows

    def forget_memory(self, ids: Iterable[str]) -> None:
        """The broker acknowledged these messages from memory: its PUBACK is their durability."""
        gone = set(ids)
        with self._lock:
            self.memory = [m for m in self.memory if m.id not in gone]

    # ------------------------------------------------------------ reading
    def _read(self, fn, default):
        """Run a query on this thread's connection without holding the write lock, so a tap never
        waits for the uplink's reads. If the file was replaced meanwhile, read again."""
        for _attempt in range(3):
            with self._lock:
                if self.epoch is None:
                    return default
                generation = self.generation
                conn = self._conn()
            try:
                return fn(conn)
            except (sqlite3.Error, OSError) as exc:
                with self._lock:
                    if self.generation != generation:
                        continue  # salvaged or reopened by another thread: read the current file
                    self._guard(exc)
                    if self.generation != generation and self.fault is None:
                        continue  # this read found the damage and recovered it: read the new file
                    return default
        return default

    def peek(self, after_seq: int = 0, limit: int = 100, sent_before: Optional[int] = None) -> list[Row]:
        """The next rows to send, oldest first; only ``limit`` of them are ever in memory. ``sent_before``
        (monotonic ms) skips rows the broker acknowledged at or after it (a resend round)."""
        sql, args = "SELECT seq, id, topic, payload, r_epoch FROM outbox WHERE seq > ?", [after_seq]
        if sent_before is not None:
            sql += " AND (sent IS NULL OR sent < ?)"
            args.append(sent_before)

        def q(conn):
            rows = conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
            return [Row(s, i, t, bytes(p), bool(e)) for s, i, t, p, e in rows]
        return self._read(q, [])

    def depth(self) -> int:
        """Messages waiting: on disk and in memory."""
        return self._read(lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 0) + len(self.memory)

    def ids(self) -> list[str]:
        return self._read(lambda c: [r[0] for r in c.execute("SELECT id FROM outbox ORDER BY seq")], [])

    def journal_ids(self) -> list[str]:
        return self._read(lambda c: [r[0] for r in c.execute("SELECT id FROM journal ORDER BY seq")], [])

    def journal_count(self) -> int:
        return self._read(lambda c: c.execute("SELECT COUNT(*) FROM journal").fetchone()[0], 0)

    def last_rating_ts(self) -> Optional[str]:
        row = self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = 'last_rating_ts'").fetchone(), None)
        return row[0] if row else (self.memory[-1].created if self.memory else None)

    def meta_get(self, key: str) -> Optional[str]:
        row = self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone(), None)
        return row[0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        """A small note kept across restarts; one the disk refuses is only logged."""
        with self._lock:
            try:
                self._conn().execute(UPSERT_META, (key, value))
            except (sqlite3.Error, OSError) as exc:
                log.warning("outbox %s: cannot keep %s: %s", self.path, key, exc)

    # ------------------------------------------------------------ reports
    def _record_report(self, kind: str, body: dict) -> None:
        try:
            conn = self._conn()
            conn.execute("INSERT INTO reports (kind, created, body) VALUES (?, ?, ?)",
                         (kind, _utc(), json.dumps(body, ensure_ascii=False)))
        except (sqlite3.Error, OSError) as exc:
            log.error("outbox %s: cannot record the %s report: %s", self.path, kind, exc)

    def reports(self, unsent_only: bool = True) -> list[tuple[int, str, dict]]:
        """Salvage and loss reports (n, kind, body), to be sent as events; ``mark_sent`` once acknowledged."""
        sql = "SELECT n, kind, body FROM reports" + (" WHERE sent = 0" if unsent_only else "") + " ORDER BY n"
        return self._read(lambda c: [(n, k, json.loads(b)) for n, k, b in c.execute(sql)], [])

    def mark_sent(self, n: int) -> None:
        with self._lock:  # a write: ordered with the others
            self._read(lambda c: c.execute("UPDATE reports SET sent = 1 WHERE n = ?", (n,)), None)

    # ------------------------------------------------------------ closing
    def _close_all(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self.epoch is not None and self.fault is None:
                try:  # what the marker remembers lets the next start tell "empty" from "wiped"
                    storage.write_marker(self.path, self.epoch, depth=self.depth(), seq_last=self.seq_last)
                except OSError:
                    pass
            self._close_all()
