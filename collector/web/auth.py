"""Login for the dashboard: a password hash in memory, random session tokens, a per-IP attempt limit."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

SESSION_COOKIE = "hl_session"


class PasswordCheck:
    """Keeps only a salted scrypt hash: the plain password is dropped once the server has started."""

    def __init__(self, username: str, password: str):
        self.username = username
        self._salt = secrets.token_bytes(16)
        self._hash = self._derive(password)

    def _derive(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode("utf-8"), salt=self._salt, n=2 ** 14, r=8, p=1, dklen=32)

    def verify(self, username: str, password: str) -> bool:
        # Hash even for a wrong user name, so timing does not reveal which part was wrong.
        ok_hash = hmac.compare_digest(self._derive(password), self._hash)
        return hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8")) and ok_hash


class Sessions:
    def __init__(self, lifetime_s: float = 12 * 3600):
        self.lifetime_s = lifetime_s
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.lifetime_s
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if expiry < time.monotonic():
                del self._tokens[token]
                return False
            return True

    def end(self, token: str | None) -> None:
        with self._lock:
            self._tokens.pop(token or "", None)


class RateLimiter:
    """At most ``limit`` failed logins per client IP within ``window_s``; then 429 until they age out."""

    def __init__(self, limit: int = 5, window_s: float = 60.0):
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> deque:
        q = self._failures.setdefault(ip, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, ip: str) -> bool:
        with self._lock:
            return len(self._recent(ip, time.monotonic())) >= self.limit

    def failed(self, ip: str) -> None:
        with self._lock:
            self._recent(ip, time.monotonic()).append(time.monotonic())

    def retry_after(self, ip: str) -> int:
        with self._lock:
            q = self._recent(ip, time.monotonic())
            return max(1, int(q[0] + self.window_s - time.monotonic()) + 1) if q else 1
