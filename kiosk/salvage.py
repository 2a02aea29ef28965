"""Recovering a damaged outbox: read every row that can still be read, keep the damaged file.

The damaged file is moved aside under a timestamped name (``outbox.db.corrupt-20261126T212000Z``,
with its -wal and -shm) and never deleted: a specialist may recover more from it later. The rows
that can be read are copied in send order into a new outbox with a new epoch; their payloads are
kept byte for byte (a v2 payload keeps the epoch and seq it was numbered with), so the collector
sees the same messages and drops any copy it already has by id. Reading goes forwards until the
first damaged page, backwards from the end to the last damaged page, then row by row in between,
so one bad page costs only the rows on it. A file whose 100-byte header was overwritten is read
through a copy with a rebuilt header.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from . import storage

MAX_POINT_LOOKUPS = 2_000_000
SIDE_FILES = ("-wal", "-shm")


def _valid(row) -> bool:
    seq, id_, topic, payload, created = row[:5]
    if not isinstance(id_, str) or not isinstance(topic, str) or not isinstance(payload, (bytes, str)):
        return False
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("id") == id_


def _scan(conn: sqlite3.Connection, sql: str, args=()) -> tuple[list, bool]:
    """Rows of a query until the first read error; (rows, finished)."""
    rows = []
    try:
        cur = conn.execute(sql, args)
        while True:
            row = cur.fetchone()
            if row is None:
                return rows, True
            rows.append(row)
    except sqlite3.DatabaseError:
        return rows, False


def _columns(conn: sqlite3.Connection) -> str:
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
    except sqlite3.DatabaseError:
        cols = set()
    return "seq, id, topic, payload, created" + (", msg_seq" if "msg_seq" in cols else ", NULL")


def _read_table(conn: sqlite3.Connection, table_cols: str, table: str = "outbox") -> tuple[list, int, list[str]]:
    """(valid rows in seq order, rows that could not be read, problems met)."""
    problems: list[str] = []
    base = f"SELECT {table_cols} FROM {table}"
    forward, done = _scan(conn, base + " ORDER BY seq")
    found = {r[0]: r for r in forward}
    holes = 0
    if not done:
        problems.append(f"{table}: read stopped after {len(forward)} rows (damaged page)")
        backward, _ = _scan(conn, base + " ORDER BY seq DESC")
        lo = forward[-1][0] if forward else 0
        back = [r for r in backward if r[0] > lo]
        found.update((r[0], r) for r in back)
        hi = min((r[0] for r in back), default=None)
        if hi is None:  # nothing readable from the end: the highest number ever given bounds the search
            try:
                hi = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()[0] + 1
            except (sqlite3.DatabaseError, TypeError):
                hi = lo + 1
        if hi - lo - 1 <= MAX_POINT_LOOKUPS:
            for seq in range(lo + 1, hi):
                try:
                    row = conn.execute(base + " WHERE seq = ?", (seq,)).fetchone()
                except sqlite3.DatabaseError:
                    holes += 1
                    continue
                if row is not None:
                    found[seq] = row
                # a missing row is one already sent and deleted, or one on a damaged page: when a
                # point lookup fails outright it is counted, when it finds nothing it is not
    rows = [found[k] for k in sorted(found)]
    return rows, holes, problems


def _header_for(path: Path) -> Optional[bytes]:
    """A plausible 100-byte SQLite header for a file whose own header is damaged or whose length no
    longer matches it (truncated): the page size it states if it still looks sane, else 4096."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        old = f.read(100)
    page = struct.unpack(">H", old[16:18])[0] if len(old) >= 18 else 0
    page = 65536 if page == 1 else page
    if page < 512 or page > 65536 or page & (page - 1):
        page = 4096
    if size < page * 2:
        return None
    pages = -(-size // page)  # a truncated last page reads as zeros
    fields = struct.pack(">HBBBBBBIIIIIIIIIIII", page if page < 65536 else 1, 1, 1, 0, 64, 32, 32,
                         1, pages, 0, 0, 1, 4, 0, 0, 1, 0, 0, 0)
    header = b"SQLite format 3\x00" + fields
    header += b"\x00" * (92 - len(header)) + struct.pack(">II", 1, 3040001)
    return header


def _template_page1(page: int) -> bytes:
    """Page 1 (the table list) of a fresh outbox with this page size: the tables of an outbox made by
    this code sit on the same root pages, so a destroyed first page can be replaced by this one."""
    from .outbox_schema import SCHEMA

    with tempfile.TemporaryDirectory(prefix="outbox-template-") as d:
        conn = sqlite3.connect(Path(d) / "t.db")
        conn.execute(f"PRAGMA page_size={page}")
        conn.executescript(SCHEMA)
        conn.close()
        return (Path(d) / "t.db").read_bytes()[:page]


def _patched_copies(path: Path, tmpdir: str) -> list[tuple[str, Path]]:
    """Copies of a file with a damaged first page: header rebuilt, or the whole first page replaced."""
    header = _header_for(path)
    if header is None:
        return []
    page = struct.unpack(">H", header[16:18])[0] or 65536
    out = []
    for how, first in (("header rebuilt", header), ("first page rebuilt", _template_page1(page))):
        copy = Path(tmpdir) / f"{len(out)}-{path.name}"
        shutil.copyfile(path, copy)
        with open(copy, "r+b") as f:
            if len(first) > 100:  # keep the size of the damaged file in the rebuilt header
                first = header[:100] + first[100:]
            f.write(first)
        out.append((how, copy))
    return out


def _read_file(source: Path) -> dict:
    result = {"rows": [], "journal": [], "epoch": None, "seq_last": None, "unreadable": 0, "problems": []}
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=5)
    try:
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            result["problems"].append(f"the table list is unreadable: {exc}")
            return result
        rows, holes, problems = _read_table(conn, _columns(conn))
        result["problems"] += problems
        result["rows"] = [r for r in rows if _valid(r)]
        result["unreadable"] = holes + (len(rows) - len(result["rows"]))
        jrows, _jholes, _ = _read_table(conn, "seq, id, '', '', ''", "journal")
        result["journal"] = [r[1] for r in jrows if isinstance(r[1], str)]
        for key in ("epoch", "seq_last"):
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                result[key] = row[0] if row else None
            except sqlite3.DatabaseError:
                pass
    finally:
        conn.close()
    return result


def read_outbox(path: Path) -> dict:
    """Everything readable in an outbox file, without changing it.

    Returns {"rows": [(seq, id, topic, payload, created, msg_seq)], "journal": [ids], "epoch",
    "seq_last", "unreadable", "problems", "header_rebuilt"}."""
    path = Path(path)
    empty = {"rows": [], "journal": [], "epoch": None, "seq_last": None, "unreadable": 0, "problems": [],
             "header_rebuilt": False}
    if not path.exists() or path.stat().st_size == 0:
        return {**empty, "problems": ["the file is missing or empty"]}
    with open(path, "rb") as f:
        magic = f.read(16)
    result = {**empty, **(_read_file(path) if magic == b"SQLite format 3\x00" else
                          {"problems": ["the file header is not an SQLite header"]})}
    if result["rows"] or result["epoch"]:
        return result
    # nothing readable through the file's own first page: try again through a rebuilt one
    with tempfile.TemporaryDirectory(prefix="outbox-salvage-") as tmpdir:
        for how, copy in _patched_copies(path, tmpdir):
            again = _read_file(copy)
            if again["rows"]:
                again["problems"] = result["problems"] + [f"read through a copy with its {how}"] + again["problems"]
                return {**again, "header_rebuilt": True}
    return result


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def move_aside(path: Path, label: str = "corrupt") -> Path:
    """Rename the file (and its -wal/-shm) to a timestamped name beside it (``<name>.<label>-<time>``);
    never delete it."""
    target = path.with_name(f"{path.name}.{label}-{_stamp()}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{label}-{_stamp()}-{n}")
    os.replace(path, target)
    for side in SIDE_FILES:
        if Path(str(path) + side).exists():
            os.replace(str(path) + side, str(target) + side)
    return target


def salvage_into(path: Path, journal: bool = True) -> dict:
    """Move ``path`` aside and write its readable rows into a new outbox at ``path`` (a new epoch).
    Returns the report that is also stored in the new outbox's ``reports`` table and beside it."""
    from .outbox_schema import SCHEMA, UPSERT_META

    path = Path(path)
    marker = storage.read_marker(path) or {}
    moved = move_aside(path)
    found = read_outbox(moved)
    new_epoch = str(uuid.uuid4())
    same = found["epoch"] is None or marker.get("epoch") == found["epoch"]
    at_stop = marker.get("depth") if same else None
    lost = found["unreadable"]
    if at_stop is not None:
        lost = max(lost, at_stop - len(found["rows"]))
    report = {"what": "outbox corrupt", "path": str(path), "moved_to": str(moved),
              "previous_epoch": found["epoch"] or marker.get("epoch"), "new_epoch": new_epoch,
              "salvaged": len(found["rows"]), "unreadable": lost, "at_last_stop": at_stop,
              "seq_last": max(int(found["seq_last"] or 0), int(marker.get("seq_last") or 0) if same else 0) or None,
              "header_rebuilt": found["header_rebuilt"], "problems": found["problems"][:10],
              "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(UPSERT_META, ("epoch", new_epoch))
        conn.execute(UPSERT_META, ("seq_last", "0"))
        conn.execute(UPSERT_META, ("created", report["when"]))
        conn.execute(UPSERT_META, ("salvaged_from", str(moved)))
        for seq, id_, topic, payload, created, _msg_seq in found["rows"]:
            payload = payload.encode() if isinstance(payload, str) else payload
            # carried over: the payload keeps its own numbering, so msg_seq stays NULL in the new epoch
            conn.execute("INSERT OR IGNORE INTO outbox (id, topic, payload, created, msg_seq) VALUES (?, ?, ?, ?, NULL)",
                         (id_, topic, payload, created))
        if journal:
            conn.executemany("INSERT INTO journal (id) VALUES (?)", [(i,) for i in found["journal"]])
        if found["rows"]:
            conn.execute(UPSERT_META, ("last_rating_ts", found["rows"][-1][4]))
        conn.execute("INSERT INTO reports (kind, created, body) VALUES ('outbox_salvaged', ?, ?)",
                     (report["when"], json.dumps(report, ensure_ascii=False)))
        conn.execute("COMMIT")
    finally:
        conn.close()
    Path(str(moved) + ".report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    storage.write_marker(path, new_epoch)
    return report
