"""Starts the real kiosk app in a window with its outbox on a small disk, fills the disk, taps with
real touch events, saves screenshots and writes what it saw as JSON. Run by tests/ui/test_kiosk_faults_ui.py.

usage: python tests/ui/kiosk_faults_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_JSON [diskfull|salvaged]
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

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

cfg_path, outbox_path, shots, result_path = sys.argv[1:5]
mode = sys.argv[5] if len(sys.argv) > 5 else "diskfull"
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"steps": [], "errors": [], "tapped": []}
filler = Path(outbox_path).parent / "filler"


def tap_at(x: float, y: float, hold: bool = False):
    t = UnitTestTouch(x, y)
    t.touch_down()
    if hold:
        return t
    t.touch_up()


def tap(widget):
    x, y = widget.to_window(*widget.center)
    tap_at(x, y)


def shot(name: str):
    path = Path(Window.screenshot(name=str(shots / f"{name}.png")))
    final = shots / f"{name}.png"
    if path != final:
        path.replace(final)


def seen(label: str):
    scr = app.sm.current_screen
    texts = [w.text for w in scr.walk() if hasattr(w, "text") and isinstance(w.text, str) and w.text]
    result["steps"].append({"step": label, "screen": app.sm.current, "texts": texts, "fault": app.outbox.fault,
                            "held": len(app.outbox.memory)})


def on(*screens: str):
    return lambda: app.sm.current in screens


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


def runner():
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
            deadline = time.monotonic() + 15

            def poll(_dt, cond=delay):
                if cond() or time.monotonic() > deadline:
                    advance(0)
                else:
                    Clock.schedule_once(poll, 0.02)

            Clock.schedule_once(poll, 0.02)
            return
        Clock.schedule_once(advance, delay)

    Clock.schedule_once(advance, 0)


app.bind(on_start=lambda *_: runner())
app.run()
result["exited"] = True
Path(result_path).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
