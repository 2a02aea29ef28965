"""Slow senders against the real dashboard server: sockets that trickle one header byte at a time, from one
address and from many, hold no more than their share of the connections, are closed once their few seconds
for a request line and headers are up, and a signed-in manager is answered all along. Loopback only: the
attackers' sockets leave from other 127.x addresses, which Linux routes to the same loopback interface."""
from __future__ import annotations

import select
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from tests.integration.test_dashboard_attacks import db_path, get, head_of, port_of, raw, serving, session_cookie  # noqa: F401

ATTACK_LINE = b"GET /devices HTTP/1.1\r\nHost: x\r\nX-Slow: "


def ended_by_server(s: socket.socket) -> bool:
    """True when the server has closed, reset or answered this socket (a slow sender never completes a
    request, so anything it can read is the end: end of file, or a 503 before it)."""
    try:
        ready, _, _ = select.select([s], [], [], 0)
        return bool(ready)
    except OSError:
        return True


class SlowSender:
    """``count`` sockets from ``source`` addresses, each sending a request line and then one header byte every
    ``every_s``, as the attack did (66 sockets, one byte every 5 s, from one host)."""

    def __init__(self, url: str, sources: list[str], per_source: int, every_s: float = 0.5):
        self.url, self.every_s = url, every_s
        self.socks: list[socket.socket] = []
        for source in sources:
            for _ in range(per_source):
                s = socket.create_connection(("127.0.0.1", port_of(url)), timeout=5, source_address=(source, 0))
                s.sendall(ATTACK_LINE)
                self.socks.append(s)
                time.sleep(0.005)  # a burst, yet each connection is accepted before the next
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(self.every_s):
            for s in self.socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    def open(self) -> int:
        return sum(not ended_by_server(s) for s in self.socks)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


@contextmanager
def attack(url: str, sources: list[str], per_source: int):
    sender = SlowSender(url, sources, per_source)
    try:
        yield sender
    finally:
        sender.close()


def loopback_aliases_work() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not loopback_aliases_work(), reason="this machine cannot bind 127.0.0.2")


def manager_is_served(url: str, cookie: str, times: int = 5) -> list[int]:
    """A signed-in manager's page, several times while the attack goes on (a new connection each time)."""
    statuses = []
    for _ in range(times):
        statuses.append(get(url, "/devices", cookie)[0])  # 303 would be the login page: the session was lost
        time.sleep(0.2)
    return statuses


def test_one_slow_host_holds_only_its_share_and_a_signed_in_manager_is_served(db_path):
    with serving(db_path) as (app, url):
        cookie = session_cookie(url)
        with attack(url, ["127.0.0.2"], 66) as sender:
            time.sleep(0.5)
            assert sender.open() <= app.per_client < 66
            assert manager_is_served(url, cookie) == [200] * 5
            status, _, _ = get(url, "/login")  # anyone else, not signed in yet, gets the login page too
            assert status == 200
            # no full request line and headers within the header time: every slow socket is closed
            deadline = time.monotonic() + app.header_timeout_s + 3
            while sender.open() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert sender.open() == 0


def test_slow_senders_from_many_addresses_fill_the_server_and_a_manager_is_still_served(db_path):
    with serving(db_path, max_connections=24, per_client=6) as (app, url):
        cookie = session_cookie(url)
        sources = [f"127.0.0.{i}" for i in range(2, 10)]  # 8 addresses x 6 = 48 slow sockets for 24 places
        with attack(url, sources, 6) as sender:
            time.sleep(1.5)  # the slow sockets are past the grace a new connection has
            assert sender.open() <= app.max_connections
            assert manager_is_served(url, cookie) == [200] * 5


def test_a_new_connection_gets_503_only_when_every_place_is_busy_with_a_request(db_path):
    with serving(db_path, max_connections=3, idle_timeout_s=5.0) as (app, url):
        silent = [socket.create_connection(("127.0.0.1", port_of(url)), timeout=5) for _ in range(3)]
        try:
            time.sleep(0.2)  # younger than the grace: their requests may be on the way
            assert head_of(raw(url, b"GET /login HTTP/1.0\r\n\r\n"))[0] == 503
            time.sleep(1.0)
            assert head_of(raw(url, b"GET /login HTTP/1.0\r\n\r\n"))[0] == 200  # a silent one made room
            time.sleep(0.2)
            assert sum(ended_by_server(s) for s in silent) >= 1
        finally:
            for s in silent:
                s.close()
        time.sleep(0.3)
        busy = []  # requests whose body is still on its way: the application is reading them
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port_of(url)), timeout=5)
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 100\r\n\r\nusername=adm")
            busy.append(s)
        try:
            time.sleep(0.3)
            answer = raw(url, b"GET /login HTTP/1.0\r\n\r\n")
            assert head_of(answer)[0] == 503 and "bận".encode() in answer and b"busy" in answer
        finally:
            for s in busy:
                s.close()
        time.sleep(0.3)
        assert head_of(raw(url, b"GET /login HTTP/1.0\r\n\r\n"))[0] == 200
