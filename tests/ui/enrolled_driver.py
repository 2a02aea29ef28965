"""Runs the real kiosk app on the kiosk.yaml `kiosk enrol` wrote, as `python -m kiosk` would: it finds the
province's config waiting at the broker, applies it, restarts once at a calm moment (this process execs
itself, one Kivy window per process), and then the technician view, opened by the hidden corner and the
PIN, shows the broker connected. Writes what it saw to RESULT-<phase>.json and screenshots to SHOTS.

usage: python tests/ui/enrolled_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_PREFIX [PHASE]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from window_script import play, save, shot as shoot, shown, tap, tap_at  # first: sizes the window

from kivy.core.window import Window  # noqa: E402

from config import file_hash, load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_prefix = sys.argv[1:5]
phase = int(sys.argv[5]) if len(sys.argv) > 5 else 1
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, config_hash=file_hash(cfg_path))
result: dict = {"phase": phase, "errors": [], "technician": cfg.technician is not None}


def shot(name):
    shoot(shots / f"{name}.png")


def phase_one():
    """The enrolled kiosk.yaml: wait for the province's config to arrive and the calm restart."""
    yield lambda: app.uplink.state == "connected"
    result["connected_on_enrolled_config"] = app.uplink.state == "connected"
    yield 30  # run() returns before this ends when the pushed config makes the app restart
    result["errors"].append("no pushed config arrived: the app did not restart")


def phase_two():
    yield lambda: app.uplink.state == "connected"
    yield 0.5
    shot("enrol-rating")
    for attempt in range(3):  # as a technician would, hold again when a busy machine lost the touch
        held = tap_at(5, Window.height - 5, hold=True)  # the hidden corner (top-left)
        yield app.cfg.technician.hold_s + 0.3
        held.touch_up()
        yield shown(app, "pin")
        if app.sm.current == "pin":
            break
        result.setdefault("missed_holds", []).append(
            {"state": str(app.flow.state), "screen": app.sm.current, "window": list(Window.size),
             "root": list(app.root.size), "officer_entry": app.entry.active})
    keys = {b.text: b for b in app.sm.get_screen("pin").ids.keypad.children}
    for key in [*os.environ["HAILONG_TECH_PIN"], "OK"]:
        tap(keys[key])
        yield 0.05
    yield shown(app, "technician")
    yield 1.2  # the view refreshes every second
    result["tech_info"] = app.tech_info
    shot("enrol-technician")
    result["pending"] = app.config_taker.pending


app.bind(on_start=lambda *_: play(app, phase_one() if phase == 1 else phase_two(), result, patience_s=20))
app.run()
result["restarting"] = app.restarting
save(result, f"{result_prefix}-{phase}.json")
if phase == 1 and app.restarting:  # as kiosk.__main__.restart does: the same process starts afresh
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:5], "2"])
