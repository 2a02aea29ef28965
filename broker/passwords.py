"""Password hashes in Mosquitto's PBKDF2-SHA512 format, made in Python so mosquitto_passwd is not needed.

A hash is ``$7$<iterations>$<base64 12-byte salt>$<base64 PBKDF2-HMAC-SHA512>``, as mosquitto_passwd 2.0
writes it; state.json keeps it and broker/dynsec.py splits it into the plugin's salt/password/iterations.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# Mosquitto's own default. Passwords here are long random strings, so a higher count buys
# nothing and would slow every CONNECT on a small commune server.
ITERATIONS = 101
SALT_BYTES = 12


def new_password() -> str:
    return secrets.token_urlsafe(24)


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, hashed: str) -> bool:
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(expected).decode(), digest)
