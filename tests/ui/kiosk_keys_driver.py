"""Works the real kiosk window with physical keys only: key events go through Kivy's Window (on_key_down /
on_key_up, as SDL delivers a keypad's keys), a held key as X delivers it (a press, then auto-repeat
key-downs 30 times a second after half a second, then one key-up). Run by tests/ui/test_kiosk_keys.py.

usage: python tests/ui/kiosk_keys_driver.py CONFIG OUTBOX SHOTS_PREFIX RESULT_JSON
"""
from __future__ import annotations

import sys

from window_script import Window, play, save, shot as shoot, shown  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kiosk.keys import KEYCODES  # noqa: E402

cfg_path, outbox_path, shots, result_path = sys.argv[1:5]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"errors": [], "steps": []}


def down(name: str) -> None:
    code = KEYCODES[name]
    Window.dispatch("on_key_down", code, 0, name if len(name) == 1 else None, [])


def up(name: str) -> None:
    Window.dispatch("on_key_up", KEYCODES[name], 0)


def seen(label: str) -> None:
    result["steps"].append({"step": label, "screen": app.sm.current, "outbox": app.outbox.depth()})


def press(name: str):
    down(name)
    yield 0.08
    up(name)


def script():
    from kivy.core.window import Keyboard

    result["keycodes_as_kivy"] = {n: Keyboard.keycodes.get(n) == c for n, c in KEYCODES.items()}
    # voice off (the default): neither the speech nor the speaking mode's code nor Kivy's audio is loaded
    result["speech_modules"] = [m for m in ("kiosk.voice", "kiosk.speaking", "kivy.core.audio") if m in sys.modules]
    yield 0.6
    for key in ("5", "numpad4", "3"):
        yield from press(key)
        yield shown(app, "thanks")
        seen(f"after {key}")
        yield shown(app, "rating")
        yield 1.7  # a new citizen: past the repeat window
    yield from press("numpad1")
    yield shown(app, "followup")
    seen("after numpad1")
    yield 0.6  # past settle_s
    yield from press("2")  # the second reason
    yield shown(app, "thanks")
    seen("after reason key 2")
    shoot(f"{shots}-thanks-by-key.png")
    yield shown(app, "rating")
    yield 1.7
    # a key held down for 3 s: one press, then X's auto-repeat
    down("5")
    yield 0.5
    for _ in range(75):
        down("5")
        yield 1 / 30
    up("5")
    seen("after holding 5 for 3 s")
    yield shown(app, "rating")
    yield 1.7
    seen("end")
    # a child mashing the keys through the thank-you screen: the next rating is flagged like mashed touches
    yield from press("5")
    yield shown(app, "thanks")
    for key in ("1", "3", "5", "2", "4"):
        yield from press(key)
        yield 0.05
    seen("mashed through the thank-you")
    yield shown(app, "rating")
    yield 0.5  # past settle_s, within the repeat window of the last mashed key
    yield from press("4")
    yield shown(app, "thanks")
    seen("after the mash")


app.bind(on_start=lambda *_: play(app, script(), result, patience_s=10))
app.run()
save(result, result_path)
