"""The config the fleet wants each kiosk to run, read from the retained signed configs.

The fleet tool publishes each kiosk's whole config retained on ``<prefix>/<site>/<device>/config``.
The collector's own connection subscribes to those too (plainly, never shared: every collector sees
every config; the broker replays the retained ones at each subscribe, so a restart refreshes the
whole table). Each one becomes a row of ``fleet_configs``: the hash of the pushed YAML, when it was
signed and by which key. The devices page and the API compare it with the hash the kiosk's status
reports. The signature is not checked here (only the fleet account may publish on these topics, and
each kiosk checks it before applying): the table records what was pushed.

The collector account's connection is the only one it may have (the broker binds client ids to
accounts), so the network thread hands each config here and acknowledges it at once; a flusher
thread writes what arrived, newest push per kiosk, in one transaction per second. A config lost to
a crash before that write is replayed from the broker's retained copy at the next connect.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, NamedTuple

from broker.contract import ContractError, ConfigPush, decode, format_ts, parse_topic
from broker.fleet_view import short_hash

log = logging.getLogger("collector.fleet")
FLUSH_EVERY_S = 1.0
COLUMNS = "site, device, config_hash, pushed_ts, key_id, seen_ms"
_UPSERT = (f"INSERT INTO fleet_configs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, device) DO UPDATE "
           "SET config_hash = excluded.config_hash, pushed_ts = excluded.pushed_ts, key_id = excluded.key_id, "
           "seen_ms = excluded.seen_ms WHERE excluded.pushed_ts >= fleet_configs.pushed_ts")


class Desired(NamedTuple):
    site: str
    device: str
    config_hash: str  # 12 hex digits, as the kiosk's status reports its running config
    pushed_ts: str  # when the fleet tool signed it (RFC 3339 UTC): the newest push wins
    key_id: str
    seen_ms: int


class Cleared(NamedTuple):
    """An empty retained message: the device was removed, or its config withdrawn."""

    site: str
    device: str


def desired_of(topic: str, payload: bytes, prefix: str, seen_ms: int) -> Desired | Cleared | None:
    """What one message on a config topic says; None for anything that is not a config push."""
    try:
        if not payload:
            t = parse_topic(topic, prefix)
            return Cleared(t.site, t.device) if t.kind == "config" else None
        push = decode(topic, payload, prefix)
    except ContractError as exc:
        log.warning("ignored a message on %s: %s", topic[:200], exc)
        return None
    if not isinstance(push, ConfigPush):
        return None
    return Desired(push.site, push.device, short_hash(push.sha256), format_ts(push.ts), push.key_id, seen_ms)


def save(db, items: list[Desired | Cleared]) -> None:
    """One transaction; ``items`` in arrival order (a clear after a push removes it, and the reverse)."""
    with db.transaction():
        for item in items:
            if isinstance(item, Cleared):
                db.execute("DELETE FROM fleet_configs WHERE site = ? AND device = ?", item)
            else:
                db.execute(_UPSERT, item)


class FleetWatch:
    """Takes config messages from the network thread; a thread of its own stores them."""

    def __init__(self, prefix: str, open_db: Callable[[], object]):
        self.prefix = prefix
        self.open_db = open_db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], Desired | Cleared] = {}
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self.stored = 0

    def offer(self, topic: bytes | str, payload: bytes) -> None:
        """Network thread: keep the latest message per kiosk until the next flush."""
        if isinstance(topic, bytes):
            topic = topic.decode("utf-8", "replace")
        item = desired_of(topic, bytes(payload), self.prefix, int(time.time() * 1000))
        if item is not None:
            with self._lock:
                self._pending[(item.site, item.device)] = item

    def start(self) -> "FleetWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._quit.set()
        self._thread.join(10)

    def _run(self) -> None:
        db = None
        while True:
            stopping = self._quit.wait(FLUSH_EVERY_S)
            with self._lock:
                items, self._pending = list(self._pending.values()), {}
            if items:
                try:
                    db = db or self.open_db()
                    save(db, items)
                    self.stored += len(items)
                except Exception as exc:  # the database is down: keep them for the next try
                    log.warning("desired configs not stored yet (%s); retrying", " ".join(str(exc).split())[:300])
                    with self._lock:
                        for item in items:
                            self._pending.setdefault((item.site, item.device), item)
                    if db is not None:
                        try:
                            db.close()
                        except Exception:
                            pass
                        db = None
            if stopping:
                break
        if db is not None:
            db.close()
