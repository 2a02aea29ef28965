"""A TCP proxy on loopback that the tests can cut and restore, to play a network outage.

``cut()`` closes every open connection and refuses new ones (connections are accepted and closed at
once, as a dead uplink looks to a kiosk); ``restore()`` lets traffic through again. ``delay_s`` holds
every chunk that long in each direction (a slow mobile or satellite link: the latency, not the
bandwidth), and ``cut_every(period)`` cuts all connections that often, a link where each connection
lasts only a few seconds; bytes still on their way at a cut are lost, as on a real link.
"""
from __future__ import annotations

import queue
import socket
import threading
import time

from tests.servers import free_port


class CuttableProxy:
    def __init__(self, target_port: int, listen_port: int | None = None, target_host: str = "127.0.0.1",
                 delay_s: float = 0.0):
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self.connections = 0
        self.port = listen_port or free_port()
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(256)
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept_loop, daemon=True, name="proxy-accept").start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # broker down: the client sees a refused/closed connection
                continue
            with self._lock:
                self._conns.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        late: queue.Queue | None = None
        if self.delay_s > 0:
            late = queue.Queue()
            threading.Thread(target=self._deliver_late, args=(late, src, dst), daemon=True).start()
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if late is None:
                    dst.sendall(data)
                else:
                    late.put((time.monotonic() + self.delay_s, data))
        except OSError:
            pass
        finally:
            if late is not None:
                late.put((time.monotonic() + self.delay_s, None))  # close once the rest is delivered
            else:
                for s in (src, dst):
                    self._drop(s)

    def _deliver_late(self, late: queue.Queue, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                due, data = late.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if data is None:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        self._up.clear()
        self.cuts += 1
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            self._drop(s)

    def restore(self) -> None:
        self._up.set()

    def cut_every(self, period_s: float) -> None:
        """Cut every connection each ``period_s`` seconds (and let new ones in at once), until close()."""
        def loop():
            while not self._closed:
                time.sleep(period_s)
                if not self._closed:
                    self.cut()
                    self.restore()
        threading.Thread(target=loop, daemon=True, name="proxy-cutter").start()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()
