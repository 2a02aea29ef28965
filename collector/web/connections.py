"""Time and count limits on the dashboard's connections, on top of uvicorn's HTTP/1.1 (h11) protocol.

uvicorn closes a connection that stays idle after an answer, and answers 503 past ``limit_concurrency``,
but it waits for request headers for ever: one byte every few seconds would hold a connection open, and
66 such sockets from one host held all 64 places (every manager got 503). ``GuardedH11Protocol``:

- gives a new connection ``header_timeout_s`` (a few seconds) to send its whole request line and headers,
  and a kept-alive one as long from the first byte of its next request (it may stay silent up to
  ``idle_timeout_s`` before that); the body has ``request_timeout_s``, enforced by the application so it
  can answer 408;
- keeps at most ``per_client`` connections per client address (peers in ``trusted`` are reverse proxies
  that carry many clients: not counted per address; the proxy limits its own clients);
- when a limit is reached, makes room by closing the connection that has waited longest for a request
  (one that never completed a request first): such a connection has cost the server nothing but a
  socket, while a manager's browser sends its request at once. A connection younger than
  ``grace_s`` is left alone (its request may be on its way). Only when every connection in the way is
  busy with a request, or that young, does a new one get 503. So a slow sender, from one address or from many, cannot keep a
  signed-in manager's request from being read and answered.

An answer the client does not read within ``write_timeout_s`` (a download it stalls) closes the
connection too.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

BUSY = ("Máy chủ đang bận, vui lòng thử lại sau ít giây. / The dashboard is busy; try again in a few "
        "seconds.\n").encode("utf-8")
BUSY_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(BUSY)).encode() + b"\r\n\r\n" + BUSY)


class GuardedH11Protocol(H11Protocol):
    idle_timeout_s = 15.0
    header_timeout_s = 5.0
    request_timeout_s = 30.0
    write_timeout_s = 120.0
    max_connections = 64
    per_client = 32
    grace_s = 1.0
    trusted: tuple = ()  # networks of reverse proxies (dashboard.trusted_proxies)
    live: dict = {}  # every open connection of this server, oldest first (one dict per protocol_for class)

    def connection_made(self, transport) -> None:
        self._deadline_task = self._idle_task = self._write_task = None
        self._cycle_seen = None
        self._waiting_since, self._served, self._refused = time.monotonic(), 0, False
        super().connection_made(transport)
        self._peer = self.client[0] if self.client else ""
        if not self._make_room():
            # 503, then end our side and read what the client sends for a moment: closing at once with its
            # request unread would reset the connection, and the client would never see the answer
            self._refused = True
            transport.write(BUSY_ANSWER)
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(1.0, transport.close)
            return
        self.live[self] = None
        self._await_request(first=True)

    # ------------------------------------------------------------- connection limits
    def _proxy(self) -> bool:
        try:
            addr = ipaddress.ip_address(self._peer)
        except ValueError:
            return False
        return any(addr.version == n.version and addr in n for n in self.trusted)

    def _waiting(self) -> bool:
        """Between requests, or still sending a request's headers: closing it loses no work."""
        return self.cycle is None or self.cycle.response_complete

    def _idle(self, now: float) -> bool:
        """Waiting for longer than the grace, its last answer wholly handed to the network: closing it cuts
        no download short and no request that is on its way."""
        return (self._waiting() and now - self._waiting_since >= self.grace_s and not self.transport.is_closing()
                and not self.transport.get_write_buffer_size())

    def _make_room(self) -> bool:
        """Room for this connection within the per-address and total limits, closing the connections that
        have waited longest for a request if need be; False when every one in the way is busy."""
        if not self._proxy():
            same = [c for c in self.live if c._peer == self._peer]
            if len(same) >= self.per_client and not self._close_longest_waiting(same):
                return False
        if len(self.live) >= self.max_connections:
            return self._close_longest_waiting(list(self.live))
        return True

    def _close_longest_waiting(self, among: list) -> bool:
        now = time.monotonic()
        waiting = [c for c in among if c._idle(now)]
        if not waiting:
            return False
        victim = min(waiting, key=lambda c: (c._served > 0, c._waiting_since))
        self.live.pop(victim, None)
        victim.transport.close()
        return True

    # ------------------------------------------------------------- waiting for a request's headers
    def _await_request(self, first: bool = False) -> None:
        """A new connection has header_timeout_s for its request; a kept-alive one may first stay silent
        for idle_timeout_s, and has header_timeout_s from its next request's first byte."""
        self._cancel("_deadline_task")
        self._waiting_since = time.monotonic()
        if first:
            self._deadline_task = self.loop.call_later(self.header_timeout_s, self._give_up)
        self._arm_idle()

    def _arm_idle(self) -> None:
        self._cancel("_idle_task")
        self._idle_task = self.loop.call_later(self.idle_timeout_s, self._give_up)

    def _cancel(self, name: str) -> None:
        task = getattr(self, name, None)
        if task is not None:
            task.cancel()
            setattr(self, name, None)

    def _give_up(self) -> None:
        self._cancel("_deadline_task")
        self._cancel("_idle_task")
        if not self.transport.is_closing() and self._waiting():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle is not self._cycle_seen and not self.cycle.response_complete:
            # the headers are in: the application now has the request (and enforces the body's time)
            self._cycle_seen = self.cycle
            self._cancel("_deadline_task")
            self._cancel("_idle_task")
        elif self._waiting():
            if self._deadline_task is None:  # the first byte of a kept-alive connection's next request
                self._deadline_task = self.loop.call_later(self.header_timeout_s, self._give_up)
            self._arm_idle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._served += 1
        if not self.transport.is_closing():
            self._await_request()

    def connection_lost(self, exc) -> None:
        self.live.pop(self, None)
        for name in ("_deadline_task", "_idle_task", "_write_task"):
            self._cancel(name)
        super().connection_lost(exc)

    # ------------------------------------------------------------- a client that does not read its answer
    def pause_writing(self) -> None:
        super().pause_writing()
        self._cancel("_write_task")
        self._write_task = self.loop.call_later(self.write_timeout_s, self.transport.abort)

    def resume_writing(self) -> None:
        self._cancel("_write_task")
        super().resume_writing()


def protocol_for(idle_s: float, request_s: float, write_s: float, header_s: float = 5.0, max_connections: int = 64,
                 per_client: int = 32, trusted: tuple = ()) -> type[GuardedH11Protocol]:
    """The protocol class of one server: its limits, and its own table of open connections."""
    return type("DashboardProtocol", (GuardedH11Protocol,),
                {"idle_timeout_s": idle_s, "request_timeout_s": request_s, "write_timeout_s": write_s,
                 "header_timeout_s": min(header_s, request_s), "max_connections": max_connections,
                 "per_client": per_client, "trusted": tuple(trusted), "live": {},
                 "grace_s": min(GuardedH11Protocol.grace_s, header_s, request_s)})


def listening_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """Bound and listening before the server starts, so port 0 gives a known free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class ServerThread:
    """A uvicorn server running in a background thread (tests, benchmarks, ``collector serve``)."""

    def __init__(self, server, sock: socket.socket):
        self.server, self.sock = server, sock
        self.server_address = sock.getsockname()[:2]
        self.thread = threading.Thread(target=self._run, daemon=True, name="dashboard-http")

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        self.thread.join()

    def shutdown(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def server_close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
