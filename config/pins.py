"""Officers' personal PINs, kept in YAML only as salted, memory-hard hashes (scrypt).

A PIN is short, so its hash must be slow and memory-hungry to guess offline from a copied YAML
file; scrypt is in Python's standard library (OpenSSL) and runs on a Raspberry Pi in a fraction of a
second. Format: ``scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

LOG2_N, R, P = 14, 8, 1  # 16 MiB of memory per guess
_FORMAT = re.compile(r"^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/=]{16,64})\$([A-Za-z0-9+/=]{32,128})$")
PIN_RE = re.compile(r"^\d{4,12}$")


def hash_pin(pin: str, salt: bytes | None = None, log2_n: int = LOG2_N) -> str:
    if not PIN_RE.fullmatch(pin):
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2 ** log2_n, r=R, p=P, maxmem=2 ** (log2_n + 11), dklen=32)
    return f"scrypt${log2_n}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_pin_hash(text: object) -> bool:
    m = _FORMAT.fullmatch(text) if isinstance(text, str) else None
    return bool(m) and 10 <= int(m.group(1)) <= 20 and 1 <= int(m.group(2)) <= 16 and 1 <= int(m.group(3)) <= 4


def verify_pin(pin: str, stored: str) -> bool:
    m = _FORMAT.fullmatch(stored or "")
    if not m or not PIN_RE.fullmatch(pin or ""):
        return False
    log2_n, r, p = int(m.group(1)), int(m.group(2)), int(m.group(3))
    salt, expected = base64.b64decode(m.group(4)), base64.b64decode(m.group(5))
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2 ** log2_n, r=r, p=p,
                            maxmem=2 ** (log2_n + 11) * r // 8 + 2 ** 20, dklen=len(expected))
    return hmac.compare_digest(digest, expected)
