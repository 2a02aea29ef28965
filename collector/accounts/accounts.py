"""Manager accounts, their scopes and roles, sessions, API tokens and the audit log, kept in the database.

A scope is the part of the site hierarchy an account (or token) may see: ``all``, ``province:SLUG``,
``commune:SLUG`` or ``centre:SLUG``. It becomes the list of stored site slugs (merged communes included)
that every query of that account is limited to. Passwords are hashed with argon2id (memory-hard);
session and API tokens are long random strings, so the database keeps only their SHA-256.
An account with an e-mail address receives the scheduled reports of its scope, in its language, for the
periods it takes (collector/alerting/recipients.py reads them).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Iterable

from ..storage.db import Database
from ..reports.hierarchy import Hierarchy

LEVELS = ("province", "commune", "centre")
ROLES = ("viewer", "admin")
LANGS = ("vi", "en")  # languages of the e-mailed reports
REPORT_KINDS = ("month", "quarter", "6m", "9m", "year")  # the periods a scheduled report covers
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
SESSION_LIFETIME_S = 12 * 3600
BOOTSTRAP_NOTE = "dashboard.username/password of collector.yaml"


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a message a person can act on."""


# ------------------------------------------------------------------ scopes (pure)
@dataclass(frozen=True)
class Scope:
    level: str  # "all" or one of LEVELS
    slug: str = ""

    @classmethod
    def parse(cls, text: str) -> "Scope":
        text = (text or "").strip()
        if text == "all":
            return cls("all")
        level, _, slug = text.partition(":")
        if level not in LEVELS or not slug:
            raise AccountError(f"scope {text!r}: use all, province:SLUG, commune:SLUG or centre:SLUG")
        return cls(level, slug)

    def __str__(self) -> str:
        return "all" if self.level == "all" else f"{self.level}:{self.slug}"

    @property
    def is_all(self) -> bool:
        return self.level == "all"


def check_scope(scope: Scope, hierarchy: Hierarchy) -> Scope:
    """The scope, if its slug names a place of that level in collector.yaml."""
    if scope.is_all:
        return scope
    known = {getattr(p, scope.level) for p in hierarchy.places.values()}
    if scope.slug not in known:
        choices = ", ".join(sorted(known)) or "(none configured under sites:)"
        raise AccountError(f"no {scope.level} {scope.slug!r} in collector.yaml sites; known: {choices}")
    return scope


def scope_sites(scope: Scope, hierarchy: Hierarchy) -> frozenset[str] | None:
    """Stored site slugs the scope covers (old slugs of merged communes too); None means everything."""
    if scope.is_all:
        return None
    return frozenset(site for site, p in hierarchy.places.items() if getattr(p, scope.level) == scope.slug)


def ancestors(scope: Scope, hierarchy: Hierarchy) -> set[tuple[str, str]]:
    """(level, slug) of the scope itself and every place above it."""
    out = {(scope.level, scope.slug)}
    for p in hierarchy.places.values():
        if getattr(p, scope.level, None) == scope.slug:
            for level in LEVELS[:LEVELS.index(scope.level)]:
                out.add((level, getattr(p, level)))
    return out


def within(outer: Scope, inner: Scope, hierarchy: Hierarchy) -> bool:
    """True when everything ``inner`` covers is also covered by ``outer``."""
    if outer.is_all:
        return True
    if inner.is_all:
        return False
    return (outer.level, outer.slug) in ancestors(inner, hierarchy)


def site_allowed(site: str, sites: frozenset[str] | None, hierarchy: Hierarchy) -> bool:
    return sites is None or site in sites or hierarchy.centre_of(site) in sites


# ------------------------------------------------------------------ report delivery (pure)
def parse_email(text: str | None) -> str | None:
    """A plain address (user@example.gov.vn), or None for an empty text (the account gets no e-mail)."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise AccountError(f"e-mail {text!r}: give one plain address like chu-tich@tanlap.langson.gov.vn")
    return text


def parse_lang(text: str | None) -> str:
    text = (text or "").strip().lower()
    if text not in LANGS:
        raise AccountError(f"language {text!r}: use vi or en")
    return text


def parse_reports(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``all``, ``none`` or a comma list of month, quarter, 6m, 9m, year (or a list of them, as a form sends)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    items = [i.strip().lower() for i in items if i.strip()]
    if items == ["all"]:
        return REPORT_KINDS
    if items == ["none"]:
        return ()
    bad = [i for i in items if i not in REPORT_KINDS]
    if bad:
        raise AccountError(f"report periods {', '.join(bad)}: use all, none, or some of {', '.join(REPORT_KINDS)}")
    return tuple(k for k in REPORT_KINDS if k in items)


def reports_text(kinds: Iterable[str]) -> str:
    kinds = tuple(kinds)
    return "all" if kinds == REPORT_KINDS else ",".join(kinds) or "none"


def delivery_detail(account: "Account") -> str:
    """What the audit log says about a new account's scheduled reports."""
    if not account.email:
        return "; no e-mail"
    return f"; email {account.email} lang {account.lang} reports {reports_text(account.reports)}"


# ------------------------------------------------------------------ secrets
def _hasher():
    from argon2 import PasswordHasher

    # argon2id, 19 MiB, 2 passes: the OWASP minimum; ~30 ms here
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


_running = threading.BoundedSemaphore(2)  # each check takes 19 MiB: bound the memory of a login storm


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise AccountError("passwords need at least 10 characters")
    with _running:
        return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    with _running:
        try:
            return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


_dummy: list[str] = []


def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so timing does not tell which names exist."""
    if not _dummy:
        _dummy.append(_hasher().hash(secrets.token_hex(16)))
    return _dummy[0]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Account:
    username: str
    role: str
    scope: Scope
    disabled: bool = False
    bootstrap: bool = False  # the dashboard.username of collector.yaml, not stored
    email: str | None = None  # where its scheduled reports go; None: it gets none
    lang: str = "vi"  # the language of those reports
    reports: tuple[str, ...] = REPORT_KINDS  # which periods it takes

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    token: str
    account: Account
    csrf: str


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    scope: Scope


class Store:
    """Accounts, sessions, API tokens and the audit log in the collector's database."""

    def __init__(self, db: Database, hierarchy: Hierarchy, bootstrap: tuple | None = None,
                 reserved: str | None = None):
        self.db, self.hierarchy = db, hierarchy
        # (username, an object whose verify(username, password) checks the configured password) or None
        self.bootstrap = bootstrap
        # dashboard.username of collector.yaml: no stored account may take it, with or without a password
        self.reserved = reserved or (bootstrap[0] if bootstrap else None)

    def is_reserved(self, username: str) -> bool:
        """The bootstrap admin's name, in any letter case (``Admin`` would pass for ``admin`` to a reader)."""
        return bool(self.reserved) and username.strip().casefold() == self.reserved.casefold()

    def _is_bootstrap(self, username: str) -> bool:
        return bool(self.bootstrap) and username == self.bootstrap[0]

    # -------------------------------------------------------------- accounts
    _COLUMNS = "username, role, scope, disabled, email, lang, reports"

    @staticmethod
    def _account(row) -> Account:
        u, role, scope, disabled, email, lang, reports = row
        return Account(u, role, Scope.parse(scope), bool(disabled), email=email or None, lang=lang,
                       reports=tuple(k for k in (reports or "").split(",") if k in REPORT_KINDS))

    def _row(self, username: str) -> Account | None:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM accounts WHERE username = ?", (username,))
        return self._account(rows[0]) if rows else None

    def get(self, username: str) -> Account | None:
        """The account of that name. The bootstrap admin's name always means the bootstrap admin while
        dashboard.password is set: a stored account under it (made before the name was reserved) is
        shadowed and only removed (``collector users remove`` or ``recover-admin``)."""
        if self._is_bootstrap(username):
            return Account(username, "admin", Scope("all"), bootstrap=True)
        return self._row(username)

    def shadowed(self) -> list[Account]:
        """Stored accounts under the reserved name (any letter case): left from before it was reserved."""
        if not self.reserved:
            return []
        return [a for a in self.list() if self.is_reserved(a.username)]

    def list(self, within_scope: Scope | None = None) -> list[Account]:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM accounts ORDER BY username")
        out = [self._account(row) for row in rows]
        if within_scope is not None:
            out = [a for a in out if within(within_scope, a.scope, self.hierarchy)]
        return out

    def add(self, username: str, password: str, role: str, scope: Scope, by: Account | None = None, *,
            email: str | None = None, lang: str = "vi", reports: Iterable[str] = REPORT_KINDS) -> Account:
        username = username.strip()
        if not username or len(username) > 64 or not username.isprintable() or " " in username:
            raise AccountError("user names are 1 to 64 printable characters without spaces")
        if role not in ROLES:
            raise AccountError(f"role {role!r}: use viewer or admin")
        check_scope(scope, self.hierarchy)
        self._may_manage(by, scope)
        if self.is_reserved(username):
            raise AccountError(f"Tên {username!r} là của quản trị hệ thống (dashboard.username trong collector.yaml), "
                               f"không dùng cho tài khoản khác; hãy chọn tên khác. / {username!r} is the name of the "
                               "system admin (dashboard.username of collector.yaml) and cannot be given to another "
                               "account; pick another name.")
        email, lang, reports = parse_email(email), parse_lang(lang), parse_reports(reports)
        if self._row(username) is not None:
            raise AccountError(f"account {username!r} exists already; use reset-password or pick another name")
        hashed = hash_password(password)
        self.db.execute("INSERT INTO accounts (username, password_hash, role, scope, disabled, created_ms, email, "
                        "lang, reports) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                        (username, hashed, role, str(scope), now_ms(), email, lang, ",".join(reports)))
        return Account(username, role, scope, email=email, lang=lang, reports=reports)

    def _may_manage(self, by: Account | None, scope: Scope) -> None:
        """An admin manages accounts and tokens only inside its own scope (``by`` None: the command line)."""
        if by is None:
            return
        if not by.is_admin:
            raise AccountError("only admins manage accounts and tokens")
        if not within(by.scope, scope, self.hierarchy):
            raise AccountError(f"that scope is wider than or outside your own ({by.scope})")

    def _target(self, username: str, by: Account | None) -> Account:
        """The account to change; to an admin, one outside its scope looks the same as one that does not exist."""
        account = self._row(username)
        if account is None or (by is not None and not within(by.scope, account.scope, self.hierarchy)):
            if by is not None:
                raise AccountError("no such account within your scope")
            raise AccountError(f"no account {username!r} in the database (see: python -m collector users list)")
        self._may_manage(by, account.scope)
        return account

    def remove(self, username: str, by: Account | None = None) -> Account:
        """Delete a stored account and end its sessions (its audit entries stay)."""
        account = self._target(username, by)
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE username = ? AND bootstrap = 0", (username,))
            self.db.execute("DELETE FROM accounts WHERE username = ?", (username,))
        return account

    def recover_admin(self, username: str | None, password: str | None) -> tuple[list[Account], Account | None]:
        """The command line's way back to a system admin: removes every stored account under the reserved
        name (which shadowed the bootstrap admin), and, given ``username``, makes that stored account an
        enabled admin of scope all with ``password`` (created if missing), its old sessions ended.
        Returns (the accounts removed, the account made or reset)."""
        if username and len(password or "") < 10:
            hash_password(password or "")  # the same refusal as everywhere, before anything is removed
        removed = self.shadowed()
        for account in removed:
            self.remove(account.username)
        if not username:
            return removed, None
        username = username.strip()
        if self.is_reserved(username):
            raise AccountError(f"{username!r} is the bootstrap admin: it logs in with dashboard.password of "
                               "collector.yaml; give another name for a stored system admin")
        if self._row(username) is None:
            return removed, self.add(username, password or "", "admin", Scope("all"))
        hashed = hash_password(password or "")
        with self.db.transaction():
            self.db.execute("UPDATE accounts SET password_hash = ?, role = 'admin', scope = 'all', disabled = 0 "
                            "WHERE username = ?", (hashed, username))
            self.db.execute("DELETE FROM sessions WHERE username = ? AND bootstrap = 0", (username,))
        return removed, self._row(username)

    def set_disabled(self, username: str, disabled: bool, by: Account | None = None) -> Account:
        account = self._target(username, by)
        with self.db.transaction():
            self.db.execute("UPDATE accounts SET disabled = ? WHERE username = ?", (int(disabled), username))
            if disabled:
                self.db.execute("DELETE FROM sessions WHERE username = ? AND bootstrap = 0", (username,))
        return account

    def set_delivery(self, username: str, *, email: str | None = None, lang: str | None = None,
                     reports: str | Iterable[str] | None = None, by: Account | None = None) -> tuple[Account, str]:
        """Change where, in which language and for which periods the account's scheduled reports go. None
        keeps a value, an empty e-mail removes the address. Returns the account as it is now and what
        changed, for the audit log ("" when nothing did)."""
        if self._is_bootstrap(username):
            raise AccountError(f"{username!r} is the admin of collector.yaml, which has no e-mail; "
                               "add a stored account for reports")
        before = self._target(username, by)
        new_email = before.email if email is None else parse_email(email)
        new_lang = before.lang if lang is None else parse_lang(lang)
        new_reports = before.reports if reports is None else parse_reports(reports)
        changes = [f"{name} {old or '-'} -> {new or '-'}" for name, old, new in (
            ("email", before.email, new_email), ("lang", before.lang, new_lang),
            ("reports", reports_text(before.reports), reports_text(new_reports))) if old != new]
        if changes:
            self.db.execute("UPDATE accounts SET email = ?, lang = ?, reports = ? WHERE username = ?",
                            (new_email, new_lang, ",".join(new_reports), username))
        return self._row(username), "; ".join(changes)

    def report_accounts(self) -> list[Account]:
        """Enabled accounts with an e-mail address: who receives scheduled reports."""
        return [a for a in self.list() if a.email and not a.disabled]

    def reset_password(self, username: str, password: str, by: Account | None = None) -> Account:
        account = self._target(username, by)
        hashed = hash_password(password)
        with self.db.transaction():
            self.db.execute("UPDATE accounts SET password_hash = ? WHERE username = ?", (hashed, username))
            self.db.execute("DELETE FROM sessions WHERE username = ? AND bootstrap = 0", (username,))
        return account

    def verify(self, username: str, password: str) -> Account | None:
        """The account when the password is right and the account enabled; a hash is computed either way."""
        if self._is_bootstrap(username):
            return self.get(username) if self.bootstrap[1].verify(username, password) else None
        rows = self.db.query("SELECT password_hash FROM accounts WHERE username = ?", (username,))
        ok = verify_password(rows[0][0] if rows else None, password)
        account = self._row(username) if ok else None
        return account if account and not account.disabled else None

    # -------------------------------------------------------------- sessions
    def new_session(self, account: Account, client: str, lifetime_s: float = SESSION_LIFETIME_S) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_hex(24)
        t = now_ms()
        self.db.execute("DELETE FROM sessions WHERE expires_ms < ?", (t,))  # expired ones are only clutter
        self.db.execute("INSERT INTO sessions (token_hash, username, csrf, client, created_ms, expires_ms, bootstrap) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (digest(token), account.username, csrf, client[:64], t,
                                                         t + int(lifetime_s * 1000), int(account.bootstrap)))
        return Session(token, account, csrf)

    def session(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        rows = self.db.query("SELECT username, csrf, expires_ms, bootstrap FROM sessions WHERE token_hash = ?",
                             (digest(token),))
        if not rows or rows[0][2] < now_ms():
            return None
        # A session keeps the rights of whoever opened it: the bootstrap admin's needs the bootstrap admin
        # configured; a stored account's never turns into the bootstrap admin's because the names match.
        account = self._session_account(rows[0][0], rows[0][3])
        if account is None or account.disabled or account.bootstrap != bool(rows[0][3]):
            return None
        return Session(token, account, rows[0][1])

    def _session_account(self, username: str, bootstrap: int) -> Account | None:
        return self.get(username) if bootstrap and self._is_bootstrap(username) else self._row(username)

    def end_session(self, token: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (digest(token),))

    def sessions(self, within_scope: Scope) -> list[dict]:
        rows = self.db.query("SELECT token_hash, username, client, created_ms, expires_ms, bootstrap FROM sessions "
                             "WHERE expires_ms > ? ORDER BY created_ms DESC", (now_ms(),))
        out = []
        for h, user, client, created, expires, boot in rows:
            account = self._session_account(user, boot)
            if account and within(within_scope, account.scope, self.hierarchy):
                out.append({"id": h[:16], "username": user, "client": client, "created_ms": created,
                            "expires_ms": expires})
        return out

    def revoke_session(self, session_id: str, by: Account) -> str:
        """Ends the session whose id (the start of its hash) is given; returns its account name."""
        if len(session_id) != 16 or not all(c in "0123456789abcdef" for c in session_id):
            raise AccountError("no such session")
        rows = self.db.query("SELECT token_hash, username, bootstrap FROM sessions WHERE token_hash LIKE ?",
                             (session_id + "%",))
        if not rows:
            raise AccountError("no such session (it may have ended already)")
        account = self._session_account(rows[0][1], rows[0][2])
        if not within(by.scope, account.scope if account else Scope("all"), self.hierarchy):
            raise AccountError("no such session within your scope")
        self._may_manage(by, account.scope if account else Scope("all"))
        self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (rows[0][0],))
        return rows[0][1]

    # -------------------------------------------------------------- API tokens
    def add_token(self, name: str, scope: Scope, by: Account | None) -> tuple[ApiToken, str]:
        """A new token; the secret is returned once and only its hash is kept."""
        name = name.strip()
        if not name or len(name) > 80 or not name.isprintable():
            raise AccountError("give the token a name of 1 to 80 printable characters (who uses it)")
        check_scope(scope, self.hierarchy)
        self._may_manage(by, scope)
        token_id = secrets.token_hex(6)
        secret = f"hl_{token_id}_{secrets.token_urlsafe(32)}"
        self.db.execute("INSERT INTO api_tokens (id, name, token_hash, scope, created_by, created_ms, revoked) "
                        "VALUES (?, ?, ?, ?, ?, ?, 0)", (token_id, name, digest(secret), str(scope),
                                                          by.username if by else "(command line)", now_ms()))
        return ApiToken(token_id, name, scope), secret

    def token(self, secret: str | None) -> ApiToken | None:
        if not secret or not secret.startswith("hl_") or len(secret) > 200:
            return None
        token_id = secret[3:15]
        rows = self.db.query("SELECT token_hash, name, scope, revoked FROM api_tokens WHERE id = ?", (token_id,))
        if not rows or rows[0][3] or not hmac.compare_digest(rows[0][0], digest(secret)):
            return None
        return ApiToken(token_id, rows[0][1], Scope.parse(rows[0][2]))

    def tokens(self, within_scope: Scope) -> list[dict]:
        rows = self.db.query("SELECT id, name, scope, created_by, created_ms, revoked FROM api_tokens ORDER BY created_ms")
        return [{"id": i, "name": n, "scope": s, "created_by": c, "created_ms": t, "revoked": bool(r)}
                for i, n, s, c, t, r in rows if within(within_scope, Scope.parse(s), self.hierarchy)]

    def revoke_token(self, token_id: str, by: Account | None) -> ApiToken:
        rows = self.db.query("SELECT name, scope FROM api_tokens WHERE id = ?", (token_id,))
        if not rows or (by is not None and not within(by.scope, Scope.parse(rows[0][1]), self.hierarchy)):
            raise AccountError(f"no API token {token_id!r}" + (" within your scope" if by is not None else ""))
        scope = Scope.parse(rows[0][1])
        self._may_manage(by, scope)
        self.db.execute("UPDATE api_tokens SET revoked = 1 WHERE id = ?", (token_id,))
        return ApiToken(token_id, rows[0][0], scope)

    # -------------------------------------------------------------- audit log
    def audit(self, actor: str, action: str, target: str = "", detail: str = "", client: str = "",
              scope: Scope | None = None) -> None:
        """``scope``: whose business the entry is (admins read the entries within their own scope)."""
        self.db.execute("INSERT INTO audit (ts_ms, actor, action, target, detail, client, scope) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?)", (now_ms(), actor[:64], action, target[:200], detail[:500],
                                                  client[:64], str(scope or Scope("all"))))

    def audit_log(self, within_scope: Scope, limit: int = 200) -> list[dict]:
        rows = self.db.query("SELECT ts_ms, actor, action, target, detail, client, scope FROM audit "
                             "ORDER BY id DESC LIMIT ?", (limit * 5,))
        out = []
        for ts, actor, action, target, detail, client, scope in rows:
            if within(within_scope, Scope.parse(scope), self.hierarchy):
                out.append({"ts_ms": ts, "actor": actor, "action": action, "target": target, "detail": detail,
                            "client": client, "scope": scope})
            if len(out) >= limit:
                break
        return out


def scope_of_login(store: Store, username: str) -> Scope:
    """Whose business a (failed) log-in is: the account's scope, or everything for an unknown name."""
    account = store.get(username)
    return account.scope if account else Scope("all")


def names(accounts: Iterable[Account]) -> list[str]:
    return [a.username for a in accounts]
