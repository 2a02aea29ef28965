"""Runs the kiosk's real start-up (``python -m kiosk run``'s own ``main``) in this process with scripted
real touches: sees what the app shows when it started on a last good config, opens the technician view,
saves screenshots and writes what it saw as JSON. Run by tests/ui/test_kiosk_config_problem.py.

usage: python tests/ui/kiosk_start_driver.py RESULT_JSON SHOTS_PREFIX KIOSK_ARGS...
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

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

import kiosk.__main__ as cli  # noqa: E402

result_path, shots = Path(sys.argv[1]), sys.argv[2]
kiosk_args = sys.argv[3:]
result: dict = {"errors": []}


def shot(name: str) -> None:
    final = Path(f"{shots}-{name}.png")
    made = Path(Window.screenshot(name=str(final)))
    if made != final:
        made.replace(final)


def tap(widget) -> None:
    x, y = widget.to_window(*widget.center)
    t = UnitTestTouch(x, y)
    t.touch_down()
    t.touch_up()


def script(app):
    yield 0.6  # past the settle time of the first screen
    result["notice"] = app.config_notice
    result["markers"] = [w.text for w in app.root.walk() if type(w).__name__ == "NoticeMarker"]
    result["screen"] = app.sm.current
    shot("rating")
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    tap(faces[-1])
    yield lambda: app.sm.current == "thanks"
    result["outbox_after_tap"] = app.outbox.depth()
    yield lambda: app.sm.current == "rating"
    held = UnitTestTouch(5, Window.height - 5)
    held.touch_down()
    yield app.cfg.technician.hold_s + 0.3
    held.touch_up()
    yield lambda: app.sm.current == "pin"
    keys = {b.text: b for b in app.sm.get_screen("pin").ids.keypad.children}
    for d in os.environ["KIOSK_TEST_PIN"]:
        tap(keys[d])
    tap(keys["OK"])
    yield lambda: app.sm.current == "technician"
    yield 0.2
    result["tech_info"] = app.tech_info
    shot("technician")
    app.flow.request_exit()


def runner(_dt):
    app = App.get_running_app()
    if app is None or not hasattr(app, "sm"):
        Clock.schedule_once(runner, 0.05)
        return
    steps = script(app)

    def advance(_dt):
        try:
            delay = next(steps)
        except StopIteration:
            return
        except Exception:
            result["errors"].append(traceback.format_exc())
            app.stop()
            return
        if callable(delay):
            deadline = time.monotonic() + 15

            def poll(_dt, cond=delay):
                if cond() or time.monotonic() > deadline:
                    advance(0)
                else:
                    Clock.schedule_once(poll, 0.02)

            Clock.schedule_once(poll, 0.02)
        else:
            Clock.schedule_once(advance, delay)

    Clock.schedule_once(advance, 0)


Clock.schedule_once(runner, 0.1)
result["rc"] = cli.main(["run", *kiosk_args])
result_path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
