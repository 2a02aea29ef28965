"""Starts the real kiosk app in a window, performs scripted taps with real touch events, saves
screenshots and writes what it saw as JSON. Run by tests/ui/test_kiosk_ui.py (one window per process).

usage: python tests/ui/kiosk_driver.py CONFIG OUTBOX LANG SHOTS_DIR RESULT_JSON
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from window_script import Window, play, save, shot as shoot, shown, tap, tap_at, texts  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, lang, shots, result_path = sys.argv[1:6]
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"steps": [], "errors": []}


def shot(name: str):
    shoot(shots / f"{name}.png")


def seen(label: str):
    result["steps"].append({"step": label, "screen": app.sm.current, "lang": app.flow.lang,
                            "texts": texts(app.sm.current_screen), "outbox": app.outbox.depth()})


def widget_by_class(screen, cls: str):
    return [w for w in app.sm.get_screen(screen).walk() if type(w).__name__ == cls]


def on(screen: str):
    return shown(app, screen)


def script():
    """Each yield waits that many seconds, or until a condition holds (frames are drawn in between)."""
    yield 0.3
    rating = app.sm.get_screen("rating")
    if lang != cfg.languages.default:
        tap([b for b in rating.ids.langs.children if b.code == lang][0])
        yield 0.1
    seen("rating")
    shot(f"rating-{lang}")
    faces = sorted(rating.ids.faces.children, key=lambda b: b.rating)
    tap(faces[-1])  # the happiest face: no follow-up
    yield on("thanks")
    yield 0.1  # a frame or two, so the screenshot shows the drawn screen
    seen("after_happy")
    shot(f"thanks-{lang}")
    yield cfg.timeouts.thank_you_s - 0.2
    yield on("rating")
    seen("back")
    tap(faces[0])  # the least happy face: follow-up
    yield on("followup")
    yield 0.1
    seen("followup")
    shot(f"followup-{lang}")
    reasons = sorted(app.sm.get_screen("followup").ids.reasons.children, key=lambda b: b.reason_key)
    tap([b for b in reasons if b.reason_key == "waiting"][0])
    yield on("thanks")
    yield 0.1
    seen("after_reason")
    shot(f"thanks-after-reason-{lang}")
    yield cfg.timeouts.thank_you_s - 0.2
    yield on("rating")
    tap(faces[1])
    yield on("followup")
    tap(app.sm.get_screen("followup").ids.skip)
    yield 0.1
    seen("after_skip")
    # Escape and the back key must not close the app
    Window.dispatch("on_keyboard", 27, 0, None, [])
    Window.dispatch("on_keyboard", 1001, 0, None, [])
    result["close_refused"] = bool(Window.dispatch("on_request_close"))
    yield cfg.timeouts.thank_you_s - 0.2
    yield on("rating")
    # hidden technician corner (top-left): a short press does nothing, a long one asks for the PIN
    tap_at(5, Window.height - 5)
    yield 0.3
    seen("short_corner")
    held = tap_at(5, Window.height - 5, hold=True)
    yield cfg.technician.hold_s + 0.3
    held.touch_up()
    yield on("pin")
    seen("pin")
    keys = {b.text: b for b in app.sm.get_screen("pin").ids.keypad.children}
    for d in os.environ["KIOSK_TEST_PIN"]:
        tap(keys[d])
    yield 0.05
    tap(keys["OK"])
    yield on("technician")
    yield 0.1
    seen("technician")
    shot(f"technician-{lang}")
    result["tech_info"] = app.tech_info
    result["sounds"] = {f"{lg}:{kind}": (None if snd is None else {"state": snd.state, "length": snd.length})
                        for (lg, kind), snd in app._sounds.items()}
    tap([b for b in widget_by_class("technician", "BigButton") if "Exit" in b.text][0])
    yield 0.5
    result["still_running_after_exit"] = True  # only reached if stop() did not end the loop


def on_start(*_):
    result["cold_start_s"] = round(time.monotonic() - T0, 3)
    play(app, script(), result)


T0 = time.monotonic()
app.bind(on_start=on_start)
app.run()
result["exited"] = True
save(result, result_path)
