"""python -m collector serve: the dashboard and the read-only API, a Starlette application on uvicorn.

Every page needs a login; the session cookie is HttpOnly and SameSite=Strict, so another site cannot
use it, and Secure when the dashboard is reached over HTTPS. Sessions live in the database (they survive
a restart and can be revoked); each account sees only its scope of the site hierarchy. Pages read the
hourly rollups, never the raw ratings, so they stay fast on large databases. Every request gets an
answer, within time limits (connections.py).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import anyio.to_thread
from anyio import CapacityLimiter
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..accounts.accounts import Account, Scope, Session, Store, scope_sites
from ..reports.export import to_csv, to_xlsx
from . import admin, alerts_view, api, errors, filters, guards, health, officers_view, pages, proxy
from .base import (PAGE_PARAMS, XLSX_TYPE, answer, answering, client_of, cookie, cross_site, lang_of, params_of, read_form,
                   redirect, refuse, refuse_api, session_of, shell_values, text, to_login)
from .auth import SESSION_COOKIE, PasswordCheck, RateLimiter
from .context import Ctx
from .connections import ServerThread, listening_socket, protocol_for
from .data import DataSource, TtlCache
from .i18n import t
from .layout import Page, login_page, render

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
VIEWS: dict[str, Callable] = {"/": pages.overview, "/overview": pages.overview, "/ranking": pages.ranking,
                              "/patterns": pages.patterns, "/devices": health.devices, "/alerts": health.alerts,
                              "/report": pages.printable, "/officers": officers_view.officers}
EXPORTS = ("csv", "xlsx")
LONG = {"/officers"}  # computed from the stored ratings and events, not the rollups: taken in turn (work())
UNCACHED = {"/alerts"}  # its forms carry the session's own token; and acknowledgements show at once


class Dashboard:
    """Everything a request needs; ``now`` is replaceable so tests can pin the clock.

    ``password`` is dashboard.password of collector.yaml: the bootstrap admin (dashboard.username, scope
    all). Its name is reserved: no stored account may take it. None: only stored accounts log in.
    """

    idle_timeout_s = 15.0  # a connection silent this long between requests is closed
    header_timeout_s = 5.0  # a request line and headers must arrive within this (connections.py)
    request_timeout_s = 30.0  # a whole request (line, headers, body) must arrive within this
    write_timeout_s = 120.0  # an answer (a download, say) must be taken by the client within this
    max_connections = 64  # open connections at most: the longest waiting makes room, or 503 when all are busy
    per_client = 32  # open connections per client address (reverse proxies in trusted_proxies excepted)
    work_slots = max(2, os.cpu_count() or 2)  # pages, downloads and API answers worked out at once (work())
    long_slots = 1  # of which officer evaluations (seconds each over a province's month) at most this many

    def __init__(self, cfg, db, password: str | None, now: Callable[[], datetime] | None = None,
                 limiter: RateLimiter | None = None, db_password: str | None = None, workers: int = 3):
        self.cfg, self.db = cfg, db
        self.data = DataSource(cfg, db, db_password, workers)
        self.hierarchy = self.data.hierarchy
        bootstrap = (cfg.dashboard.username, PasswordCheck(cfg.dashboard.username, password)) if password else None
        self._store_db = db
        if not db.url.endswith(":memory:"):
            from ..storage.db import connect
            self._store_db = connect(db.url, db_password, migrate=False)
        self.store = Store(self._store_db, self.hierarchy, bootstrap, reserved=cfg.dashboard.username)
        self.check = self.store  # .verify(username, password) -> Account | None
        self.limiter = limiter or RateLimiter()
        self.api_limiter = api.TokenLimiter(cfg.dashboard.api_burst, cfg.dashboard.api_per_minute / 60)
        # a page's content without the header naming the account: managers of one scope share it, as they
        # share the figures behind it
        self.pages = TtlCache(self.data.ttl_s, 512)
        self.proxies = proxy.networks(cfg.dashboard.trusted_proxies)
        self.now = now or (lambda: datetime.now(timezone.utc))
        self._slots: dict[bool, CapacityLimiter] = {}
        self.asgi = build_app(self)

    async def work(self, fn: Callable, *args, long: bool = False):
        """``fn(*args)`` in a worker thread, at most ``work_slots`` at once; the others wait their turn, in
        order. Python runs one thread at a time, so running more at once only shares the processor out:
        with fifty managers at once every answer took as long as all the others (a cached page waited a
        second behind the cold ones), while in turn each waits only for those ahead of it. ``long`` work
        (officer evaluations) takes turns among itself, ``long_slots`` at once, beside the pages, so it
        never holds every slot."""
        if not self._slots:  # made on first use, in the server's event loop
            self._slots = {False: CapacityLimiter(self.work_slots), True: CapacityLimiter(self.long_slots)}
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._slots[long])

    def sites(self, scope: Scope) -> frozenset[str] | None:
        return scope_sites(scope, self.hierarchy)

    def scope_name(self, scope: Scope, lang: str) -> str:
        if scope.is_all:
            return t(lang, "scope_all")
        for p in self.hierarchy.places.values():
            if getattr(p, scope.level) == scope.slug:
                return getattr(p, scope.level + "_name")
        return str(scope)

    def close(self) -> None:
        self.data.close()
        if self._store_db is not self.db:
            self._store_db.close()


# ---------------------------------------------------------------------------------------- request helpers
# ---------------------------------------------------------------------------------------- routes
def build_app(app: Dashboard) -> Starlette:
    @answering
    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        file = (STATIC / name).resolve()
        try:
            if file.parent != STATIC.resolve() or not file.is_file() or file.suffix not in STATIC_TYPES:
                return refuse(404, "not_found")
            body = file.read_bytes()
        except (OSError, ValueError):  # e.g. a name longer than the file system allows
            return refuse(404, "not_found")
        return answer(200, body, STATIC_TYPES[file.suffix])

    @answering
    async def login(request: Request) -> Response:
        params = params_of(request)
        lang, set_cookies = lang_of(app, request, params)
        if request.method in ("GET", "HEAD"):
            nxt = guards.safe_redirect(params.get("next"))
            if await run_in_threadpool(session_of, app, request):
                return redirect(nxt)
            return answer(200, login_page(lang, next_path=nxt), set_cookies=set_cookies)
        form = await read_form(app, request)
        nxt = guards.safe_redirect(form.get("next"))
        if cross_site(request):
            return refuse(403, "login_here")
        client, username = client_of(app, request), form.get("username", "")
        attempt = app.limiter.acquire(client, username)
        if attempt is None:
            wait = app.limiter.retry_after(client, username)
            return answer(429, login_page(lang, t(lang, "too_many", s=wait), nxt), headers={"Retry-After": str(wait)})
        account = await run_in_threadpool(app.check.verify, username, form.get("password", ""))
        if not account:
            await run_in_threadpool(_audit_failure, app, username, client)
            return answer(401, login_page(lang, t(lang, "wrong_login"), nxt))
        app.limiter.release(attempt)
        session = await run_in_threadpool(_start_session, app, account, client)
        return redirect(nxt, [cookie(app, request, SESSION_COOKIE, session.token)])

    @answering
    async def logout(request: Request) -> Response:
        """Only the dashboard's own logout button (it carries the session's form token) ends a session:
        another page, even one on this host, cannot log the manager out."""
        if request.method != "POST":
            return refuse(404, "not_found")
        form = await read_form(app, request)
        session = await run_in_threadpool(session_of, app, request)
        if session is None:
            return redirect("/login")  # nothing to end; the cookie is left alone
        if not guards.same_token(session.csrf, form.get("csrf")):
            return refuse(403, "logout")
        await run_in_threadpool(app.store.end_session, session.token)
        return redirect("/login", [cookie(app, request, SESSION_COOKIE, "", 0)])

    def view_handler(base: str, fmt: str | None):
        @answering
        async def handle(request: Request) -> Response:
            if request.method == "POST":
                return refuse(405, "get_only", {"Allow": "GET, HEAD"})
            params = params_of(request)
            lang, set_cookies = lang_of(app, request, params)
            return await app.work(view, app, request, base, fmt, params, lang, set_cookies, long=base in LONG)
        return handle

    routes = [Route("/static/{name:path}", static, methods=["GET", "HEAD"]),
              Route("/login", login, methods=["GET", "HEAD", "POST"]),
              Route("/logout", logout, methods=["GET", "HEAD", "POST"])]
    for base in VIEWS:
        routes.append(Route(base, view_handler(base, None), methods=["GET", "HEAD", "POST"]))
        if base != "/":
            for fmt in EXPORTS:
                routes.append(Route(f"{base}.{fmt}", view_handler(base, fmt), methods=["GET", "HEAD"]))
    routes.append(Route("/report.pdf", view_handler("/report", "pdf"), methods=["GET", "HEAD"]))
    routes += admin.routes(app, answering, read_form, session_of, shell_values, cross_site)
    routes += api.routes(app, answering, session_of)
    routes += alerts_view.routes(app, answering, read_form, session_of, cross_site)
    routes += officers_view.routes(app, answering, session_of)
    from ..followup import view as followup_view  # the thank-you QR's answers (collector/followup/view.py)
    routes += followup_view.routes(app, answering, session_of, shell_values)

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        return refuse(status, "not_found" if status == 404 else "method")

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def _audit_failure(app: Dashboard, username: str, client: str) -> None:
    from ..accounts.accounts import scope_of_login
    app.store.audit(username[:64] or "(empty)", "login-failed", client=client,
                    scope=scope_of_login(app.store, username))


def _start_session(app: Dashboard, account: Account, client: str) -> Session:
    session = app.store.new_session(account, client, app.cfg.dashboard.session_hours * 3600)
    app.store.audit(account.username, "login", client=client, scope=account.scope)
    return session


def view(app: Dashboard, request: Request, base: str, fmt: str | None, params: dict, lang: str,
         set_cookies: list[str]) -> Response:
    """A page or its download for the signed-in account; the login page for anyone else."""
    session = session_of(app, request)
    if session is None:
        return to_login(request, set_cookies)
    return render_view(app, request, session, base, fmt, params, lang, set_cookies)


def render_view(app: Dashboard, request: Request, session: Session, base: str, fmt: str | None, params: dict,
                lang: str, set_cookies: list[str]) -> Response:
    plain = {k: v for k, v in params.items() if k in PAGE_PARAMS}
    try:  # ?province= ?commune= ?centre= ?site= narrow a page within the account's scope, never beyond
        sites = filters.filter_sites(app, session.account.scope, plain)
    except filters.ApiError as exc:
        return refuse_api(exc)
    scope = session.account.scope
    key = (base, VIEWS[base], tuple(sorted(plain.items())), lang, str(scope))
    if fmt == "pdf":  # the printable report as the e-mailed PDF
        from .report_pdf import report_pdf

        ctx = Ctx(app.data, app.cfg, app.hierarchy, lang, plain, app.now(), sites, scope)
        try:
            name, body = report_pdf(ctx)
        except ValueError as exc:
            return answer(400, errors.page(400, *str(exc).split(" / ", 1)) if " / " in str(exc)
                          else errors.page(400, *errors.words("bad_request", detail=str(exc))))
        app.store.audit(session.account.username, "export", name, client=client_of(app, request), scope=scope)
        return answer(200, body, "application/pdf", {"Content-Disposition": guards.attachment(name)})
    cached = None if fmt or base in UNCACHED else app.pages.peek(key)
    if cached is None:
        ctx = Ctx(app.data, app.cfg, app.hierarchy, lang, plain, app.now(), sites, scope)
        page = VIEWS[base](ctx)
        if fmt:
            body = to_csv(page.tables) if fmt == "csv" else to_xlsx(page.tables)
            app.store.audit(session.account.username, "export", f"{page.export_name}.{fmt}",
                            client=client_of(app, request), scope=scope)
            ctype = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
            return answer(200, body, ctype, {"Content-Disposition": guards.attachment(f"{page.export_name}.{fmt}")})
        content = Markup(render(page.template, lang, csrf=session.csrf, scope_name=app.scope_name(scope, lang),
                                **page.values))
        cached = (Page(page.view, page.title, page.template, tables=page.tables), content)
        if base not in UNCACHED:
            app.pages.put(key, cached)
    page, content = cached
    html = render("shell.html", lang, content=content, **shell_values(app, session, page, lang, plain, request.url.path))
    return answer(200, html, set_cookies=set_cookies)


# ---------------------------------------------------------------------------------------- serving
def make_server(app: Dashboard, host: str, port: int) -> ServerThread:
    import uvicorn

    protocol = protocol_for(app.idle_timeout_s, app.request_timeout_s, app.write_timeout_s, app.header_timeout_s,
                            app.max_connections, app.per_client, app.proxies)
    config = uvicorn.Config(app.asgi, http=protocol,
                            lifespan="off", access_log=False, log_level="warning", server_header=False,
                            date_header=True, timeout_keep_alive=max(1, int(app.idle_timeout_s)),
                            # the protocol keeps the count (connections.py); uvicorn's own 503 is a backstop for
                            # connections closed a moment ago and not yet gone
                            limit_concurrency=2 * app.max_connections + 1,
                            backlog=128, h11_max_incomplete_event_size=16 * 1024,
                            proxy_headers=False)  # X-Forwarded-* are believed only from trusted proxies (proxy.py)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  (not the main thread in tests)
    return ServerThread(server, listening_socket(host, port))


def start_in_thread(app: Dashboard, host: str = "127.0.0.1", port: int = 0) -> tuple[ServerThread, str]:
    """Serve in a background thread (tests, benchmarks); returns the server and its base URL."""
    server = make_server(app, host, port).start()
    return server, f"http://{host}:{server.server_address[1]}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("The bootstrap admin's password comes from dashboard.password in collector.yaml, e.g. "
                "'password: {env: HAILONG_DASHBOARD_PASSWORD}'; managers' own accounts are made with "
                "'python -m collector users add'. Example: "
                "HAILONG_DASHBOARD_PASSWORD=... python -m collector serve --config collector.yaml")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--db", metavar="URL", help="database URL (default: database.url of the config)")
    p.add_argument("--host", help="address to listen on (default: dashboard.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: dashboard.port, 8080)")


def main(args) -> int:
    from ..cli_setup import collector_config, database, secret
    from ..storage.db import DatabaseError

    cfg = collector_config(args.config)
    if cfg is None:
        return 2
    password = None
    if cfg.dashboard.password is not None:
        try:
            password = secret(cfg.dashboard.password, "dashboard.password")
        except ValueError as exc:
            print(f"serve: {exc}", file=sys.stderr)
            return 2
        if not password:
            print("serve: the dashboard password is empty; set a non-empty one", file=sys.stderr)
            return 2
    db = database(cfg, args.db, "serve")
    if db is None:
        return 2
    if password is None and not db.scalar("SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled = 0"):
        print(f"serve: no dashboard password in {args.config} and no admin account in the database: add "
              "'password: {env: HAILONG_DASHBOARD_PASSWORD}' under 'dashboard:' and set that variable, or create "
              "one with 'python -m collector users add NAME --role admin --scope all'", file=sys.stderr)
        db.close()
        return 2
    host, port = args.host or cfg.dashboard.host, args.port or cfg.dashboard.port
    try:
        db_password = cfg.database.password.resolve() if cfg.database.password else None
        app = Dashboard(cfg, db, password, db_password=db_password)
        server = make_server(app, host, port)
    except OSError as exc:
        print(f"serve: cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port", file=sys.stderr)
        return 2
    except (ValueError, DatabaseError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    server.start()
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
        server.shutdown()
        server.server_close()
        app.close()
        db.close()
    return 0
