"""Starts the real kiosk app with the thank-you QR on, taps the least happy face with a real touch, and
saves the thank-you screen while it shows the QR. Run by tests/ui/test_followup_qr_kiosk.py.

usage: python tests/ui/followup_qr_driver.py CONFIG OUTBOX SHOT RESULT_JSON
"""
from __future__ import annotations

import sys
import time

from window_script import play, save, shot, shown, tap, texts  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shot_path, result_path = sys.argv[1:5]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"errors": []}


def script():
    yield 0.3
    result["segno_before_tap"] = "segno" in sys.modules
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    t0 = time.monotonic()
    tap(faces[0])
    yield shown(app, "thanks")
    result["tap_to_thanks_s"] = round(time.monotonic() - t0, 3)
    yield 0.2  # a few frames: the QR is drawn
    shot(shot_path)
    result["link"] = app.recorder.followup_link
    result["texts"] = texts(app.sm.current_screen)
    result["thanks_s"] = app.flow.thanks_s
    yield 1.5
    result["still_thanks_after_1_5_s"] = app.sm.current == "thanks"


play(app, script(), result)
app.run()
save(result, result_path)
