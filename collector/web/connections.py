"""Time and count limits on the dashboard's connections, on top of uvicorn's HTTP/1.1 (h11) protocol.

uvicorn closes a connection that stays idle after an answer, and answers 503 past ``limit_concurrency``,
but it waits for request headers for ever: one byte every few seconds would hold a connection open.
``GuardedH11Protocol`` gives the headers of each request ``request_timeout_s`` to arrive in total and
closes a connection silent for ``idle_timeout_s`` while waiting for them; the body has the same budget,
enforced by the application so it can answer 408. An answer the client does not read within
``write_timeout_s`` (a download it stalls) closes the connection too.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time

from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    idle_timeout_s = 15.0
    request_timeout_s = 30.0
    write_timeout_s = 120.0

    def connection_made(self, transport) -> None:
        self._deadline_task = self._idle_task = self._write_task = None
        self._cycle_seen = None
        super().connection_made(transport)
        self._await_request()

    # ------------------------------------------------------------- waiting for a request's headers
    def _await_request(self) -> None:
        self._cancel("_deadline_task")
        self._deadline_task = self.loop.call_later(self.request_timeout_s, self._give_up)
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
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._cycle_seen and not self.cycle.response_complete:
            # the headers are in: the application now has the request (and enforces the body's time)
            self._cycle_seen = self.cycle
            self._cancel("_deadline_task")
            self._cancel("_idle_task")
        elif self._deadline_task is not None:
            self._arm_idle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()

    def connection_lost(self, exc) -> None:
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


def protocol_for(idle_s: float, request_s: float, write_s: float) -> type[GuardedH11Protocol]:
    return type("DashboardProtocol", (GuardedH11Protocol,),
                {"idle_timeout_s": idle_s, "request_timeout_s": request_s, "write_timeout_s": write_s})


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
