"""Login for the dashboard: a password hash in memory, random session tokens, an attempt limit per client."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from typing import NamedTuple

SESSION_COOKIE = "hl_session"


class PasswordCheck:
    """Keeps only a salted scrypt hash: the plain password is dropped once the server has started."""

    def __init__(self, username: str, password: str, parallel: int = 2):
        self.username = username
        self._salt = secrets.token_bytes(16)
        self._running = threading.BoundedSemaphore(parallel)  # each check takes 16 MB of memory
        self._hash = self._derive(password)

    def _derive(self, password: str) -> bytes:
        with self._running:
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
        self._form_key = secrets.token_bytes(32)

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

    def form_token(self, token: str) -> str:
        """What the session's own pages put in their forms; another site cannot know it."""
        return hmac.new(self._form_key, token.encode("ascii", "replace"), "sha256").hexdigest()

    def form_ok(self, token: str | None, sent: str | None) -> bool:
        return bool(token and sent) and self.valid(token) and hmac.compare_digest(
            self.form_token(token).encode(), sent.encode("utf-8"))


class Attempt(NamedTuple):
    keys: tuple[tuple, ...]
    slot: float


class RateLimiter:
    """Wrong passwords within ``window_s``: ``limit`` per account name from one client address,
    ``client_limit`` from one address over every name, and ``account_limit`` per account from everywhere.

    The lock-out is per (account name, address): behind a reverse proxy that is not listed in
    ``dashboard.trusted_proxies`` every manager shares the proxy's address, and five wrong passwords for
    one name must not lock every other manager out. The wider count per address (``client_limit``) only
    slows one address trying a password over many names.

    An attempt takes its slot before the password is checked, under one lock, so simultaneous guesses
    cannot all slip past the count; a right password gives its slot back. The account-wide count stops
    only clients that have themselves failed on that account in the window: guessing from many addresses
    is slowed to one try per address, yet a manager typing the right password from a clean address
    always gets in.
    """

    def __init__(self, limit: int = 5, window_s: float = 60.0, account_limit: int = 50, max_keys: int = 10_000,
                 client_limit: int = 30):
        self.limit, self.window_s, self.account_limit, self.max_keys = limit, window_s, account_limit, max_keys
        self.client_limit = max(client_limit, limit)
        self._failures: dict[tuple, deque] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(client: str, account: str) -> tuple[tuple, tuple, tuple]:
        """The counters of one attempt; an IPv6 client counts as its /64, which one user holds whole."""
        try:
            if ipaddress.ip_address(client).version == 6:
                client = str(ipaddress.ip_network(f"{client}/64", strict=False))
        except ValueError:
            pass
        account = account.casefold()[:64]
        return ("client", client), ("account", account, client), ("account", account)

    def _recent(self, key: tuple, now: float) -> deque:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def _prune(self, now: float) -> None:
        if len(self._failures) > self.max_keys:
            for key in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.window_s]:
                del self._failures[key]

    def _waits(self, client: str, account: str, now: float) -> list[float]:
        """For each counter that refuses this attempt now, the seconds until it would not."""
        mine, pair, everyone = (self._recent(k, now) for k in self._keys(client, account))
        until_below = lambda q, n: q[len(q) - n] + self.window_s - now  # noqa: E731  (q holds fewer than n)
        waits = [until_below(q, n) for q, n in ((pair, self.limit), (mine, self.client_limit)) if len(q) >= n]
        if pair and len(everyone) >= self.account_limit:
            # until the account's count drops below its limit, or this client's own failures on it age out
            waits.append(min(until_below(everyone, self.account_limit), until_below(pair, 1)))
        return waits

    def acquire(self, client: str, account: str) -> Attempt | None:
        """A slot for one attempt (counted as failed until released), or None while the client must wait."""
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            if self._waits(client, account, now):
                return None
            keys = self._keys(client, account)
            for k in keys:
                self._recent(k, now).append(now)
            return Attempt(keys, now)

    def release(self, attempt: Attempt) -> None:
        """The attempt succeeded: it does not count against anyone."""
        with self._lock:
            for k in attempt.keys:
                try:
                    self._failures.get(k, deque()).remove(attempt.slot)
                except ValueError:
                    pass

    def retry_after(self, client: str, account: str) -> int:
        """Seconds until the counters that refuse this client have room again."""
        with self._lock:
            now = time.monotonic()
            return max(1, int(max(self._waits(client, account, now), default=0)) + 1)
