"""A child mashing the real kiosk window: several real touches down at once, a few times a second, for
some seconds, wherever the current screen has something to press (and anywhere else). Run by
tests/ui/test_kiosk_mashing.py; writes what it did as JSON and saves thank-you screenshots.

usage: python tests/ui/kiosk_mash_driver.py CONFIG OUTBOX SHOTS_PREFIX RESULT_JSON SECONDS
"""
from __future__ import annotations

import random
import sys
import time

from window_script import UnitTestTouch, Window, play, save, shot as shoot, tap  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_path, seconds = sys.argv[1:6]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
rng = random.Random(20261126)
FINGERS = 3
result: dict = {"errors": [], "touches": 0, "screens": {}}


def shot(name: str) -> None:
    shoot(f"{shots}-{name}.png")


def centre(widget) -> tuple[float, float]:
    return widget.to_window(*widget.center)


def targets() -> list[tuple[float, float]]:
    """Where a hand lands: mostly on what the current screen lets one press, sometimes anywhere."""
    screen = app.sm.current
    if screen == "rating":
        buttons = list(app.sm.get_screen("rating").ids.faces.children)
    elif screen == "followup":
        page = app.sm.get_screen("followup")
        buttons = list(page.ids.reasons.children) + [page.ids.skip]
    else:
        buttons = []
    spots = []
    for _ in range(FINGERS):
        if buttons and rng.random() < 0.7:
            x, y = centre(rng.choice(buttons))
            spots.append((x + rng.uniform(-20, 20), y + rng.uniform(-20, 20)))
        else:  # anywhere but the technician corner
            spots.append((rng.uniform(200, Window.width - 10), rng.uniform(10, Window.height - 200)))
    return spots


def script():
    yield 0.6
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    tap(faces[-1])  # a calm citizen first
    yield lambda: app.sm.current == "thanks"
    yield 0.1
    shot("thanks-calm")
    yield lambda: app.sm.current == "rating"
    yield 0.5
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        down = [UnitTestTouch(x, y) for x, y in targets()]
        for touch in down:  # several fingers down at once...
            touch.touch_down()
            result["touches"] += 1
            result["screens"][app.sm.current] = result["screens"].get(app.sm.current, 0) + 1
        yield 0.03
        for touch in down:  # ...and up together
            touch.touch_up()
        if app.sm.current == "thanks" and "mashed_thanks_shot" not in result:
            yield 0.05
            shot("thanks-mashed")
            result["mashed_thanks_shot"] = True
        yield 0.05
    yield lambda: app.sm.current == "rating"


app.bind(on_start=lambda *_: play(app, script(), result, patience_s=20))
app.run()
save(result, result_path)
