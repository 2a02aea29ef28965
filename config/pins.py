"""Officers' personal PINs, kept in YAML only as salted, memory-hard hashes (scrypt).

A PIN is short, and pushed configs (with their staff lists) can be read by more accounts than the
kiosks: a hash alone must not give the PIN away. Two defences:

- a **PIN key** (``python -m config pin-key``): a 32-byte secret kept on the kiosks and on the machine
  that makes the hashes, never in a YAML file. The PIN is mixed with it (HMAC-SHA256) before scrypt, so
  without the key a copied hash cannot be checked against any guess, however short the PIN.
  Format: ``scryptk$<key id>$<log2 N>$<r>$<p>$<salt>$<hash>``; the key id (8 hex digits of a hash of
  the key) tells which key a hash needs and gives nothing of the key away.
- a costly hash: scrypt with N = 2**15 (32 MiB a guess), and PINs of at least 6 digits from
  ``python -m config hash-pin`` (``--min-digits`` to change it).

Hashes made before (``scrypt$14$8$1$<salt>$<hash>``, no key) are still checked as they are.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Optional

LOG2_N, R, P = 15, 8, 1  # 32 MiB of memory per guess
_FORMAT = re.compile(r"^(scrypt|scryptk\$([0-9a-f]{8}))\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$"
                     r"([A-Za-z0-9+/=]{16,64})\$([A-Za-z0-9+/=]{32,128})$")
PIN_RE = re.compile(r"^\d{4,12}$")
MIN_DIGITS = 6  # what hash-pin asks for unless told otherwise
KEY_BYTES = 32


def new_pin_key() -> str:
    """A new PIN key, as the text of its file."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def read_pin_key(text: str) -> bytes:
    """The key in a PIN key file's text; ValueError when it is not one."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise ValueError("không phải khóa PIN / not a PIN key (make one with 'python -m config pin-key')")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"hailong-pin-key\n" + key).hexdigest()[:8]


def hash_key_id(stored: str) -> Optional[str]:
    """The id of the PIN key a hash was made with, or None for a hash made without one."""
    m = _FORMAT.fullmatch(stored or "")
    return m.group(2) if m else None


def _secret(pin: str, key: Optional[bytes]) -> bytes:
    return hmac.new(key, pin.encode(), hashlib.sha256).digest() if key else pin.encode()


def hash_pin(pin: str, salt: bytes | None = None, log2_n: int = LOG2_N, key: Optional[bytes] = None) -> str:
    if not PIN_RE.fullmatch(pin):
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(_secret(pin, key), salt=salt, n=2 ** log2_n, r=R, p=P,
                            maxmem=2 ** (log2_n + 11) + 2 ** 20, dklen=32)
    head = f"scryptk${key_id(key)}" if key else "scrypt"
    return f"{head}${log2_n}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_pin_hash(text: object) -> bool:
    m = _FORMAT.fullmatch(text) if isinstance(text, str) else None
    return bool(m) and 10 <= int(m.group(3)) <= 20 and 1 <= int(m.group(4)) <= 16 and 1 <= int(m.group(5)) <= 4


def verify_pin(pin: str, stored: str, key: Optional[bytes] = None) -> bool:
    """Whether ``pin`` matches ``stored``. A hash made with a PIN key needs that key: without it (or with
    another one) nothing matches."""
    m = _FORMAT.fullmatch(stored or "")
    if not m or not PIN_RE.fullmatch(pin or ""):
        return False
    wanted = m.group(2)
    if wanted is not None and (key is None or key_id(key) != wanted):
        return False
    log2_n, r, p = int(m.group(3)), int(m.group(4)), int(m.group(5))
    salt, expected = base64.b64decode(m.group(6)), base64.b64decode(m.group(7))
    digest = hashlib.scrypt(_secret(pin, key if wanted else None), salt=salt, n=2 ** log2_n, r=r, p=p,
                            maxmem=2 ** (log2_n + 11) * r // 8 + 2 ** 20, dklen=len(expected))
    return hmac.compare_digest(digest, expected)
