"""A kiosk without a window: the same flow, outbox and uplink, tapping random faces.

Used by the demo and the end-to-end fault tests. With ``--journal`` every id created is kept in the
outbox file, and a restarted simulator continues counting from there, so ``--count`` is the total
over all runs sharing that outbox (a kiosk killed with -9 and restarted taps the rest, no more).
"""
from __future__ import annotations

import logging
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


def simulate(cfg: KioskConfig, count: int, rate: float, outbox_path: Path, host: Optional[str] = None,
             port: Optional[int] = None, journal: bool = False, wait: bool = True, seed: Optional[int] = None,
             config_hash: Optional[str] = None) -> int:
    rng = random.Random(seed)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    outbox = Outbox(outbox_path, journal=journal)
    clock = KioskClock()
    recorder = Recorder(cfg, outbox, clock)
    uplink = Uplink(cfg, outbox, config_hash=config_hash, host=host, port=port, wire_v2=True, clock=clock).start()
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
                if tapped >= count and (not wait or depth == 0):
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
