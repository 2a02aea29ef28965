"""What every dashboard view shares: reading a request (parameters, cookies, the client behind a proxy,
the language, a bounded form body) and answering it (security headers, refusals, redirects, the page
shell). Views import from here; this module imports no view and not the app (server.py): each helper that
needs the running dashboard gets it passed in as ``app``.
"""
from __future__ import annotations

import asyncio
import csv
import functools
import io
import sys
import time
import traceback
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response

from ..accounts.accounts import Account, Session
from ..reports.export import csv_cell
from . import errors, guards, proxy
from .auth import SESSION_COOKIE
from .i18n import t
from .layout import NAV, PATHS, query

# What pages read from their URL; anything else is dropped (and never echoed into links).
PAGE_PARAMS = ("period", "dim", "province", "commune", "centre", "site")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Headers:
    """Starlette headers as guards.body_length reads them (``get`` and ``get_all``)."""

    def __init__(self, headers):
        self._h = headers

    def get(self, name, default=None):
        return self._h.get(name, default)

    def get_all(self, name):
        return self._h.getlist(name)


def cookies(request: Request) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


def params_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query))


def peer(request: Request) -> str:
    return request.client.host if request.client else ""


def client_of(app, request: Request) -> str:
    return proxy.client_of(peer(request), request.headers.get("x-forwarded-for"), app.proxies)


def https(app, request: Request) -> bool:
    return proxy.is_https(peer(request), request.headers.get("x-forwarded-proto"), app.proxies,
                          tls=request.url.scheme == "https")


def cookie(app, request: Request, name: str, value: str, max_age: int | None = None,
           http_only: bool = True) -> str:
    """Cookies only for this site's pages; Secure when the browser came over HTTPS."""
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if https(app, request):
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def answer(status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8", headers: dict | None = None,
           set_cookies: list[str] = ()) -> Response:
    if isinstance(body, str):
        body = body.encode("utf-8")
    h = {"Cache-Control": "no-store" if not ctype.startswith(("text/css", "image/")) else "max-age=3600",
         **SECURITY_HEADERS, **(headers or {})}
    for k, v in h.items():
        if not guards.header_safe(str(v)):
            raise ValueError(f"refusing header {k}: {v!r} (line break or non-ASCII character)")
    response = Response(body, status, headers=h, media_type=ctype)
    for c in set_cookies:
        response.headers.append("set-cookie", c)
    return response


def text(status: int, message: str, headers: dict | None = None) -> Response:
    return answer(status, message + "\n", "text/plain; charset=utf-8", headers)


def refuse(status: int, key: str, headers: dict | None = None, **kw) -> Response:
    """An error page for a person: Vietnamese first, English under it, a link back (errors.py)."""
    return answer(status, errors.page(status, *errors.words(key, **kw)), headers=headers)


def refuse_api(exc) -> Response:
    """A refusal the API's checks raised (filters.ApiError), as a page (a scope refusal names the place in Vietnamese)."""
    return answer(exc.status, errors.page(exc.status, exc.vi or errors.words("bad_request", detail="")[0], str(exc)))


def redirect(location: str, set_cookies: list[str] = ()) -> Response:
    response = Response(b"", 303, headers={"Location": guards.safe_redirect(location)})
    for c in set_cookies:
        response.headers.append("set-cookie", c)
    return response


def lang_of(app, request: Request, params: dict) -> tuple[str, list[str]]:
    """?lang= switches and is remembered in a cookie; otherwise the cookie, otherwise the config."""
    wanted = params.get("lang")
    if wanted in ("vi", "en"):
        return wanted, [cookie(app, request, "hl_lang", wanted, 31536000, http_only=False)]
    remembered = cookies(request).get("hl_lang")
    return (remembered if remembered in ("vi", "en") else app.cfg.dashboard.lang), []


async def read_form(app, request: Request) -> dict[str, str]:
    """The url-encoded form of a POST: bounded in size (guards.body_length) and in time (408)."""
    length = guards.body_length(_Headers(request.headers))
    deadline = time.monotonic() + app.request_timeout_s
    body = b""
    receive = request.receive
    while len(body) < length:
        left = deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(receive(), timeout=max(0.01, min(app.idle_timeout_s, left)))
        except asyncio.TimeoutError:
            raise guards.BodyError(408, f"the {length}-byte body did not arrive in time") from None
        if message["type"] == "http.disconnect":
            raise guards.BodyError(400, f"the connection closed after {len(body)} of {length} body bytes")
        body += message.get("body", b"")
        if len(body) > length:
            raise guards.BodyError(400, "more body bytes than Content-Length announced")
        if not message.get("more_body", False) and len(body) < length:
            raise guards.BodyError(400, f"the body ended after {len(body)} of {length} bytes")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def answering(handler):
    """Whatever goes wrong inside, the client gets an answer (500) and the trace goes to stderr."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except guards.BodyError as exc:  # what is left of the body is not read
            return refuse(exc.status, "bad_request", {"Connection": "close"}, detail=str(exc))
        except Exception:
            print(f"dashboard: {request.method} {str(request.url.path)[:200]!r} failed:\n{traceback.format_exc()}",
                  file=sys.stderr)
            return refuse(500, "internal", {"Connection": "close"})
    return run


def to_login(request: Request, set_cookies: list[str] = ()) -> Response:
    """To the login page, which comes back here (path and query) once signed in."""
    target = request.url.path + (("?" + request.url.query) if request.url.query else "")
    return redirect("/login?next=" + quote(target, safe="/?=&"), set_cookies)


def session_of(app, request: Request) -> Session | None:
    return app.store.session(cookies(request).get(SESSION_COOKIE))


def cross_site(request: Request) -> bool:
    """A form posted from another site (browsers say so in Sec-Fetch-Site)."""
    return request.headers.get("sec-fetch-site", "same-origin") == "cross-site"


def nav_for(account: Account) -> list[tuple[str, str]]:
    links = [(v, PATHS[v]) for v in NAV]
    if account.is_admin:
        links.append(("admin", PATHS["admin"]))
    return links


def shell_values(app, session: Session, page, lang: str, params: dict, path: str) -> dict:
    """What every signed-in page shows around its content."""
    other = "en" if lang == "vi" else "vi"
    plain = {k: v for k, v in params.items() if k != "lang"}
    return {"page": page, "account": session.account, "csrf": session.csrf, "nav": nav_for(session.account),
            "scope_name": app.scope_name(session.account.scope, lang),
            "lang_href": path + query(params, lang=other), "export_base": "/overview" if path == "/" else path,
            "export_query": query(plain), "title": f"{page.title} · {t(lang, 'app')}",
            "page_class": f"view-{page.view}", **page.values}


def csv_text(rows: list[list]) -> str:
    """Rows as CSV text for a spreadsheet: a BOM for Excel, texts never run as formulas (export.csv_cell)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow(["" if v is None else csv_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()
