"""Time and count limits on the dashboard's connections, so idle or slow clients cannot hold it.

A socket timeout alone ends only connections that go fully quiet: one byte every few seconds keeps
it alive forever. ``DeadlineReader`` also gives each request a total time to arrive in, and
``LimitedServer`` answers 503 instead of starting yet another thread once enough connections are open.
"""
from __future__ import annotations

import io
import socket
import threading
import time
from http.server import ThreadingHTTPServer


class DeadlineReader(io.RawIOBase):
    """Socket reads that fail with TimeoutError after ``idle_s`` of silence or past ``deadline``."""

    def __init__(self, sock: socket.socket, idle_s: float):
        self.sock, self.idle_s = sock, idle_s
        self.deadline = time.monotonic() + idle_s

    def start_request(self, total_s: float) -> None:
        """The next request (counting the wait for it) must have arrived within ``total_s``."""
        self.deadline = time.monotonic() + total_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self.sock.settimeout(min(self.idle_s, left))
        return self.sock.recv_into(buffer)


class LimitedServer(ThreadingHTTPServer):
    daemon_threads = True
    max_connections = 64
    request_queue_size = 128  # connections waiting to be accepted (socketserver's default is 5)
    busy_text = b"too many connections; try again later\n"
    busy_answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Content-Length: %d\r\nRetry-After: 5\r\nConnection: close\r\n\r\n%s" % (len(busy_text), busy_text))

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(self.busy_answer)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
