"""Runs the kiosk's real start-up (``python -m kiosk run``'s own ``main``) in this process with scripted
real touches: sees what the app shows when it started on a last good config, opens the technician view,
saves screenshots and writes what it saw as JSON. Run by tests/ui/test_kiosk_config_problem.py.

usage: python tests/ui/kiosk_start_driver.py RESULT_JSON SHOTS_PREFIX KIOSK_ARGS...
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from window_script import Window, play, save, shot as shoot, tap, tap_at  # first: sizes the window

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402

import kiosk.__main__ as cli  # noqa: E402

result_path, shots = Path(sys.argv[1]), sys.argv[2]
kiosk_args = sys.argv[3:]
result: dict = {"errors": []}


def shot(name: str) -> None:
    shoot(f"{shots}-{name}.png")


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
    held = tap_at(5, Window.height - 5, hold=True)
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
    if app is None or not hasattr(app, "sm"):  # main() has not built the app yet
        Clock.schedule_once(runner, 0.05)
        return
    play(app, script(app), result, stop_at_end=False)  # the script asks the app to exit itself


Clock.schedule_once(runner, 0.1)
result["rc"] = cli.main(["run", *kiosk_args])
save(result, result_path)
