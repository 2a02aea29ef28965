"""The officer types the PIN on a keypad in the real kiosk window: hold the badge, pick the name by touch,
then digits, Backspace and Enter as key events. Run by tests/ui/test_kiosk_keys.py.

usage: python tests/ui/officer_keys_driver.py CONFIG OUTBOX RESULT_JSON
"""
from __future__ import annotations

import sys
from datetime import datetime

from window_script import Window, play, save, tap, tap_at  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kiosk.keys import KEYCODES  # noqa: E402

cfg_path, outbox_path, result_path = sys.argv[1:4]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
app.local_now = lambda: datetime(2026, 11, 26, 9, 0)  # a Thursday morning, within opening hours
result: dict = {"errors": []}


def press(name: str):
    Window.dispatch("on_key_down", KEYCODES[name], 0, None, [])
    yield 0.05
    Window.dispatch("on_key_up", KEYCODES[name], 0)
    yield 0.05


def script():
    yield 0.3
    badge = app.root.ids.badge
    held = tap_at(*badge.to_window(badge.x + badge.width * 0.2, badge.center_y), hold=True)
    yield lambda: app.sm.current == "officer_pick"
    held.touch_up()
    yield 0.2
    tap([b for b in app.sm.get_screen("officer_pick").ids.names.children if b.key == "le-van-cuong"][0])
    yield lambda: app.sm.current == "officer_pin"
    for key in ("9", "backspace", "2", "numpad4", "6"):
        yield from press(key)
    Window.dispatch("on_key_down", KEYCODES["8"], 0, None, [])
    for _ in range(20):  # held: X's auto-repeat
        yield 0.03
        Window.dispatch("on_key_down", KEYCODES["8"], 0, None, [])
    Window.dispatch("on_key_up", KEYCODES["8"], 0)
    result["mask"] = app.o_pin_mask
    yield from press("numpadenter")
    yield 0.5
    result["officer"] = app.duty.officer.key if app.duty.officer else None
    result["ratings"] = sum(1 for r in app.outbox.peek(0, 100) if r.topic.endswith("/rating"))


app.bind(on_start=lambda *_: play(app, script(), result, patience_s=10))
app.run()
save(result, result_path)
