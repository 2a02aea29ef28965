"""python -m collector run: subscribe, batch, commit, then acknowledge; log what happens.

Three threads: paho's network thread only queues messages; the main thread cuts them into batches
and validates each one; a committer thread owns the database, writes each batch and then
acknowledges it. Validating the next batch while the database writes and syncs the previous one
(both drivers release the GIL there) is what keeps ingest ahead of a busy broker. A message is
acknowledged only after the batch holding it is committed, and batches commit in arrival order,
so a crash at any moment loses nothing: the broker redelivers, the id deduplicates.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from collector.cli_setup import secret
from collector.storage.db import DatabaseError, connect
from collector.fleet.fleet_watch import FleetWatch
from collector.ingest.ingest import Batch, Message, RejectRow, classify
from collector.ingest.mqtt_source import MqttSource, default_client_id
from collector.storage.placement import Anchors
from collector.ingest.receipts import ReceiptBuffer
from collector.ingest.rejects import RejectPolicy
from collector.ingest.store import Store
from config import ConfigError, load

log = logging.getLogger("collector")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("examples:\n"
                "  python -m collector run --config collector.yaml\n"
                "  python -m collector run --config collector.yaml --mqtt-url mqtt://127.0.0.1:1883 "
                "--db postgresql://hailong@db:5432/hailong\n\n"
                "Stop with SIGTERM or Ctrl-C: the current batch is committed and acknowledged first.")
    p.add_argument("--config", required=True, metavar="FILE", help="collector.yaml")
    p.add_argument("--mqtt-url", metavar="URL", help="broker as mqtt://HOST:PORT (overrides broker.host/port)")
    p.add_argument("--db", metavar="URL", help="sqlite:///PATH or postgresql://... (overrides database.url)")
    p.add_argument("--client-id", metavar="ID", help="MQTT client id (overrides broker.client_id); keep it stable")
    p.add_argument("--share-group", metavar="NAME",
                   help="shared-subscription group (overrides subscription.share_group; '' for none)")
    p.add_argument("--stats-file", metavar="PATH", help="write running totals as JSON here (each log interval, at exit)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


class Stats:
    """Running totals: added to by the committer thread, read by the logging thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = self.stored = self.duplicates = self.rejected = self.ignored = self.batches = 0
        self.latencies_ms: list[float] = []  # this interval's batch commit times
        self.queue_max = 0  # most messages held (queued + in the batch being built) this interval
        self.last_received = 0
        self.last_tick = time.monotonic()

    def add(self, batch, result, latency_ms: float) -> None:
        with self.lock:
            self.received += batch.size
            self.stored += result.inserted
            self.duplicates += batch.duplicates + result.duplicates
            self.rejected += result.rejects
            self.ignored += batch.ignored
            self.batches += 1
            self.latencies_ms.append(latency_ms)

    def totals(self) -> dict:
        with self.lock:
            return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                    "rejected": self.rejected, "ignored": self.ignored, "batches": self.batches,
                    "pid": os.getpid()}

    def line(self, queue_depth: int) -> str:
        with self.lock:
            now = time.monotonic()
            rate = (self.received - self.last_received) / max(now - self.last_tick, 1e-6)
            lat = sorted(self.latencies_ms)
            p50, mx = (lat[len(lat) // 2], lat[-1]) if lat else (0.0, 0.0)
            self.latencies_ms.clear()
            qmax, self.queue_max = max(self.queue_max, queue_depth), 0
            self.last_received, self.last_tick = self.received, now
            return (f"received={self.received} stored={self.stored} duplicates={self.duplicates} "
                    f"rejected={self.rejected} ignored={self.ignored} rate={rate:.0f}/s "
                    f"batch_ms_p50={p50:.1f} batch_ms_max={mx:.1f} queue={queue_depth} queue_max={qmax}")


def _write_stats(path: str | None, stats: Stats) -> None:
    if not path:
        return
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(stats.totals()), encoding="utf-8")
    os.replace(tmp, path)


def _apply_overrides(cfg, args):
    broker = {}
    if args.mqtt_url:
        u = urlsplit(args.mqtt_url)
        if u.scheme != "mqtt" or not u.hostname:
            raise ValueError(f"--mqtt-url {args.mqtt_url!r}: use mqtt://HOST:PORT (TLS is set in the config file)")
        broker.update(host=u.hostname, port=u.port or 1883)
    if args.client_id:
        broker["client_id"] = args.client_id
    if broker:
        cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update=broker)})
    if args.share_group is not None:
        sub = cfg.subscription.model_copy(update={"share_group": args.share_group or None})
        cfg = cfg.model_copy(update={"subscription": sub})
    if args.db:
        cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"url": args.db})})
    return cfg


class Writer:
    """Drains the queue into bounded batches, validates them, and hands them to the committer thread,
    which commits each one before acknowledging it. At most one validated batch waits for the
    committer, so memory stays bounded by the queue plus two batches."""

    def __init__(self, cfg, store_factory, source: MqttSource, q: queue.Queue, stats: Stats, stop: threading.Event,
                 stats_file: str | None):
        self.cfg, self.source, self.q, self.stats, self.stop = cfg, source, q, stats, stop
        self.store_factory = store_factory
        # Where each kiosk boot's monotonic clock sits on real time: learned by the batcher from live
        # statuses, shared with the committer, and reloaded from the database at start.
        self.anchors = Anchors()
        self.store = self._open_store()
        try:
            self.anchors.update(self.store.load_anchors())
        except Exception as exc:  # an older schema in a test double, a read error: learn them again live
            log.warning("could not load known kiosk boots: %s", exc)
        self.stats_file = stats_file
        self.max_size = cfg.batch.max_size
        self.max_wait = cfg.batch.max_wait_ms / 1000
        self.prefix = cfg.broker.topic_prefix
        self.receipts = ReceiptBuffer(self.prefix) if cfg.receipts else None
        self._ready: queue.Queue = queue.Queue(maxsize=1)  # validated batches for the committer; None ends it
        self._committed_all = True  # False once the committer gave up on a batch (stopped while the db failed)
        self._committer = threading.Thread(target=self._commit_loop, name="committer", daemon=True)

    def _open_store(self):
        store = self.store_factory()
        store.anchors = self.anchors
        return store

    # ------------------------------------------------------------ committer thread
    def _commit_loop(self) -> None:
        try:
            while True:
                try:
                    item = self._ready.get(timeout=0.1)
                except queue.Empty:  # quiet: receipts gathered from the last batches go now
                    self._send_receipts(force=True)
                    continue
                if item is None:
                    break
                if not self.commit(*item):
                    self._committed_all = False
                    return
            self._send_receipts(force=True)
        except BaseException:
            self._committed_all = False
            log.exception("the committer failed; stopping (un-acknowledged messages will be redelivered)")
            self.stop.set()

    def commit(self, pending: list[Message], batch: Batch | None = None) -> bool:
        """Write and ack one batch, retrying the database until it works; False if told to stop first."""
        if batch is None:
            batch = classify(pending, self.prefix, self.anchors)
        delay, failures = 0.5, 0
        while True:
            t0 = time.perf_counter()
            try:
                result = self.store.write(batch)
                break
            except Exception as exc:  # the database is down or busy: keep the batch, do not ack, retry
                failures += 1
                if failures >= 3 and self._one_by_one(pending):
                    return True
                log.error("cannot store a batch of %d messages: %s; retrying in %.0f s (nothing is acknowledged)",
                          batch.size, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                          delay)
                if self.stop.wait(delay):
                    return False
                delay = min(delay * 2, 30)
                try:
                    self.store.db.close()
                    self.store = self._open_store()
                except Exception as exc2:
                    log.error("database still unreachable: %s", str(exc2).strip().splitlines()[0])
        self.source.ack(batch.acks)
        self._receipt(batch)
        self.stats.add(batch, result, (time.perf_counter() - t0) * 1000)
        return True

    def _receipt(self, batch: Batch) -> None:
        """Committed: each kiosk will hear which of its messages the database holds (it forgets them only
        then), gathered over batches for at most half a second."""
        if self.receipts is not None and (batch.rows or batch.events):
            self.receipts.add([*batch.rows, *batch.events], time.monotonic())
            self._send_receipts()

    def _send_receipts(self, force: bool = False) -> None:
        buf = self.receipts
        if buf is not None and (buf.due(time.monotonic()) or (force and buf.pending)):
            self.source.send_receipts(buf.take())

    def _one_by_one(self, pending: list[Message]) -> bool:
        """A batch that keeps failing may hold one message the database refuses (a case validation
        missed): store the messages one by one, and a refused one as a reject. False if even a reject
        cannot be written: then the database itself is the problem and the whole batch is retried."""
        for m in pending:
            one = classify([m], self.prefix, self.anchors)
            try:
                result = self.store.write(one)
            except Exception as exc:
                log.error("message on %r refused by the database (%s); storing it as a reject", m.topic,
                          str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                one = Batch(rejects=[RejectRow(time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(m.received)),
                                               repr(m.topic)[:1024], "store_error", bytes(m.payload[:4096]))],
                            acks=one.acks)
                try:
                    result = self.store.write(one)
                except Exception:
                    return False
            self.source.ack(one.acks)
            self._receipt(one)
            self.stats.add(one, result, 0.0)
        return True

    # ------------------------------------------------------------ batching thread
    def _hand_over(self, item) -> bool:
        """Queue an item for the committer, waiting while it is busy; False if it has ended."""
        while self._committer.is_alive():
            try:
                self._ready.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    def _submit(self, chunk: list[Message]) -> bool:
        """Validate a batch here and queue it for the committer; False if the committer has ended."""
        return self._hand_over((chunk, classify(chunk, self.prefix, self.anchors)))

    def _finish(self) -> bool:
        """Let the committer write what it was given, then end it."""
        self._hand_over(None)
        self._committer.join()
        return self._committed_all

    def run(self) -> bool:
        """Until stopped; False when stopped while the database was failing (those messages are not acked)."""
        self._committer.start()
        ok = False
        try:
            ok = self._run()
        finally:
            if not ok:  # stopping on an error: the committer must not retry a failing database forever
                self.stop.set()
            ok = self._finish() and ok
        return ok

    def _run(self) -> bool:
        pending: list[Message] = []
        deadline = 0.0
        next_log = time.monotonic() + self.cfg.log_interval_s
        while True:
            now = time.monotonic()
            wait = min(deadline - now if pending else 0.25, next_log - now)
            try:
                m = self.q.get(timeout=max(wait, 0.001))
                if not pending:
                    deadline = time.monotonic() + self.max_wait
                pending.append(m)
                while len(pending) < self.max_size:  # take what is already there without waiting
                    pending.append(self.q.get_nowait())
            except queue.Empty:
                pass
            stopping = self.stop.is_set()
            if stopping:  # commit what was already received (bounded: the network thread keeps adding), then leave
                for _ in range(self.q.maxsize or 100_000):
                    try:
                        pending.append(self.q.get_nowait())
                    except queue.Empty:
                        break
            now = time.monotonic()
            self.stats.queue_max = max(self.stats.queue_max, len(pending) + self.q.qsize())
            while pending and (len(pending) >= self.max_size or now >= deadline or stopping):
                chunk, pending = pending[:self.max_size], pending[self.max_size:]
                if not self._submit(chunk):
                    return False
                deadline = now + self.max_wait
            if now >= next_log or stopping:
                log.info("%s", self.stats.line(self.q.qsize()))
                _write_stats(self.stats_file, self.stats)
                next_log = now + self.cfg.log_interval_s
            if stopping:
                return True


def main(args: argparse.Namespace) -> int:
    # The committer releases the GIL in every database call and must get it back while the network and
    # batching threads run Python: with the default 5 ms switch interval each statement of a batch could
    # wait that long for it. Measured on a busy 2-core machine, 0.5 ms stored more per second.
    sys.setswitchinterval(0.0005)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = _apply_overrides(load(args.config, kind="collector"), args)
        password = secret(cfg.database.password, "database.password")
        secret(cfg.broker.password, "broker.password")  # read again when connecting: said here, in one line
    except (ConfigError, ValueError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2

    def open_store() -> Store:
        return Store(connect(cfg.database.url, password), timezone=cfg.timezone,
                     rejects=RejectPolicy.from_config(cfg.rejects))

    client_id = cfg.broker.client_id or default_client_id()
    # Two batches' worth: one being committed while the next fills; also the memory bound.
    q: queue.Queue = queue.Queue(maxsize=2 * cfg.batch.max_size)
    watch = FleetWatch(cfg.broker.topic_prefix, lambda: connect(cfg.database.url, password))
    source = MqttSource(cfg.broker, q, client_id, cfg.subscription.share_group, cfg.subscription.session_expiry_s,
                        receive_maximum=2 * cfg.batch.max_size, config_sink=watch.offer)
    stop = threading.Event()
    stats = Stats()

    def on_signal(signum, frame):
        log.info("%s received: committing the current batch, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        writer = Writer(cfg, open_store, source, q, stats, stop, args.stats_file)
    except DatabaseError as exc:
        print(f"collector: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    log.info("storing into %s; batches of up to %d messages or %d ms", writer.store.db.dialect,
             cfg.batch.max_size, cfg.batch.max_wait_ms)
    watch.start()
    source.start()
    ok = False
    try:
        ok = writer.run()
    finally:
        source.stop()
        watch.stop()
        writer.store.db.close()
        _write_stats(args.stats_file, stats)
    if not ok:
        log.error("stopped with a batch not stored (database unreachable); the broker will redeliver it")
        return 1
    log.info("stopped: %s", stats.line(q.qsize()))
    return 0
