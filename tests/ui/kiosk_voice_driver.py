"""The real kiosk window with voice on and clips built: keys and a touch, and the log of clips it played.
Run by tests/ui/test_kiosk_keys.py.

usage: python tests/ui/kiosk_voice_driver.py CONFIG OUTBOX RESULT_JSON
"""
from __future__ import annotations

import sys

from window_script import Window, play, save, shown, tap  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kiosk.keys import KEYCODES  # noqa: E402

cfg_path, outbox_path, result_path = sys.argv[1:4]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"errors": []}


def press(name: str):
    Window.dispatch("on_key_down", KEYCODES[name], 0, None, [])
    yield 0.08
    Window.dispatch("on_key_up", KEYCODES[name], 0)
    yield 0.3


def script():
    yield 0.6
    yield from press("0")          # listen, the visit's first key: the question
    yield from press("numpad0")    # listen again: the question again
    yield from press("5")          # a face: the thank-you
    yield shown(app, "thanks")
    yield from press("0")          # listen on the thank-you screen
    yield shown(app, "rating")
    yield 0.7
    yield from press("1")          # first key of a visit (the question), a low face: the follow-up
    yield shown(app, "followup")
    yield 0.3
    yield from press("0")          # listen: the follow-up question
    yield from press("2")          # a reason: the thank-you
    yield shown(app, "thanks")
    yield shown(app, "rating")
    yield 0.7
    tap([b for b in app.sm.get_screen("rating").ids.langs.children if b.code == "en"][0])
    yield 0.6
    yield from press("4")
    yield shown(app, "thanks")
    result["played"] = list(app.played)
    result["lengths"] = {f"{lang}:{key}": (snd.length if snd is not None else None)
                         for (lang, key), snd in app._sounds.items()}


app.bind(on_start=lambda *_: play(app, script(), result, patience_s=10))
app.run()
save(result, result_path)
