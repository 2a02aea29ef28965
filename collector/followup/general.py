"""The static counter QR: "general feedback" printed at a counter, not tied to any visit.

A code names one counter (``followup_counters``: made by ``python -m collector followup counter-qr``, kept
until revoked); the form at ``/g/<code>`` is marked as general feedback, and what it takes goes to its own
table (``followup_general``), never to ``followup_answers``: it is counted apart and never enters a visit's
figures (the five elements' means of the thank-you QR, the alert rules, the reports' comments). Anybody who
sees the printed code can answer, again and again: only the form's rate limits (per address, and
``followup_form.general_per_hour`` per code) bound it, which is why it stays apart.
"""
from __future__ import annotations

import re
import secrets
from typing import Iterable

from .answers import ELEMENTS, SCORE_COLUMNS, Answer

CODE_RE = re.compile(r"[A-Za-z0-9_-]{16}")

from ..storage.followup_tables import GENERAL_FEEDBACK_TABLES as MIGRATION  # noqa: E402,F401  (general.MIGRATION, as before)


def make_code(db, site: str, device: str, name: str, now_ms: int, new: bool = False) -> str:
    """The counter's code: the one it has, or a fresh one (``new`` revokes the old: a reprinted sign)."""
    with db.transaction():
        rows = db.query("SELECT code FROM followup_counters WHERE site = ? AND device = ? AND revoked_ms IS NULL",
                        (site, device))
        if rows and not new:
            return rows[0][0]
        if rows:
            db.execute("UPDATE followup_counters SET revoked_ms = ? WHERE site = ? AND device = ? "
                       "AND revoked_ms IS NULL", (now_ms, site, device))
        code = secrets.token_urlsafe(12)  # 96 random bits, 16 characters
        db.execute("INSERT INTO followup_counters (code, site, device, name, created_ms) VALUES (?, ?, ?, ?, ?)",
                   (code, site, device, name, now_ms))
    return code


def link(base_url: str, code: str, lang: str | None = None) -> str:
    return f"{base_url.rstrip('/')}/g/{code}" + (f"?l={lang}" if lang and lang != "vi" else "")


def counter_of(db, code: str) -> tuple[str, str, str] | None:
    """(site, device, name) of a code in force, or None."""
    if not CODE_RE.fullmatch(code or ""):
        return None
    rows = db.query("SELECT site, device, name FROM followup_counters WHERE code = ? AND revoked_ms IS NULL", (code,))
    return tuple(rows[0]) if rows else None


def submit(db, code: str, answer: Answer, now_ms: int) -> bool:
    """Store one general answer for the counter of ``code``; False when the code is not in force."""
    with db.transaction():
        place = counter_of(db, code)
        if place is None:
            return False
        db.execute(f"INSERT INTO followup_general (code, site, device, lang, {', '.join(SCORE_COLUMNS)}, comment, "
                   "contact, submitted_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (code, place[0], place[1], answer.lang, *(answer.scores.get(e) for e in ELEMENTS),
                    answer.comment or None, answer.contact or None, now_ms))
    return True


def purge(db, now_ms: int, retention_days: float) -> int:
    """Comments and contacts past the retention period are deleted, as for the thank-you QR's answers."""
    cutoff = now_ms - int(retention_days * 86_400_000)
    with db.transaction():
        n = db.scalar("SELECT COUNT(*) FROM followup_general WHERE submitted_ms < ? "
                      "AND (comment IS NOT NULL OR contact IS NOT NULL)", (cutoff,))
        if n:
            db.execute("UPDATE followup_general SET comment = NULL, contact = NULL, purged = 1 WHERE submitted_ms < ? "
                       "AND (comment IS NOT NULL OR contact IS NOT NULL)", (cutoff,))
    return int(n or 0)


COLUMNS = ("submitted_ms", "site", "device", *ELEMENTS, "comment", "contact")


def listed(db, sites: Iterable[str] | None, since_ms: int, until_ms: int, with_contact: bool,
           limit: int = 1000) -> list[dict]:
    """General answers of ``sites`` (None: all) submitted in [since, until), newest first."""
    where, params = ["submitted_ms >= ?", "submitted_ms < ?"], [since_ms, until_ms]
    if sites is not None:
        sites = sorted(sites)
        if not sites:
            return []
        where.append(f"site IN ({', '.join('?' * len(sites))})")
        params.extend(sites)
    rows = db.query(f"SELECT submitted_ms, site, device, {', '.join(SCORE_COLUMNS)}, comment, contact "
                    f"FROM followup_general WHERE {' AND '.join(where)} ORDER BY submitted_ms DESC, id DESC LIMIT ?",
                    [*params, int(limit)])
    out = []
    for row in rows:
        d = dict(zip(COLUMNS, row))
        if not with_contact:
            d["contact"] = None
        out.append(d)
    return out
