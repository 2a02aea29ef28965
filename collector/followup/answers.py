"""Where the citizens' answers are kept, and how one meets its rating.

An answer is accepted as soon as its token can be judged:
- the rating is stored (its ``followup_links`` row holds the token's hash): the token must match, be
  within ``ttl`` of the tap, and not have been used; the answer is ``joined`` at once;
- the rating is not stored yet (the kiosk is offline): the answer waits as ``pending`` and is joined
  inside the batch transaction that stores its rating (``on_ratings``) if the hash matches, or dropped;
  a pending answer whose rating never comes is deleted after ``pending_ms``.
A rating stored without a hash never takes an answer. One answer per rating and per token: the token's
hash is unique, and a partial unique index keeps one joined answer per rating.

Comments and contacts are deleted after the retention period (``purge``), with the copy a
``followup_comment`` alert keeps of the comment; the scores stay.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from broker import followup_tokens as tokens

from ..storage.followup_tables import MIGRATION  # noqa: F401  (answers.MIGRATION, as before)

ELEMENTS = ("access", "procedure", "staff", "result", "feedback")  # SIPAS (Decision 1001/QĐ-BNV)
SCORE_COLUMNS = tuple(f"s_{e}" for e in ELEMENTS)
MAX_PENDING_PER_RATING = 3  # made-up tokens for a rating not yet stored cannot pile up
HOUR_MS = 3_600_000


class Outcome(enum.Enum):
    OPEN = "open"            # the form may be shown
    ACCEPTED = "accepted"    # stored and joined to its rating
    PENDING = "pending"      # stored; joined when the rating arrives
    ALREADY = "already"      # this token was used
    FORGED = "forged"        # no such token
    EXPIRED = "expired"      # too long after the tap
    BUSY = "busy"            # too many answers wait for this rating


@dataclass(frozen=True)
class Answer:
    scores: dict[str, int] = field(default_factory=dict)  # element -> 1..5; a skipped element is absent
    comment: str = ""
    contact: str = ""
    lang: str = "vi"


def _link(db, rating_id: str):
    rows = db.query("SELECT token_hash, site, device, at_ms FROM followup_links WHERE rating_id = ?", (rating_id,))
    return rows[0] if rows else None


def _used(db, h: str) -> bool:
    return bool(db.scalar("SELECT COUNT(*) FROM followup_answers WHERE token_hash = ?", (h,)))


def check(db, rating_id: str, token: str, now_ms: int, ttl_ms: int) -> Outcome:
    """What a visit to the link may do now (OPEN, ALREADY, FORGED or EXPIRED); writes nothing."""
    h = tokens.token_hash(rating_id, token)
    link = _link(db, rating_id)
    if link is not None:
        if not tokens.same_hash(link[0], h):
            return Outcome.FORGED
        if _used(db, h):
            return Outcome.ALREADY
        if now_ms > int(link[3]) + ttl_ms:
            return Outcome.EXPIRED
        return Outcome.OPEN
    if db.scalar("SELECT COUNT(*) FROM ratings WHERE id = ?", (rating_id,)):
        return Outcome.FORGED  # stored without a QR: no token was ever made for it
    return Outcome.ALREADY if _used(db, h) else Outcome.OPEN


def submit(db, rating_id: str, token: str, answer: Answer, now_ms: int, ttl_ms: int) -> Outcome:
    """Store one answer if the token allows it; ACCEPTED, PENDING or why not."""
    h = tokens.token_hash(rating_id, token)
    with db.transaction():
        state = check(db, rating_id, token, now_ms, ttl_ms)
        if state is not Outcome.OPEN:
            return state
        link = _link(db, rating_id)
        if link is None and db.scalar("SELECT COUNT(*) FROM followup_answers WHERE rating_id = ? AND state = 'pending'",
                                      (rating_id,)) >= MAX_PENDING_PER_RATING:
            return Outcome.BUSY
        joined = link is not None
        db.execute(
            f"INSERT INTO followup_answers (rating_id, token_hash, state, site, device, lang, {', '.join(SCORE_COLUMNS)}, "
            "comment, contact, submitted_ms, ttl_ms, joined_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rating_id, h, "joined" if joined else "pending", link[1] if joined else "", link[2] if joined else "",
             answer.lang, *(answer.scores.get(e) for e in ELEMENTS), answer.comment or None, answer.contact or None,
             now_ms, ttl_ms, now_ms if joined else None))
    return Outcome.ACCEPTED if joined else Outcome.PENDING


def on_ratings(db, links: Sequence[tuple[str, str, str, str, int]], now_ms: int) -> int:
    """Inside the batch transaction that stored these ratings (rating id, token hash, site, device, at_ms):
    remember their hashes and join the answers that came first. Returns how many were joined."""
    if not links:
        return 0
    links = sorted(links)
    for i in range(0, len(links), 500):
        chunk = links[i:i + 500]
        db.execute("INSERT INTO followup_links (rating_id, token_hash, site, device, at_ms) VALUES "
                   + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)) + " ON CONFLICT (rating_id) DO NOTHING",
                   [v for row in chunk for v in row])
    by_id = {r[0]: r for r in links}
    joined = 0
    ids = sorted(by_id)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        waiting = db.query("SELECT id, rating_id, token_hash, submitted_ms, ttl_ms FROM followup_answers "
                           f"WHERE state = 'pending' AND rating_id IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                           chunk)
        for aid, rid, h, submitted, ttl in waiting:
            _, want, site, device, at_ms = by_id[rid]
            if tokens.same_hash(want, h) and int(submitted) <= int(at_ms) + int(ttl):
                db.execute("UPDATE followup_answers SET state = 'joined', site = ?, device = ?, joined_ms = ? "
                           "WHERE id = ?", (site, device, now_ms, aid))
                joined += 1
            else:  # a made-up token, or an answer written after the token's time: never shown
                db.execute("DELETE FROM followup_answers WHERE id = ?", (aid,))
    return joined


def expire(db, now_ms: int, pending_ms: int) -> int:
    """Delete answers still waiting for a rating after ``pending_ms``; returns how many."""
    with db.transaction():
        n = db.scalar("SELECT COUNT(*) FROM followup_answers WHERE state = 'pending' AND submitted_ms < ?",
                      (now_ms - pending_ms,))
        if n:
            db.execute("DELETE FROM followup_answers WHERE state = 'pending' AND submitted_ms < ?", (now_ms - pending_ms,))
    return int(n or 0)


def purge(db, now_ms: int, retention_days: float) -> int:
    """Delete comments and contacts older than the retention period (the scores stay); returns how many."""
    cutoff = now_ms - int(retention_days * 24 * HOUR_MS)
    with db.transaction():
        n = db.scalar("SELECT COUNT(*) FROM followup_answers WHERE submitted_ms < ? "
                      "AND (comment IS NOT NULL OR contact IS NOT NULL)", (cutoff,))
        if n:
            db.execute("UPDATE followup_answers SET comment = NULL, contact = NULL, purged = 1 WHERE submitted_ms < ? "
                       "AND (comment IS NOT NULL OR contact IS NOT NULL)", (cutoff,))
        # the copy a followup_comment alert keeps of the comment goes too (the alert itself stays)
        from datetime import datetime, timezone

        from broker.contract import format_ts

        db.execute("UPDATE alerts SET detail = '{}' WHERE kind = 'followup_comment' AND fired_at < ? AND detail <> '{}'",
                   (format_ts(datetime.fromtimestamp(cutoff / 1000, timezone.utc)),))
    return int(n or 0)


LIST_COLUMNS = ("submitted_ms", "site", "device", "rating", "scale", "officer", "service", "dossier", "ticket",
                *ELEMENTS, "comment", "contact", "rating_id")


def joined(db, sites: Iterable[str] | None, since_ms: int, until_ms: int, with_contact: bool,
           limit: int = 1000) -> list[dict]:
    """Joined answers submitted in [since, until), newest first, with their rating's face, counter, officer,
    service; ``sites`` None means every site (scope all). ``contact`` is None unless ``with_contact``."""
    where, params = ["a.state = 'joined'", "a.submitted_ms >= ?", "a.submitted_ms < ?"], [since_ms, until_ms]
    if sites is not None:
        sites = sorted(sites)
        if not sites:
            return []
        where.append(f"a.site IN ({', '.join('?' * len(sites))})")
        params.extend(sites)
    rows = db.query(
        f"SELECT a.submitted_ms, a.site, a.device, r.rating, r.scale, r.officer, r.service, r.dossier, r.ticket, "
        f"{', '.join('a.' + c for c in SCORE_COLUMNS)}, a.comment, a.contact, a.rating_id FROM followup_answers a "
        f"LEFT JOIN ratings r ON r.id = a.rating_id WHERE {' AND '.join(where)} "
        f"ORDER BY a.submitted_ms DESC, a.id DESC LIMIT ?", [*params, int(limit)])
    out = []
    for row in rows:
        d = dict(zip(LIST_COLUMNS, row))
        if not with_contact:
            d["contact"] = None
        out.append(d)
    return out
