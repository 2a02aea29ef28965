"""Starts the real kiosk app in a window with its outbox on a small disk, fills the disk, taps with
real touch events, saves screenshots and writes what it saw as JSON. Run by tests/ui/test_kiosk_faults_ui.py.

usage: python tests/ui/kiosk_faults_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_JSON [diskfull|salvaged]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from window_script import Window, play, save, shot as shoot, shown, tap, tap_at, texts  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_path = sys.argv[1:5]
mode = sys.argv[5] if len(sys.argv) > 5 else "diskfull"
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"steps": [], "errors": [], "tapped": []}
filler = Path(outbox_path).parent / "filler"


def shot(name: str):
    shoot(shots / f"{name}.png")


def seen(label: str):
    result["steps"].append({"step": label, "screen": app.sm.current, "texts": texts(app.sm.current_screen),
                            "fault": app.outbox.fault, "held": len(app.outbox.memory)})


def on(*screens: str):
    return shown(app, *screens)


def tap_face():
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    before = app.flow.last_rating
    tap(faces[-1])
    if app.flow.last_rating is not before:
        result["tapped"].append(app.flow.last_rating.id)


def fill_disk():
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 512):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


def open_technician():
    held = tap_at(5, Window.height - 5, hold=True)
    yield cfg.technician.hold_s + 0.3
    held.touch_up()
    yield on("pin")
    keys = {b.text: b for b in app.sm.get_screen("pin").ids.keypad.children}
    for d in os.environ["KIOSK_TEST_PIN"]:
        tap(keys[d])
    yield 0.05
    tap(keys["OK"])
    yield on("technician")
    yield 0.2


def script_salvaged():
    """Started on a damaged outbox: the faces show, and the technician reads what was salvaged."""
    yield 0.3
    seen("start")
    yield from open_technician()
    seen("technician")
    result["tech_info"] = app.tech_info
    shot("kiosk-technician-salvaged")
    app.on_leave_technician()
    yield on("rating")
    tap_face()
    yield on("thanks")
    seen("thanks")
    result["outbox_ids"] = app.outbox.ids()


def script():
    if mode == "salvaged":
        yield from script_salvaged()
        return
    yield 0.3
    tap_face()
    yield on("thanks")
    seen("durable")
    yield cfg.timeouts.thank_you_s + 0.2
    yield on("rating")
    fill_disk()
    for _ in range(40):  # the write-ahead log may still have room for a tap or two
        tap_face()
        yield on("thanks", "outoforder")
        if app.sm.current == "outoforder":
            break
        yield cfg.timeouts.thank_you_s + 0.2
        yield on("rating")
    yield 0.2  # a frame or two, so the screenshot shows the drawn screen
    seen("disk_full")
    shot("kiosk-out-of-order")
    # a citizen tapping where the faces were gets no thank-you and adds nothing
    tap_at(Window.width * 0.9, Window.height * 0.5)
    yield 0.3
    seen("tapped_again")
    yield cfg.timeouts.thank_you_s + 0.5  # the flow's thank-you time passes: still out of order
    seen("still_full")
    # the technician names the fault
    yield from open_technician()
    seen("technician")
    result["tech_info"] = app.tech_info
    shot("kiosk-technician-disk-full")
    app.on_leave_technician()
    yield on("outoforder")
    seen("after_technician")
    # space returns: the kiosk heals by itself, without a touch
    filler.unlink()
    t0 = time.monotonic()
    yield on("rating")
    result["healed_s"] = round(time.monotonic() - t0, 2)
    yield 0.2
    seen("healed")
    shot("kiosk-healed")
    tap_face()
    yield on("thanks")
    seen("thanks_again")
    result["outbox_ids"] = app.outbox.ids()
    result["seq_last"] = app.outbox.seq_last


app.bind(on_start=lambda *_: play(app, script(), result))
app.run()
result["exited"] = True
save(result, result_path)
