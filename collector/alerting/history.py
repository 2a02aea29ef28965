"""Acknowledge and comment on alerts: what the dashboard calls when a manager acts on one."""
from __future__ import annotations

from datetime import datetime

from ..storage.db import Database
from ..reports.hierarchy import Hierarchy
from .evaluate import ALERT_COLUMNS, alert_dict
from .recipients import covers
from .timefmt import iso, utcnow


def acknowledge(db: Database, alert_id: int, author: str, comment: str = "", now: datetime | None = None) -> bool:
    """Mark an alert as seen by ``author`` (the first acknowledgement counts); a comment may go with it.
    False when there is no such alert."""
    now = now or utcnow()
    with db.transaction():
        if not db.scalar("SELECT COUNT(*) FROM alerts WHERE id = ?", (alert_id,)):
            return False
        db.execute("UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL",
                   (iso(now), author, alert_id))
        db.execute("INSERT INTO alert_notes (alert_id, at, author, kind, text) VALUES (?, ?, ?, 'ack', ?)",
                   (alert_id, iso(now), author, comment.strip()))
    return True


def add_comment(db: Database, alert_id: int, author: str, text: str, now: datetime | None = None) -> bool:
    text = text.strip()
    if not text:
        raise ValueError("a comment needs some text")
    now = now or utcnow()
    with db.transaction():
        if not db.scalar("SELECT COUNT(*) FROM alerts WHERE id = ?", (alert_id,)):
            return False
        db.execute("INSERT INTO alert_notes (alert_id, at, author, kind, text) VALUES (?, ?, ?, 'comment', ?)",
                   (alert_id, iso(now), author, text))
    return True


def list_alerts(db: Database, tz: str, hierarchy: Hierarchy, scope: str = "all", open_only: bool = False,
                limit: int = 200) -> list[dict]:
    """Newest first, only those inside ``scope``, each with its notes (acknowledgements and comments)."""
    where = "WHERE cleared_at IS NULL" if open_only else ""
    rows = db.query(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts {where} ORDER BY id DESC LIMIT ?", (limit,))
    alerts = [a for a in (alert_dict(r, tz) for r in rows) if covers(scope, a["place"], hierarchy)]
    if alerts:
        ids = [a["id"] for a in alerts]
        notes: dict[int, list] = {}
        for alert_id, at, author, kind, text in db.query(
                f"SELECT alert_id, at, author, kind, text FROM alert_notes WHERE alert_id IN ({', '.join('?' * len(ids))}) "
                "ORDER BY id", ids):
            notes.setdefault(int(alert_id), []).append({"at": at, "author": author, "kind": kind, "text": text})
        for a in alerts:
            a["notes"] = notes.get(a["id"], [])
    return alerts
