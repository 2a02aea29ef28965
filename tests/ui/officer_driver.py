"""Starts the real kiosk app with a staff list, signs officers in and out with real touches, saves
screenshots and writes what it saw as JSON. Run by tests/ui/test_officer_ui.py.

usage: python tests/ui/officer_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_JSON
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from window_script import play, save, shot as shoot, tap, tap_at, texts  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_path = sys.argv[1:5]
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
LOCAL = {"now": datetime(2026, 11, 26, 9, 0)}  # a Thursday morning; the test moves it to closing time
app.local_now = lambda: LOCAL["now"]
result: dict = {"steps": [], "errors": []}


def shot(name):
    shoot(shots / f"{name}.png")


def seen(label):
    print("STEP", label, app.sm.current, file=sys.stderr, flush=True)
    badge = app.root.ids.badge
    result["steps"].append({"step": label, "screen": app.sm.current, "texts": texts(app.sm.current_screen, True),
                            "officer_line": app.t_officer,
                            "photo": app.officer_photo, "badge_text": [w.text for w in badge.walk() if
                                                                       isinstance(getattr(w, "text", None), str)],
                            "message": app.o_message, "badge_visible": badge.opacity > 0 and not badge.disabled, "status": app._status_extra()})


def on(screen):
    return lambda: app.sm.current == screen


def hold_badge():
    badge = app.root.ids.badge
    x, y = badge.to_window(badge.x + badge.width * 0.2, badge.center_y)
    return tap_at(x, y, hold=True)


def pin(digits):
    keys = {b.text: b for b in app.sm.get_screen("officer_pin").ids.keypad.children}
    for d in digits:
        tap(keys[d])
    tap(keys["OK"])


def open_pin_pad(key):
    """Hold the badge, pick the officer's name: the PIN pad shows."""
    t = hold_badge()
    yield on("officer_pick")
    t.touch_up()
    yield 0.2  # the names are laid out on the next frame
    tap(name_button(key))
    yield on("officer_pin")
    yield 0.1


def name_button(key):
    return [b for b in app.sm.get_screen("officer_pick").ids.names.children if b.key == key][0]


def script():
    yield 0.3
    seen("start")
    shot("officer-badge-empty")
    t = tap_at(*app.root.ids.badge.to_window(*app.root.ids.badge.center), hold=True)
    yield 0.5
    t.touch_up()
    yield 0.2
    seen("short_press")                     # a short press does nothing
    t = hold_badge()
    yield on("officer_pick")
    t.touch_up()
    yield 0.1
    seen("pick")
    shot("officer-pick")
    tap(name_button("tran-thi-binh"))
    yield on("officer_pin")
    yield 0.1
    pin("0000")
    yield 0.2
    seen("wrong_pin")
    shot("officer-pin-wrong")
    pin("1357")
    yield on("officer_service")
    yield 0.1
    seen("service")
    shot("officer-service")
    tap([b for b in app.sm.get_screen("officer_service").ids.services.children if b.service_key == "dat-dai"][0])
    yield on("rating")
    yield 0.2
    seen("rating_vi")
    shot("rating-officer-vi")
    rating = app.sm.get_screen("rating")
    tap([b for b in rating.ids.langs.children if b.code == "en"][0])
    yield 0.2
    seen("rating_en")
    shot("rating-officer-en")
    faces = sorted(rating.ids.faces.children, key=lambda b: b.rating)
    tap(faces[-1])
    yield on("thanks")
    yield 0.1
    seen("thanks")
    yield on("rating")
    yield 0.1
    tap(faces[1])                           # a reason is asked; skip it
    yield on("followup")
    seen("followup")
    yield 0.1
    tap(app.sm.get_screen("followup").ids.skip)
    yield on("thanks")
    yield on("rating")
    # the officer signs out through the same entry, with the PIN
    yield from open_pin_pad("tran-thi-binh")
    pin("1357")
    yield on("officer_on_duty")
    yield 0.1
    seen("on_duty")
    tap(app.sm.get_screen("officer_on_duty").ids.sign_out)
    yield on("rating")
    yield 0.1
    seen("signed_out")
    tap(faces[-1])                          # nobody on duty: the configured officer, or none
    yield on("thanks")
    yield on("rating")
    # a second officer with one service signs in; closing time signs them out by itself
    yield from open_pin_pad("le-van-cuong")
    pin("2468")
    yield on("rating")
    yield 0.1
    seen("cuong")
    LOCAL["now"] = datetime(2026, 11, 26, 17, 0, 5)   # past today's last span (13:00-17:00)
    yield lambda: not app.t_officer
    yield 0.1
    seen("after_closing")
    LOCAL["now"] = datetime(2026, 11, 27, 8, 0)
    # signed in when the kiosk stops: the shift is ended with the stop
    yield 0.2
    yield from open_pin_pad("tran-thi-binh")
    pin("1357")
    yield on("officer_service")
    yield 0.2
    tap([b for b in app.sm.get_screen("officer_service").ids.services.children if b.service_key == "ho-tich"][0])
    yield on("rating")
    seen("before_stop")
    # five wrong PINs lock the entry, and the screen says for how long
    yield from open_pin_pad("le-van-cuong")
    for _ in range(5):
        pin("9999")
        yield 0.05
    yield 0.6
    seen("locked")
    shot("officer-locked")
    pin("2468")                             # even the right PIN is refused while locked
    yield 0.3
    seen("locked_right_pin")
    tap([b for b in app.sm.get_screen("officer_pin").walk() if getattr(b, "text", "") == "Huỷ / Cancel"][0])
    yield on("rating")


app.bind(on_start=lambda *_: play(app, script(), result))
app.run()
save(result, result_path)
