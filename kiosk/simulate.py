"""A kiosk without a window: the same flow, outbox and uplink, tapping random faces.

Used by the demo and the end-to-end fault tests. With ``--journal`` every id created is kept in the
outbox file, and a restarted simulator continues counting from there, so ``--count`` is the total
over all runs sharing that outbox (a kiosk killed with -9 and restarted taps the rest, no more).
"""
from __future__ import annotations

import logging
import queue
import random
import signal
import threading
import time
from pathlib import Path
from typing import Optional

from config.kiosk import KioskConfig

from .clock import KioskClock
from .flow import Flow, State
from .outbox import Outbox
from .recorder import Recorder
from .uplink import Uplink

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0


class PushedConfigs:
    """Configs pushed by the fleet, for a kiosk without a window: checked and applied like the app does
    (kiosk.config_apply), but taken at once instead of after a restart."""

    def __init__(self, cfg: KioskConfig, config_path: Optional[Path], recorder: Recorder):
        self.taker = None
        self.recorder = recorder
        self.uplink = None
        self._inbox: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        if cfg.fleet is not None and config_path is not None:
            from broker.fleet import FleetKeyError, load_public

            from .config_apply import ConfigTaker

            try:
                key = load_public(cfg.fleet.public_key)
            except FleetKeyError as exc:
                print(f"simulate: pushed configs are refused: {exc}", flush=True)
            else:
                self.taker = ConfigTaker(Path(config_path), cfg.site, cfg.device, [key], cfg.broker.topic_prefix,
                                         rollback_after_s=cfg.fleet.rollback_after_s)

    def status_extra(self) -> dict:
        error = self.taker.config_error if self.taker is not None else None
        return {"config_error": " ".join(error.split())[:500] if error else None,
                "pushes": "on" if self.taker is not None else "off"}

    def inbound(self, kind: str, topic: str, payload: bytes) -> None:  # the uplink's thread
        if kind == "config" and self.taker is not None:
            self._inbox.put((topic, payload))

    def follow(self, now: float) -> Optional[KioskConfig]:
        """Take what arrived, confirm or roll back; the config to run now when it changed."""
        if self.taker is None:
            return None
        offered = []
        while True:
            try:
                topic, payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            offered.append(self.taker.offer(topic, payload, now))
        new_cfg = self._handle(offered)
        if self.uplink is not None and self.uplink.connected:  # confirms only a connection made with it
            self.taker.connected(self.uplink.connections)
        return self._handle([self.taker.tick(now)]) or new_cfg

    def _handle(self, outcomes: list) -> Optional[KioskConfig]:
        new_cfg = None
        for out in outcomes:
            if out is None or out.event is None:
                continue
            print(f"simulate: {out.event} {out.config_hash or ''} {out.detail}".rstrip(), flush=True)
            self.recorder.event(out.event, config_hash=out.config_hash, detail=" ".join(out.detail.split())[:500] or None)
            if out.config is not None:
                new_cfg = out.config
            if self.uplink is not None:
                self.uplink.status_now()
        if new_cfg is not None and self.uplink is not None:
            from config import file_hash

            connections = self.uplink.connections  # read before a new connection can be counted
            self.taker.running(connections, self.uplink.retarget(new_cfg, file_hash(self.taker.path)))
        return new_cfg


def simulate(cfg: KioskConfig, count: int, rate: float, outbox_path: Path, host: Optional[str] = None,
             port: Optional[int] = None, journal: bool = False, wait: bool = True, seed: Optional[int] = None,
             config_hash: Optional[str] = None, config_path: Optional[Path] = None,
             stay: bool = False) -> int:
    rng = random.Random(seed)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    outbox = Outbox(outbox_path, journal=journal)
    clock = KioskClock()
    recorder = Recorder(cfg, outbox, clock)
    configs = PushedConfigs(cfg, config_path, recorder)
    uplink = Uplink(cfg, outbox, config_hash=config_hash, host=host, port=port, wire_v2=True, clock=clock,
                    inbound=configs.inbound, status_extra=configs.status_extra).start()
    configs.uplink = uplink
    flow = Flow(cfg, recorder.rating)
    tapped = outbox.journal_count() if journal else 0
    if tapped:
        print(f"simulate: resuming, {tapped} of {count} already tapped into {outbox_path}", flush=True)
    latencies: list[float] = []  # ms from tap to committed rating (with the reason, if one was chosen)
    vnow = 0.0  # the flow's clock: each visit is spaced so the thank-you timeout has passed
    start = time.monotonic()
    next_tap = start
    next_print = start
    try:
        while not stop.is_set():
            now = time.monotonic()
            new_cfg = configs.follow(now)
            if new_cfg is not None:  # a pushed config is applied: the next visits use its faces and reasons
                cfg = new_cfg
                flow = Flow(cfg, recorder.rating)
            if tapped < count and now >= next_tap:
                vnow += cfg.timeouts.thank_you_s + cfg.repeat_window_s + cfg.settle_s + 2
                t_tap = time.perf_counter()
                flow.tap_face(rng.randint(1, cfg.faces.scale), vnow)  # commits to the outbox
                if flow.state is State.FOLLOWUP:
                    options = [r.key for r in flow.reasons] + [None]
                    flow.choose_reason(rng.choice(options), vnow + 1)
                latencies.append((time.perf_counter() - t_tap) * 1000)
                flow.tick(vnow + 1 + cfg.timeouts.thank_you_s)
                tapped += 1
                next_tap = max(next_tap + 1.0 / rate, now - 1.0) if rate > 0 else now
                continue
            if now >= next_print or (tapped >= count and (not wait or outbox.depth() == 0)):
                depth = outbox.depth()
                print(f"simulate: tapped {tapped}/{count}, outbox {depth}, broker {uplink.state}, "
                      f"sent {uplink.sent_total}", flush=True)
                next_print = now + PROGRESS_EVERY_S
                if tapped >= count and (not wait or depth == 0) and not stay:
                    break
            stop.wait(min(0.05, max(0.0, next_tap - now)) if tapped < count else 0.1)
    finally:
        uplink.stop()
        outbox.close()
    if latencies:
        ordered = sorted(latencies)
        pct = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
        print(f"simulate: tap latency p50={pct(0.5):.1f} ms p95={pct(0.95):.1f} ms max={ordered[-1]:.1f} ms "
              f"over {len(ordered)} taps", flush=True)
    if stop.is_set():
        print(f"simulate: stopped at {tapped}/{count}", flush=True)
    else:
        print(f"simulate: done, {tapped} tapped in {time.monotonic() - start:.1f} s", flush=True)
    return 0
