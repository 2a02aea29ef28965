"""Tokens that work offline: the kiosk makes a random one per rating, puts only its hash on the rating
(contract v2 ``followup_hash``) and the token itself only in the QR, ``<base>/f/<rating id>.<token>``.

Pure functions, imported by the kiosk too (no database, no web framework).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 16  # 128 random bits: guessing one is hopeless, even at the form's rate limits
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_TTL_H = 24.0


def new_token() -> str:
    """22 URL-safe characters."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(rating_id: str, token: str) -> str:
    """SHA-256 (hex) of the token, bound to its rating: a hash seen on the wire opens nothing, and a token
    is worth nothing on another rating."""
    return hashlib.sha256(f"hailong-followup\n{rating_id.lower()}\n{token}".encode("ascii")).hexdigest()


LANG_RE = re.compile(r"[a-z]{2,3}")


def link(base_url: str, rating_id: str, token: str, lang: str | None = None) -> str:
    """The QR's link; ``?l=<lang>`` names the kiosk's language when it is not Vietnamese (the form opens in
    it), so a Vietnamese code stays as short as it can be."""
    tail = f"?l={lang}" if lang and lang != "vi" and LANG_RE.fullmatch(lang) else ""
    return f"{base_url.rstrip('/')}/f/{rating_id.lower()}.{token}{tail}"


def parse(ref: str) -> tuple[str, str] | None:
    """``<rating id>.<token>`` from the link's last part, or None when it is not one (no database needed)."""
    if not isinstance(ref, str) or len(ref) != 36 + 1 + 22:
        return None
    rating_id, dot, token = ref.partition(".")
    if not dot or not _UUID_RE.fullmatch(rating_id) or not _TOKEN_RE.fullmatch(token):
        return None
    return rating_id, token


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
