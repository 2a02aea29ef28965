"""Runs the real kiosk app on the kiosk.yaml `kiosk enrol` wrote, as `python -m kiosk` would: it finds the
province's config waiting at the broker, applies it, restarts once at a calm moment (this process execs
itself, one Kivy window per process), and then the technician view, opened by the hidden corner and the
PIN, shows the broker connected. Writes what it saw to RESULT-<phase>.json and screenshots to SHOTS.

usage: python tests/ui/enrolled_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_PREFIX [PHASE]
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kiosk.display import configure  # noqa: E402

configure((1280, 800))

from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

from config import file_hash, load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_prefix = sys.argv[1:5]
phase = int(sys.argv[5]) if len(sys.argv) > 5 else 1
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, config_hash=file_hash(cfg_path))
result: dict = {"phase": phase, "errors": [], "technician": cfg.technician is not None}


def shot(name):
    path = Path(Window.screenshot(name=str(shots / f"{name}.png")))
    if path != shots / f"{name}.png":
        path.replace(shots / f"{name}.png")


def tap(widget):
    t = UnitTestTouch(*widget.to_window(*widget.center))
    t.touch_down()
    t.touch_up()


def phase_one():
    """The enrolled kiosk.yaml: wait for the province's config to arrive and the calm restart."""
    yield lambda: app.uplink.state == "connected"
    result["connected_on_enrolled_config"] = True
    yield 30  # run() returns before this ends when the pushed config makes the app restart
    result["errors"].append("no pushed config arrived: the app did not restart")


def phase_two():
    yield lambda: app.uplink.state == "connected"
    yield 0.5
    shot("enrol-rating")
    held = UnitTestTouch(5, Window.height - 5)  # the hidden corner (top-left)
    held.touch_down()
    yield app.cfg.technician.hold_s + 0.3
    held.touch_up()
    yield lambda: app.sm.current == "pin" and not app.sm.transition.is_active
    keys = {b.text: b for b in app.sm.get_screen("pin").ids.keypad.children}
    for key in [*os.environ["HAILONG_TECH_PIN"], "OK"]:
        tap(keys[key])
        yield 0.05
    yield lambda: app.sm.current == "technician" and not app.sm.transition.is_active
    yield 1.2  # the view refreshes every second
    result["tech_info"] = app.tech_info
    shot("enrol-technician")
    result["pending"] = app.config_taker.state.get("pending")


def runner(script):
    steps = script()

    def advance(_dt):
        try:
            delay = next(steps)
        except StopIteration:
            app.stop()
            return
        except Exception:
            result["errors"].append(traceback.format_exc())
            app.stop()
            return
        if callable(delay):
            deadline = time.monotonic() + 20

            def poll(_dt, cond=delay):
                if cond():
                    advance(0)
                elif time.monotonic() > deadline:
                    result["errors"].append(f"timed out on screen {app.sm.current}")
                    app.stop()
                else:
                    Clock.schedule_once(poll, 0.05)

            Clock.schedule_once(poll, 0.05)
            return
        Clock.schedule_once(advance, delay)

    Clock.schedule_once(advance, 0)


app.bind(on_start=lambda *_: runner(phase_one if phase == 1 else phase_two))
app.run()
result["restarting"] = app.restarting
Path(f"{result_prefix}-{phase}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
if phase == 1 and app.restarting:  # as kiosk.__main__.restart does: the same process starts afresh
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:5], "2"])
