"""An embedded MQTT broker (amqtt) for trying the system out on a machine without Mosquitto.

Not for production: amqtt 0.12 speaks MQTT 3.1.1 only (kiosk and collector need
`protocol: 3.1.1`), has no shared subscriptions, keeps sessions only for clients that send a
username, keeps nothing across a restart, and drops QoS 1 messages not acked within 5 s.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading

from .errors import SetupError

BANNER = """\
================================================================================
 EMBEDDED TEST BROKER on {host}:{port} (MQTT 3.1.1 only, anonymous allowed)
 For trying things out only: no TLS, no passwords, no shared subscriptions,
 nothing kept across a restart. Set `protocol: 3.1.1` and a `username` in
 kiosk.yaml / collector.yaml. In production use Mosquitto: python -m broker init.
 Stop with Ctrl-C.
================================================================================"""


def _config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}},
        "plugins": {f"{__name__}.OpenAuthPlugin": {}},
    }


def _import_broker():
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise SetupError("the embedded broker needs amqtt: run `pip install 'hailong-feedback[embedded]'` "
                         "(or install Mosquitto: `sudo apt-get install mosquitto`)") from None
    return Broker


try:
    from amqtt.plugins.base import BaseAuthPlugin
except ImportError:  # reported by _import_broker when the broker is asked for
    BaseAuthPlugin = object  # type: ignore[assignment,misc]


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc,valid-type]
    """Let everyone in; a client with a username keeps its session.

    amqtt's AnonymousAuthPlugin marks every session anonymous when anonymous logins are
    allowed, and anonymous sessions are dropped on disconnect: a collector would lose what
    was published while it was away.
    """

    async def authenticate(self, *, session) -> bool:
        session.is_anonymous = not session.username
        return True


async def _serve(host: str, port: int, stop: asyncio.Event, started: threading.Event | None = None) -> None:
    Broker = _import_broker()
    broker = Broker(_config(host, port))
    from amqtt.errors import BrokerError
    try:
        await broker.start()
    except (OSError, BrokerError) as exc:
        reason = "address already in use" if "already in use" in str(exc) else str(exc)[:120]
        raise SetupError(f"cannot listen on {host}:{port}: {reason}; pick another --port") from None
    if started is not None:
        started.set()
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def _quiet() -> None:
    # amqtt logs every connection at INFO and tracebacks for ordinary client disconnects.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def serve_forever(host: str = "127.0.0.1", port: int = 1883) -> None:
    """Foreground broker for `python -m broker embedded`; returns after Ctrl-C or SIGTERM."""
    _import_broker()
    _quiet()
    print(BANNER.format(host=host, port=port), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _serve(host, port, stop)

    asyncio.run(main())
    print("embedded broker stopped", flush=True)


class EmbeddedBroker:
    """A running embedded broker in a background thread; ``stop()`` shuts it down."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="embedded-broker", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await _serve(self.host, self.port, self._stop, self._started)

        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        _import_broker()
        _quiet()
        self._thread.start()
        if not self._started.wait(timeout):
            raise SetupError(f"the embedded broker did not start on {self.host}:{self.port} within {timeout:.0f}s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> "EmbeddedBroker":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_embedded(port: int = 1883, host: str = "127.0.0.1") -> EmbeddedBroker:
    """Start the embedded broker in a thread for the demo; call ``.stop()`` when done."""
    return EmbeddedBroker(host, port).start()
