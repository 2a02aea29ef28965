"""The durable notification queue (table ``notifications``).

A message is queued in the same transaction as the alert that causes it, rendered once, and delivered
by ``deliver_due``: claimed, sent, marked sent. A failure leaves it queued with a later ``next_try``
(backoff doubling from 30 s to an hour), so a mail server that is down only delays delivery. A message
marked sent is never sent again; the unique ``key`` also makes queueing idempotent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..storage.db import Database
from .mailer import Mailer, MailError
from .timefmt import iso, parse
from .webhook import WebhookError, post

log = logging.getLogger("collector.notify")
PENDING, SENT, FAILED = "pending", "sent", "failed"
CLAIM = timedelta(minutes=5)  # another collector may retry a claimed message after this long
BATCH = 200


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def enqueue(db: Database, key: str, channel: str, target: str, subject: str, payload: bytes, now: datetime) -> bool:
    """Queue one message; False when a message with this key was queued before (nothing changes)."""
    cur = db.execute(
        "INSERT INTO notifications (key, channel, target, subject, payload, status, attempts, next_try, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (key) DO NOTHING",
        (key, channel, target, subject, payload, PENDING, iso(now), iso(now)))
    return cur.rowcount == 1


def existing_keys(db: Database, prefix: str) -> set[str]:
    return {r[0] for r in db.query("SELECT key FROM notifications WHERE key LIKE ?", (prefix + "%",))}


@dataclass
class Round:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    left: int = 0  # due but not tried this round (the mail server is down)


def deliver_due(db: Database, cfg, now: datetime, mailer: Mailer | None = None) -> Round:
    """Try every message that is due; returns what happened."""
    out = Round()
    hooks = {w.name: w for w in cfg.notify.webhooks}
    give_up = timedelta(hours=cfg.notify.retry_hours)
    own_mailer = mailer is None and cfg.notify.smtp is not None
    mailer = mailer or (Mailer(cfg.notify.smtp) if cfg.notify.smtp else None)
    smtp_down = False
    try:
        while True:
            rows = db.query("SELECT id, channel, target, payload, attempts, created_at FROM notifications "
                            "WHERE status = ? AND next_try <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
                            "ORDER BY id LIMIT ?", (PENDING, iso(now), iso(now), BATCH))
            if not rows:
                break
            tried = 0
            for id_, channel, target, payload, attempts, created in rows:
                if channel == "email" and smtp_down:
                    out.left += 1
                    continue
                claim = db.execute("UPDATE notifications SET claimed_until = ? WHERE id = ? AND status = ? "
                                   "AND (claimed_until IS NULL OR claimed_until < ?)",
                                   (iso(now + CLAIM), id_, PENDING, iso(now)))
                if claim.rowcount != 1:
                    continue  # another collector has it
                tried += 1
                try:
                    if channel == "email":
                        if mailer is None:
                            raise MailError("notify.smtp is not configured", True)
                        mailer.send(target, bytes(payload))
                    else:
                        hook = hooks.get(target)
                        if hook is None:
                            raise WebhookError(f"webhook {target!r} is no longer in notify.webhooks")
                        post(hook, bytes(payload))
                except (MailError, WebhookError) as exc:
                    attempts += 1
                    late = now - (parse(created) or now) >= give_up
                    status = FAILED if late else PENDING
                    db.execute("UPDATE notifications SET status = ?, attempts = ?, next_try = ?, claimed_until = NULL, "
                               "last_error = ? WHERE id = ?",
                               (status, attempts, iso(now + backoff(attempts)), str(exc)[:500], id_))
                    if late:
                        out.failed += 1
                        log.error("gave up notification %s to %s after %d attempts: %s", id_, target, attempts, exc)
                    else:
                        out.retry += 1
                        log.warning("notification %s to %s not delivered (attempt %d, next in %s): %s",
                                    id_, target, attempts, backoff(attempts), exc)
                    if isinstance(exc, MailError) and exc.connection:
                        smtp_down = True
                    continue
                # Sent: the payload (attachments) is no longer needed; the row stays as the record.
                db.execute("UPDATE notifications SET status = ?, sent_at = ?, attempts = ?, claimed_until = NULL, "
                           "payload = ?, last_error = NULL WHERE id = ?", (SENT, iso(now), attempts + 1, b"", id_))
                out.sent += 1
            if tried == 0 or len(rows) < BATCH:
                break
    finally:
        if own_mailer and mailer is not None:
            mailer.close()
    return out


def pending_count(db: Database) -> int:
    return db.scalar("SELECT COUNT(*) FROM notifications WHERE status = ?", (PENDING,)) or 0
