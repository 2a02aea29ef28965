"""The public form the thank-you QR opens, ``/f/<rating id>.<token>``, and the printed counter QR's general
feedback, ``/g/<code>`` (collector/followup/general.py); nothing else.

A Starlette app of its own on its own listener (python -m collector followup serve), so a province can put
it on the internet while the dashboard stays inside. No login, no cookie, no script: the token in the link
is the only key. Hardened like the dashboard: the same connection guards (collector/web/connections.py:
header and body time limits, connections per address), a small bounded body, a strict CSP, every value
escaped by Jinja2; plus rate limits per client address and per link.
"""
from __future__ import annotations

import asyncio
import re
import sys
import time
import traceback
import unicodedata
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker import followup_tokens as tokens

from ..web import guards, proxy
from . import answers, general
from .answers import Answer, Outcome
from .limits import Buckets

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True, default_for_string=True),
                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
CSS = (HERE / "templates" / "form.css").read_bytes()
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
ELEMENTS = (  # SIPAS's five elements, in its order
    ("access", "Tiếp cận dịch vụ (dễ tìm, dễ đến, chỗ chờ)", "Access to the service (easy to find and reach, waiting area)"),
    ("procedure", "Thủ tục hành chính (công khai, rõ ràng, đúng quy định)", "Administrative procedures (public, clear, lawful)"),
    ("staff", "Công chức trực tiếp giải quyết (thái độ, hướng dẫn)", "The civil servant who served you (manner, guidance)"),
    ("result", "Kết quả giải quyết (đúng hẹn, đúng quy định)", "The result (on time, correct)"),
    ("feedback", "Tiếp nhận, xử lý góp ý, phản ánh", "Handling of feedback and complaints"),
)
assert tuple(e[0] for e in ELEMENTS) == answers.ELEMENTS
PAGES = {
    Outcome.ACCEPTED: (200, "Cảm ơn bạn đã góp ý", "Thank you for your answer",
                       "Ý kiến của bạn đã được ghi nhận cùng lượt đánh giá tại quầy.",
                       "Your answer is kept with the rating you made at the counter."),
    Outcome.ALREADY: (200, "Đã nhận ý kiến, cảm ơn bạn", "Already received, thank you",
                      "Mỗi mã QR chỉ dùng được một lần và ý kiến cho mã này đã được gửi.",
                      "Each QR code works once, and an answer for this one has been sent."),
    Outcome.FORGED: (404, "Liên kết không hợp lệ", "This link is not valid",
                     "Hãy quét lại mã QR trên màn hình tại quầy.", "Scan the QR code on the screen at the counter again."),
    Outcome.EXPIRED: (410, "Liên kết đã hết hạn", "This link has expired",
                      "Mã QR chỉ dùng được trong một thời gian sau khi đánh giá.",
                      "A QR code works only for a while after the rating."),
    Outcome.BUSY: (429, "Vui lòng thử lại sau", "Please try again later",
                   "Có quá nhiều yêu cầu. Hãy thử lại sau ít phút.", "Too many requests. Try again in a few minutes."),
}
PAGES[Outcome.PENDING] = PAGES[Outcome.ACCEPTED]
GENERAL_THANKS = (200, "Cảm ơn bạn đã góp ý", "Thank you for your feedback",
                  "Góp ý chung của bạn đã được gửi tới nơi tiếp nhận hồ sơ này.",
                  "Your general feedback has been sent to this counter.")
_PHONE = re.compile(r"\+?[0-9][0-9 .-]{6,22}")
_EMAIL = re.compile(r"[^@\s<>\"'()]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")
_SWEEP_S = 60.0


def clean_text(text: str) -> str:
    """Line breaks and tabs stay; other control and format characters (escapes, NUL, right-to-left
    overrides, zero-width) go. NFC, so one Vietnamese letter is one character whatever the phone sent."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co")).strip()


def contact_ok(text: str) -> bool:
    if not text:
        return True
    if _PHONE.fullmatch(text):
        return 8 <= sum(c.isdigit() for c in text) <= 15
    return len(text) <= 120 and _EMAIL.fullmatch(text) is not None


class FollowupApp:
    """Everything a request needs. ``cfg``: collector.yaml's followup_form; ``now``: replaceable by tests."""

    idle_timeout_s = 15.0
    header_timeout_s = 5.0
    request_timeout_s = 20.0
    write_timeout_s = 30.0
    max_connections = 128
    per_client = 8

    def __init__(self, cfg, db, now: Callable[[], float] = time.time):
        self.cfg, self.db, self.now = cfg, db, now
        self.ttl_ms = int(cfg.ttl_hours * 3_600_000)
        self.body_limit = 2048 + cfg.comment_max * 12  # url-encoded UTF-8: up to 9 bytes a character, plus fields
        self.proxies = proxy.networks(cfg.trusted_proxies)
        per_min = cfg.per_address_per_minute
        self.posts = Buckets(per_min / 60.0, per_min)
        self.views = Buckets(per_min * 5 / 60.0, per_min * 5)
        self.tries = Buckets(cfg.per_token_tries / 3600.0, cfg.per_token_tries)
        self.general_tries = Buckets(cfg.general_per_hour / 3600.0, cfg.general_per_hour)
        self.last_sweep = 0.0
        self.asgi = build_app(self)

    def render(self, status: int, **values) -> Response:
        html = ENV.get_template("form.html").render(**values)
        return answer(status, html.encode("utf-8"), "text/html; charset=utf-8")

    def outcome_page(self, outcome: Outcome, lang: str = "vi") -> Response:
        status, hvi, hen, tvi, ten = PAGES[outcome]
        extra = {"Retry-After": "300"} if status == 429 else None
        resp = self.render(status, page="done", lang=lang, heading_vi=hvi, heading_en=hen, text_vi=tvi, text_en=ten)
        if extra:
            resp.headers.update(extra)
        return resp

    def page_of(self, status: int, hvi: str, hen: str, tvi: str, ten: str, lang: str) -> Response:
        return self.render(status, page="done", lang=lang, heading_vi=hvi, heading_en=hen, text_vi=tvi, text_en=ten)

    def form_page(self, action: str, lang: str = "vi", status: int = 200, error: str = "", values: dict | None = None,
                  general: bool = False, place: str = "") -> Response:
        return self.render(status, page="form", action=action, lang=lang, elements=ELEMENTS, error=error,
                           values=values or {}, comment_max=self.cfg.comment_max, general=general, place=place,
                           retention_days=f"{self.cfg.retention_days:g}")

    def sweep(self) -> None:
        now_ms = int(self.now() * 1000)
        answers.expire(self.db, now_ms, int(self.cfg.pending_hours * 3_600_000))
        answers.purge(self.db, now_ms, self.cfg.retention_days)
        general.purge(self.db, now_ms, self.cfg.retention_days)


def answer(status: int, body: bytes, ctype: str, headers: dict | None = None) -> Response:
    h = {**SECURITY_HEADERS, **(headers or {})}
    for k, v in h.items():
        if not guards.header_safe(str(v)):
            raise ValueError(f"refusing header {k}: {v!r}")
    return Response(body, status, headers=h, media_type=ctype)


def plain(status: int, message: str, headers: dict | None = None) -> Response:
    return answer(status, (message + "\n").encode("utf-8"), "text/plain; charset=utf-8", headers)


class _Headers:
    """Starlette headers as guards.body_length reads them (``get`` and ``get_all``)."""

    def __init__(self, headers):
        self.get, self.get_all = headers.get, headers.getlist


async def read_body(app: FollowupApp, request: Request) -> bytes:
    """At most ``app.body_limit`` bytes, announced by Content-Length, within the request time limit."""
    length = guards.body_length(_Headers(request.headers), app.body_limit)
    deadline = time.monotonic() + app.request_timeout_s
    body = b""
    while len(body) < length:
        left = deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(request.receive(), timeout=max(0.01, min(app.idle_timeout_s, left)))
        except asyncio.TimeoutError:
            raise guards.BodyError(408, f"the {length}-byte body did not arrive in time") from None
        if message["type"] == "http.disconnect":
            raise guards.BodyError(400, "the connection closed before the body was complete")
        body += message.get("body", b"")
        if len(body) > length:
            raise guards.BodyError(400, "more body bytes than Content-Length announced")
        if not message.get("more_body", False) and len(body) < length:
            raise guards.BodyError(400, f"the body ended after {len(body)} of {length} bytes")
    return body


def lang_of(request: Request) -> str:
    """The kiosk's language from the link (``?l=en``), or Vietnamese. The form has Vietnamese and English
    texts; another kiosk language opens it in Vietnamese with English beside, and is kept on the answer."""
    lang = request.query_params.get("l", "vi")
    return lang if isinstance(lang, str) and tokens.LANG_RE.fullmatch(lang) else "vi"


def action_of(path: str, lang: str) -> str:
    return path if lang == "vi" else f"{path}?l={lang}"


def parse_answer(app: FollowupApp, form: dict[str, str], lang: str = "vi") -> tuple[Answer | None, str, dict]:
    """(the answer, '', values) or (None, the error to show, the values to show again)."""
    values = {k: form.get(k, "") for k in (*answers.ELEMENTS, "comment", "contact")}
    scores = {}
    for key in answers.ELEMENTS:
        v = values[key]
        if v == "":
            continue
        if v not in ("1", "2", "3", "4", "5"):
            return None, "Mỗi câu chọn từ 1 đến 5 hoặc bỏ qua. / Each answer is 1 to 5, or skip.", {}
        scores[key] = int(v)
    comment = clean_text(values["comment"])
    contact = clean_text(values["contact"])
    values.update(comment=comment[:app.cfg.comment_max], contact=contact[:120])
    if len(comment) > app.cfg.comment_max:
        return None, (f"Ý kiến dài quá {app.cfg.comment_max} ký tự, hãy rút ngắn. / The comment is longer than "
                      f"{app.cfg.comment_max} characters; please shorten it."), values
    if not contact_ok(contact):
        return None, ("Số điện thoại hoặc e-mail chưa đúng; hãy sửa hoặc để trống. / The phone number or e-mail "
                      "is not valid; correct it or leave it empty."), values
    if not scores and not comment and not contact:
        return None, "Bạn chưa trả lời câu nào. / You have not answered anything.", values
    return Answer(scores, comment, contact, lang), "", values


def build_app(app: FollowupApp) -> Starlette:
    def client(request: Request) -> str:
        peer = request.client.host if request.client else ""
        return proxy.client_of(peer, request.headers.get("x-forwarded-for"), app.proxies)

    def limited(wait: float) -> Response:
        return plain(429, "Quá nhiều yêu cầu, vui lòng thử lại sau. / Too many requests; try again later.",
                     {"Retry-After": str(max(1, int(wait + 0.999)))})

    async def css(request: Request) -> Response:
        return Response(CSS, 200, headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"},
                        media_type="text/css; charset=utf-8")

    def guarded(handle):
        """A body too large or too slow gets its refusal, anything else a 500 and its trace in the log."""
        async def endpoint(request: Request) -> Response:
            try:
                return await handle(request)
            except guards.BodyError as exc:
                return plain(exc.status, str(exc), {"Connection": "close"})
            except Exception:
                print(f"followup form: {request.method} failed:\n{traceback.format_exc()}", file=sys.stderr)
                return plain(500, "Lỗi máy chủ, vui lòng thử lại sau. / Server error; try again later.",
                             {"Connection": "close"})
        return endpoint

    async def _link(request: Request) -> Response:
        now = app.now()
        who = client(request)
        ref = request.path_params["ref"]
        if request.method == "POST":
            wait = app.posts.take(who, now)
        else:
            wait = app.views.take(who, now)
        if wait:
            return limited(wait)
        lang = lang_of(request)
        shown = "en" if lang == "en" else "vi"
        parsed = tokens.parse(ref)
        if parsed is None:
            return app.outcome_page(Outcome.FORGED, shown)
        rating_id, token = parsed
        action = action_of(f"/f/{ref}", lang)
        now_ms = int(now * 1000)
        if request.method != "POST":
            state = await run_in_threadpool(answers.check, app.db, rating_id, token, now_ms, app.ttl_ms)
            return app.form_page(action, shown) if state is Outcome.OPEN else app.outcome_page(state, shown)
        wait = app.tries.take(rating_id, now)
        if wait:
            return limited(wait)
        body = await read_body(app, request)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20))
        parsed_answer, error, values = parse_answer(app, form, lang)
        if parsed_answer is None:
            state = await run_in_threadpool(answers.check, app.db, rating_id, token, now_ms, app.ttl_ms)
            if state is not Outcome.OPEN:
                return app.outcome_page(state, shown)
            return app.form_page(action, shown, 400, error, values)
        if now - app.last_sweep >= _SWEEP_S:
            app.last_sweep = now
            await run_in_threadpool(app.sweep)
        state = await run_in_threadpool(answers.submit, app.db, rating_id, token, parsed_answer, now_ms, app.ttl_ms)
        return app.outcome_page(state, shown)

    async def _counter(request: Request) -> Response:
        """The static counter QR's general feedback: marked as such, stored apart (collector/followup/general.py)."""
        now = app.now()
        who = client(request)
        wait = (app.posts if request.method == "POST" else app.views).take(who, now)
        if wait:
            return limited(wait)
        lang = lang_of(request)
        shown = "en" if lang == "en" else "vi"
        code = request.path_params["code"]
        place = await run_in_threadpool(general.counter_of, app.db, code)
        if place is None:
            return app.outcome_page(Outcome.FORGED, shown)
        action = action_of(f"/g/{code}", lang)
        if request.method != "POST":
            return app.form_page(action, shown, general=True, place=place[2])
        wait = app.general_tries.take(code, now)
        if wait:
            return limited(wait)
        body = await read_body(app, request)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20))
        parsed_answer, error, values = parse_answer(app, form, lang)
        if parsed_answer is None:
            return app.form_page(action, shown, 400, error, values, general=True, place=place[2])
        if now - app.last_sweep >= _SWEEP_S:
            app.last_sweep = now
            await run_in_threadpool(app.sweep)
        if not await run_in_threadpool(general.submit, app.db, code, parsed_answer, int(now * 1000)):
            return app.outcome_page(Outcome.FORGED, shown)
        return app.page_of(*GENERAL_THANKS, shown)

    async def other(request: Request) -> Response:
        wait = app.views.take(client(request), app.now())
        if wait:
            return limited(wait)
        return plain(404, "Không có trang này. / Not found.")

    return Starlette(routes=[Route("/f.css", css, methods=["GET", "HEAD"]),
                             Route("/f/{ref}", guarded(_link), methods=["GET", "HEAD", "POST"]),
                             Route("/g/{code}", guarded(_counter), methods=["GET", "HEAD", "POST"]),
                             Route("/{path:path}", other, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                                                  "OPTIONS"])])


def make_server(app: FollowupApp, host: str, port: int):
    import uvicorn

    from ..web.connections import ServerThread, listening_socket, protocol_for

    protocol = protocol_for(app.idle_timeout_s, app.request_timeout_s, app.write_timeout_s, app.header_timeout_s,
                            app.max_connections, app.per_client, app.proxies)
    config = uvicorn.Config(app.asgi, http=protocol, lifespan="off", access_log=False, log_level="warning",
                            server_header=False, date_header=True, timeout_keep_alive=max(1, int(app.idle_timeout_s)),
                            limit_concurrency=2 * app.max_connections + 1, backlog=128,
                            h11_max_incomplete_event_size=8 * 1024, proxy_headers=False)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return ServerThread(server, listening_socket(host, port))


def start_in_thread(app: FollowupApp, host: str = "127.0.0.1", port: int = 0):
    server = make_server(app, host, port).start()
    return server, f"http://{host}:{server.server_address[1]}"
