"""python -m collector serve: the read-only dashboard over HTTP (standard library only).

Every page needs a login; the session cookie is HttpOnly and SameSite=Strict, so another site cannot
use it. Pages read the hourly rollups, never the raw ratings, so they stay fast on large databases.
"""
from __future__ import annotations

import argparse
import sys
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, quote, urlsplit

from ..export import to_csv, to_xlsx
from . import health, pages
from .data import DataSource
from .auth import SESSION_COOKIE, PasswordCheck, RateLimiter, Sessions
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

    def __init__(self, cfg, db, password: str, now: Callable[[], datetime] | None = None,
                 limiter: RateLimiter | None = None, db_password: str | None = None, workers: int = 3):
        self.cfg, self.db = cfg, db
        self.data = DataSource(cfg, db, db_password, workers)
        self.hierarchy = self.data.hierarchy
        self.check = PasswordCheck(cfg.dashboard.username, password)
        self.sessions = Sessions()
        self.limiter = limiter or RateLimiter()
        self.now = now or (lambda: datetime.now(timezone.utc))

    def close(self) -> None:
        self.data.close()


class Handler(BaseHTTPRequestHandler):
    app: Dashboard  # set on the subclass made by make_server
    server_version = "hailong-dashboard"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet by default; errors still go to stderr
        pass

    # ------------------------------------------------------------------ helpers
    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except Exception:
            return {}
        return {k: m.value for k, m in jar.items()}

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

    def _redirect(self, location: str, cookies: list[str] = ()) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        for c in cookies:
            self.send_header("Set-Cookie", c)
        self.end_headers()

    def _lang(self, params: dict) -> tuple[str, list[str]]:
        """?lang= switches and is remembered in a cookie; otherwise the cookie, otherwise the config."""
        wanted = params.get("lang")
        if wanted in ("vi", "en"):
            return wanted, [f"hl_lang={wanted}; Path=/; SameSite=Strict; Max-Age=31536000"]
        cookie = self._cookies().get("hl_lang")
        return (cookie if cookie in ("vi", "en") else self.app.cfg.dashboard.lang), []

    def _logged_in(self) -> bool:
        return self.app.sessions.valid(self._cookies().get(SESSION_COOKIE))

    # ------------------------------------------------------------------ verbs
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        lang, set_cookies = self._lang(params)
        path = url.path
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/login":
            nxt = _safe_next(params.get("next", "/"))
            if self._logged_in():
                return self._redirect(nxt)
            return self._send(200, login_page(lang, next_path=nxt).encode(), headers=_cookie_headers(set_cookies))
        base, fmt = path, None
        for ext in (".csv", ".xlsx"):
            if path.endswith(ext):
                base, fmt = path[: -len(ext)], ext[1:]
        view = VIEWS.get(base)
        if view is None:
            return self._send(404, b"not found", "text/plain; charset=utf-8")
        if not self._logged_in():
            return self._redirect("/login?next=" + quote(self.path, safe="/?=&"), set_cookies)
        ctx = pages.Ctx(self.app.data, self.app.cfg, self.app.hierarchy, lang,
                        {k: v for k, v in params.items() if k != "lang"}, self.app.now())
        page = view(ctx)
        if fmt == "csv":
            return self._download(to_csv(page.tables), "text/csv; charset=utf-8", f"{page.export_name}.csv")
        if fmt == "xlsx":
            return self._download(to_xlsx(page.tables), XLSX_TYPE, f"{page.export_name}.xlsx")
        html = shell(page, lang, {k: v for k, v in params.items() if k != "lang"}, path)
        self._send(200, html.encode("utf-8"), headers=_cookie_headers(set_cookies))

    def do_POST(self):
        url = urlsplit(self.path)
        length = min(int(self.headers.get("Content-Length") or 0), 16_384)
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        lang, _ = self._lang({})
        if url.path == "/logout":
            self.app.sessions.end(self._cookies().get(SESSION_COOKIE))
            return self._redirect("/login", [f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"])
        if url.path != "/login":
            return self._send(404, b"not found", "text/plain; charset=utf-8")
        ip = self.client_address[0]
        nxt = _safe_next(form.get("next", "/"))
        if self.app.limiter.blocked(ip):
            wait = self.app.limiter.retry_after(ip)
            return self._send(429, login_page(lang, t(lang, "too_many", s=wait), nxt).encode(),
                              headers={"Retry-After": str(wait)})
        if not self.app.check.verify(form.get("username", ""), form.get("password", "")):
            self.app.limiter.failed(ip)
            return self._send(401, login_page(lang, t(lang, "wrong_login"), nxt).encode())
        token = self.app.sessions.create()
        self._redirect(nxt, [f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"])

    def _static(self, name: str) -> None:
        file = (STATIC / name).resolve()
        if file.parent != STATIC.resolve() or not file.is_file() or file.suffix not in STATIC_TYPES:
            return self._send(404, b"not found", "text/plain; charset=utf-8")
        self._send(200, file.read_bytes(), STATIC_TYPES[file.suffix])

    def _download(self, body: bytes, ctype: str, filename: str) -> None:
        self._send(200, body, ctype, {"Content-Disposition": f'attachment; filename="{filename}"'})


def _safe_next(path: str) -> str:
    """Only local paths: a login link must not send the manager to another site."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def _cookie_headers(cookies: list[str]) -> dict:
    return {"Set-Cookie": cookies[0]} if cookies else {}


def make_server(app: Dashboard, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("DashboardHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def start_in_thread(app: Dashboard, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
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
