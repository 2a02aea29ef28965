"""The real kiosk window with the speaking mode on and clips built. Run by tests/ui/test_kiosk_speaking.py.

usage: python tests/ui/kiosk_speaking_driver.py speaking|walk CONFIG OUTBOX SHOTS_DIR RESULT_JSON

speaking: the speaking key, move to face 2, choose; then a long press, two swipes and a double tap; then an
ordinary tap. walk: every enabled language, every screen and every text reached through the speaking mode
(the intro, each face, the follow-up, each reason and skip, the thank-you), each queue of clips said through.
"""
from __future__ import annotations

import sys

from window_script import Window, play, save, shot, shown, tap, texts  # first: sizes the window

from kivy.tests.common import UnitTestTouch  # noqa: E402

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402
from kiosk.keys import KEYCODES  # noqa: E402

mode, cfg_path, outbox_path, shots, result_path = sys.argv[1:6]
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, start_uplink=False)
result: dict = {"errors": [], "steps": []}


def press(name: str):
    Window.dispatch("on_key_down", KEYCODES[name], 0, None, [])
    yield 0.08
    Window.dispatch("on_key_up", KEYCODES[name], 0)
    yield 0.3


def said(key: str):
    return lambda: any(p.split(":")[1] == key for p in app.played)


def step(name: str) -> None:
    thanks = app.sm.get_screen("thanks")
    result["steps"].append({"step": name, "screen": app.sm.current, "speaking": app.flow.speaking,
                            "banner": app.t_speaking, "focus": app.flow.focused(),
                            "volume": app._playing.volume if app._playing is not None else None,
                            "thanks_texts": texts(thanks) if app.sm.current == "thanks" else []})


def swipe(x0, x1, y=400):
    t = UnitTestTouch(x0, y)
    t.touch_down()
    yield 0.05
    for x in (x0 + (x1 - x0) / 3, x0 + 2 * (x1 - x0) / 3, x1):
        t.touch_move(x, y)
        yield 0.03
    t.touch_up()
    yield 0.9  # the face's name is heard


def double_tap(x=640, y=420):
    for _ in range(2):
        t = UnitTestTouch(x, y)
        t.touch_down()
        yield 0.05
        t.touch_up()
        yield 0.12


def speaking_script():
    yield 0.6
    yield from press("numpadmul")         # the speaking key: the intro
    yield said("speaking_intro")
    yield 0.3
    step("on")
    shot(f"{shots}/kiosk-speaking-mode.png")
    yield from press("numpadadd")         # face 1, named
    yield 0.6
    yield from press("numpadadd")         # face 2, named
    yield 0.6
    step("at face 2")
    yield from press("numpadenter")       # chosen
    yield shown(app, "thanks")
    step("thanks")
    shot(f"{shots}/speaking-thanks.png")
    yield said("back_in.thanks")          # the thank-you, then "the screen goes back in N seconds"
    yield shown(app, "rating")
    yield 0.8
    step("after")
    # a press held anywhere turns the mode on; two swipes, a double tap
    hold = UnitTestTouch(640, 700)        # on the question, away from every button
    hold.touch_down()
    yield cfg.voice.speaking.hold_s + 0.4
    hold.touch_up()
    yield 0.4
    step("held")
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    tap(faces[4])                         # a finger on a face names it, and does not choose it
    yield 0.8
    step("touched face 5")
    yield from swipe(700, 300)            # previous: face 4
    yield from swipe(300, 700)            # next: face 5 again
    step("swiped back and forth")
    tap(faces[0])                         # face 1
    yield 0.8
    yield from swipe(300, 700)            # next: face 2
    step("swiped to face 2")
    yield from double_tap(640, 700)       # on the question: chooses what was heard last
    yield shown(app, "thanks")
    step("double tap")
    yield shown(app, "rating")
    yield 1.6
    tap(faces[4])                         # an ordinary tap, the mode off: an ordinary rating
    yield shown(app, "thanks")
    step("ordinary tap")
    result["played"] = list(app.played)
    result["lengths"] = {f"{lang}:{key}": (snd.length if snd is not None else None)
                         for (lang, key), snd in app._sounds.items()}


def drain():
    """Says the rest of the queue now (each clip is loaded and started in turn) instead of waiting for each."""
    while app._queue:
        app._next_clip()


def walk_script():
    yield 0.6
    for code in cfg.languages.enabled:
        btn = [b for b in app.sm.get_screen("rating").ids.langs.children if b.code == code][0]
        tap(btn)
        yield 0.6
        if code == cfg.languages.enabled[-1]:
            shot(f"{shots}/kiosk-language-picture.png")
        yield from press("numpadmul")     # the intro, the question, the officer, the time-out
        drain()
        for _ in app.flow.choices():
            yield from press("numpadadd")  # each face named, then each language in itself
        yield from press("numpadadd")     # back to face 1: the least satisfied asks the follow-up
        yield from press("numpadenter")
        yield shown(app, "followup")
        drain()
        yield 0.5
        for _ in range(len(app.flow.reasons) + 1):
            yield from press("numpadadd")  # each reason, then skip
        yield from press("numpadenter")   # skip
        yield shown(app, "thanks")
        drain()
        step(f"thanks {code}")
        yield shown(app, "rating")
        yield 1.6
    result["played"] = list(app.played)
    result["files"] = {entry: str(app._voice.get(entry.split(":")[0], entry.split(":")[1])) for entry in
                       {":".join(p.split(":")[:2]) for p in app.played}}


script = speaking_script() if mode == "speaking" else walk_script()
app.bind(on_start=lambda *_: play(app, script, result, patience_s=20))
app.run()
save(result, result_path)
