"""python -m collector serve: the read-only dashboard over HTTP (standard library only).

Every page needs a login; the session cookie is HttpOnly and SameSite=Strict, so another site cannot
use it, and Secure when the dashboard is reached over HTTPS. Pages read the hourly rollups, never the
raw ratings, so they stay fast on large databases. Every request gets an answer, within time limits.
"""
from __future__ import annotations

import argparse
import functools
import io
import ssl
import sys
import threading
import traceback
from datetime import datetime, timezone
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, quote, urlsplit

from ..export import to_csv, to_xlsx
from . import guards, health, pages, proxy
from .auth import SESSION_COOKIE, PasswordCheck, RateLimiter, Sessions
from .connections import DeadlineReader, LimitedServer
from .data import DataSource
from .i18n import t
from .layout import login_page, shell

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
VIEWS: dict[str, Callable] = {"/": pages.overview, "/overview": pages.overview, "/ranking": pages.ranking,
                              "/patterns": pages.patterns, "/devices": health.devices, "/alerts": health.alerts,
                              "/report": pages.printable}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Dashboard:
    """Everything a request needs; ``now`` is replaceable so tests can pin the clock."""

    idle_timeout_s = 15.0  # a connection silent this long is closed
    request_timeout_s = 30.0  # a whole request (line, headers, body) must arrive within this
    write_timeout_s = 120.0  # an answer (a download, say) must be taken by the client within this
    max_connections = 64  # more open connections than this get 503 at once

    def __init__(self, cfg, db, password: str, now: Callable[[], datetime] | None = None,
                 limiter: RateLimiter | None = None, db_password: str | None = None, workers: int = 3):
        self.cfg, self.db = cfg, db
        self.data = DataSource(cfg, db, db_password, workers)
        self.hierarchy = self.data.hierarchy
        self.check = PasswordCheck(cfg.dashboard.username, password)
        self.sessions = Sessions()
        self.limiter = limiter or RateLimiter()
        self.proxies = proxy.networks(cfg.dashboard.trusted_proxies)
        self.now = now or (lambda: datetime.now(timezone.utc))

    def close(self) -> None:
        self.data.close()


def _answering(method):
    """Whatever goes wrong inside, the client gets an answer (500) and the trace goes to stderr."""

    @functools.wraps(method)
    def run(self):
        self._answered = False
        try:
            method(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            print(f"dashboard: {self.command} {self.path[:200]!r} failed:\n{traceback.format_exc()}", file=sys.stderr)
            if not self._answered:  # headers half-built when it failed are dropped
                self._headers_buffer = []
                self._send(500, b"internal error; the details are in the dashboard's log\n", "text/plain; charset=utf-8")
    return run


class Handler(BaseHTTPRequestHandler):
    app: Dashboard  # set on the subclass made by make_server
    server_version = "hailong-dashboard"
    sys_version = ""

    def setup(self):
        super().setup()
        self._reader = DeadlineReader(self.connection, self.app.idle_timeout_s)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self):
        self._reader.start_request(self.app.request_timeout_s)
        super().handle_one_request()

    def log_message(self, fmt, *args):  # quiet by default; errors still go to stderr
        pass

    def end_headers(self):
        self._answered = True
        self.connection.settimeout(self.app.write_timeout_s)  # reads left it at what remained of theirs
        super().end_headers()

    def send_header(self, keyword, value):
        if not guards.header_safe(str(value)):
            raise ValueError(f"refusing header {keyword}: {value!r} (line break or non-ASCII character)")
        super().send_header(keyword, value)

    # ------------------------------------------------------------------ helpers
    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except Exception:
            return {}
        return {k: m.value for k, m in jar.items()}

    def _peer(self) -> str:
        return self.client_address[0]

    def _client(self) -> str:
        return proxy.client_of(self._peer(), self.headers.get("X-Forwarded-For"), self.app.proxies)

    def _https(self) -> bool:
        return proxy.is_https(self._peer(), self.headers.get("X-Forwarded-Proto"), self.app.proxies,
                              tls=isinstance(self.connection, ssl.SSLSocket))

    def _cookie(self, name: str, value: str, max_age: int | None = None, http_only: bool = True) -> str:
        """Cookies only for this site's pages; Secure when the browser came over HTTPS."""
        parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
        if http_only:
            parts.append("HttpOnly")
        if self._https():
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        return "; ".join(parts)

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if not ctype.startswith(("text/css", "image/")) else "max-age=3600")
        for k, v in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send(status, (message + "\n").encode("utf-8"), "text/plain; charset=utf-8", headers)

    def _redirect(self, location: str, cookies: list[str] = ()) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", guards.safe_redirect(location))
        self.send_header("Content-Length", "0")
        for c in cookies:
            self.send_header("Set-Cookie", c)
        self.end_headers()

    def _lang(self, params: dict) -> tuple[str, list[str]]:
        """?lang= switches and is remembered in a cookie; otherwise the cookie, otherwise the config."""
        wanted = params.get("lang")
        if wanted in ("vi", "en"):
            return wanted, [self._cookie("hl_lang", wanted, 31536000, http_only=False)]
        cookie = self._cookies().get("hl_lang")
        return (cookie if cookie in ("vi", "en") else self.app.cfg.dashboard.lang), []

    def _session(self) -> str | None:
        """The session token of the request when it is a live session."""
        token = self._cookies().get(SESSION_COOKIE)
        return token if self.app.sessions.valid(token) else None

    # ------------------------------------------------------------------ verbs
    def do_HEAD(self):
        self.do_GET()

    @_answering
    def do_GET(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        lang, set_cookies = self._lang(params)
        path = url.path
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/login":
            nxt = guards.safe_redirect(params.get("next"))
            if self._session():
                return self._redirect(nxt)
            return self._send(200, login_page(lang, next_path=nxt).encode(), headers=_cookie_headers(set_cookies))
        base, fmt = path, None
        for ext in (".csv", ".xlsx"):
            if path.endswith(ext):
                base, fmt = path[: -len(ext)], ext[1:]
        view = VIEWS.get(base)
        if view is None:
            return self._text(404, "not found")
        session = self._session()
        if not session:
            return self._redirect("/login?next=" + quote(self.path, safe="/?=&"), set_cookies)
        ctx = pages.Ctx(self.app.data, self.app.cfg, self.app.hierarchy, lang,
                        {k: v for k, v in params.items() if k != "lang"}, self.app.now())
        page = view(ctx)
        if fmt == "csv":
            return self._download(to_csv(page.tables), "text/csv; charset=utf-8", f"{page.export_name}.csv")
        if fmt == "xlsx":
            return self._download(to_xlsx(page.tables), XLSX_TYPE, f"{page.export_name}.xlsx")
        html = shell(page, lang, {k: v for k, v in params.items() if k != "lang"}, path,
                     self.app.sessions.form_token(session))
        self._send(200, html.encode("utf-8"), headers=_cookie_headers(set_cookies))

    @_answering
    def do_POST(self):
        url = urlsplit(self.path)
        try:
            body = guards.read_body(self.rfile, self.headers)
        except guards.BodyError as exc:
            self.close_connection = True  # what is left of the body is not read
            return self._text(exc.status, str(exc), {"Connection": "close"})
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        lang, _ = self._lang({})
        if url.path == "/logout":
            return self._logout(form)
        if url.path != "/login":
            return self._text(404, "not found")
        nxt = guards.safe_redirect(form.get("next"))
        client, account = self._client(), form.get("username", "")
        attempt = self.app.limiter.acquire(client, account)
        if attempt is None:
            wait = self.app.limiter.retry_after(client, account)
            return self._send(429, login_page(lang, t(lang, "too_many", s=wait), nxt).encode(),
                              headers={"Retry-After": str(wait)})
        if not self.app.check.verify(form.get("username", ""), form.get("password", "")):
            return self._send(401, login_page(lang, t(lang, "wrong_login"), nxt).encode())
        self.app.limiter.release(attempt)
        token = self.app.sessions.create()
        self._redirect(nxt, [self._cookie(SESSION_COOKIE, token)])

    def _logout(self, form: dict) -> None:
        """Only the dashboard's own logout button (it carries the session's form token) ends a session:
        another page, even one on this host, cannot log the manager out."""
        token = self._cookies().get(SESSION_COOKIE)
        if not self.app.sessions.valid(token):
            return self._redirect("/login")  # nothing to end; the cookie is left alone
        if not self.app.sessions.form_ok(token, form.get("csrf")):
            return self._text(403, "logout refused: use the Log out button of the dashboard")
        self.app.sessions.end(token)
        self._redirect("/login", [self._cookie(SESSION_COOKIE, "", 0)])

    def _static(self, name: str) -> None:
        file = (STATIC / name).resolve()
        try:
            if file.parent != STATIC.resolve() or not file.is_file() or file.suffix not in STATIC_TYPES:
                return self._text(404, "not found")
            body = file.read_bytes()
        except OSError:  # e.g. a name longer than the file system allows
            return self._text(404, "not found")
        self._send(200, body, STATIC_TYPES[file.suffix])

    def _download(self, body: bytes, ctype: str, filename: str) -> None:
        self._send(200, body, ctype, {"Content-Disposition": guards.attachment(filename)})


def _cookie_headers(cookies: list[str]) -> dict:
    return {"Set-Cookie": cookies[0]} if cookies else {}


def make_server(app: Dashboard, host: str, port: int) -> LimitedServer:
    handler = type("DashboardHandler", (Handler,), {"app": app})
    server_class = type("DashboardServer", (LimitedServer,), {"max_connections": app.max_connections})
    return server_class((host, port), handler)


def start_in_thread(app: Dashboard, host: str = "127.0.0.1", port: int = 0) -> tuple[LimitedServer, str]:
    """Serve in a background thread (tests, benchmarks); returns the server and its base URL."""
    server = make_server(app, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("The password comes from dashboard.password in collector.yaml, e.g. "
                "'password: {env: HAILONG_DASHBOARD_PASSWORD}'. Example: "
                "HAILONG_DASHBOARD_PASSWORD=... python -m collector serve --config collector.yaml")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    p.add_argument("--host", help="address to listen on (default: dashboard.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: dashboard.port, 8080)")


def main(args) -> int:
    from config import ConfigError, load
    from ..db import DatabaseError
    from ..report_cli import open_db

    try:
        cfg = load(args.config, kind="collector")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if cfg.dashboard.password is None:
        print(f"serve: no dashboard password in {args.config}: add 'password: {{env: HAILONG_DASHBOARD_PASSWORD}}' "
              "under 'dashboard:' and set that variable", file=sys.stderr)
        return 2
    try:
        password = cfg.dashboard.password.resolve()
    except ValueError as exc:
        print(f"serve: dashboard password: {exc}; set it before starting the dashboard", file=sys.stderr)
        return 2
    if not password:
        print("serve: the dashboard password is empty; set a non-empty one", file=sys.stderr)
        return 2
    try:
        db = open_db(cfg, args.db)
    except (ValueError, DatabaseError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or cfg.dashboard.host, args.port or cfg.dashboard.port
    try:
        db_password = cfg.database.password.resolve() if cfg.database.password else None
        app = Dashboard(cfg, db, password, db_password=db_password)
        server = make_server(app, host, port)
    except OSError as exc:
        print(f"serve: cannot listen on {host}:{port}: {exc.strerror}; choose another --port", file=sys.stderr)
        return 2
    print(f"dashboard on http://{host}:{server.server_address[1]}/ (Ctrl+C stops)", file=sys.stderr, flush=True)
    from ..alerting.scheduler import start_notifier

    notifier = start_notifier(cfg, args.db or cfg.database.url, db_password)  # alerts and scheduled reports
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if notifier is not None:
            notifier.stop()
        server.server_close()
        app.close()
        db.close()
    return 0
