"""Mosquitto's password file format, written in Python so mosquitto_passwd is not needed.

A line is ``user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>``, as
mosquitto_passwd 2.0 writes it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from .files import write_file

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


def render(users: dict[str, str]) -> str:
    """``users`` maps user name to hash; sorted so the file only changes when an account does."""
    return "".join(f"{u}:{h}\n" for u, h in sorted(users.items()))


def write_password_file(path: Path, users: dict[str, str]) -> None:
    write_file(path, render(users), 0o600)
