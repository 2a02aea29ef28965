"""Runs the real kiosk app connected to a real broker while the province pushes it a new config.

Phase 1 taps the old screens, runs `python -m broker fleet push` and keeps tapping while the config
arrives and is applied; the app then restarts itself at a calm moment, as `python -m kiosk` does: this
process execs itself into phase 2 (one Kivy window per process), which shows and taps the new reasons
and language and waits until the outbox is empty and the new config is confirmed. Each phase writes
what it saw and the id of every rating it made to RESULT-<phase>.json.

usage: python tests/ui/fleet_push_driver.py CONFIG OUTBOX SHOTS_DIR RESULT_PREFIX FLEET_DIR [PHASE]
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from window_script import ROOT, play, save, shot as shoot, shown as on_screen, tap, texts  # first: sizes the window

from config import file_hash, load  # noqa: E402
from kiosk.app import CONFIG_CALM_S, KioskApp  # noqa: E402

cfg_path, outbox_path, shots, result_prefix, fleet_dir = sys.argv[1:6]
phase = int(sys.argv[6]) if len(sys.argv) > 6 else 1
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, config_hash=file_hash(cfg_path))
result: dict = {"phase": phase, "pid": os.getpid(), "steps": [], "errors": [], "ratings": [], "push": None}


def shot(name):
    shoot(shots / f"{name}.png")


def seen(label):
    langs = [b.text for b in sorted(app.sm.get_screen("rating").ids.langs.children, key=lambda b: b.x)]
    result["steps"].append({"step": label, "screen": app.sm.current, "lang": app.flow.lang,
                            "texts": texts(app.sm.current_screen, True), "lang_buttons": langs})


def on(screen: str):
    return on_screen(app, screen)


def faces():
    return sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)


def made():
    """Keep the id of the rating just made (it is in the outbox before the thank-you shows)."""
    r = app.flow.last_rating
    result["ratings"].append({"id": r.id, "reason": r.reason, "lang": r.lang,
                              "config_applied": app.restart_for_config, "t": round(time.monotonic(), 3)})


def rate_with_reason(reason_key: str):
    tap(faces()[0])  # the least happy face asks why
    yield on("followup")
    yield 0.1
    buttons = {b.reason_key: b for b in app.sm.get_screen("followup").ids.reasons.children}
    tap(buttons[reason_key])
    yield on("thanks")
    made()


def phase_one():
    yield lambda: app.uplink.state == "connected"
    yield 0.5  # subscribed to the config topic
    seen("before")
    shot("fleet-before-rating")
    tap(faces()[0])
    yield on("followup")
    yield 0.1
    seen("before_followup")
    shot("fleet-before-followup")
    tap([b for b in app.sm.get_screen("followup").ids.reasons.children if b.reason_key == "waiting"][0])
    yield on("thanks")
    made()
    yield on("rating")
    # The province pushes; the citizens keep rating while the config arrives and is applied.
    push = subprocess.Popen([sys.executable, "-m", "broker", "fleet", "push", fleet_dir], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result["push_started"] = round(time.monotonic(), 3)
    after_applied = 0
    deadline = time.monotonic() + 25
    while after_applied < 3 and time.monotonic() < deadline:
        if len(result["ratings"]) % 3 == 0:
            yield from rate_with_reason("waiting")
        else:
            tap(faces()[-1])
            yield on("thanks")
            made()
        after_applied += app.restart_for_config
        yield on("rating")
        yield 0.2
    result["push"] = {"rc": push.wait(30), "out": push.stdout.read()}
    result["applied_while_tapping"] = app.restart_for_config
    result["last_touch"], result["calm_s"] = round(app.flow.last_touch, 3), CONFIG_CALM_S
    seen("applied_not_yet_restarted")
    yield 30  # nobody touches the screen now: the app restarts itself (run() returns before this ends)
    result["errors"].append("the app did not restart on the pushed config")


def phase_two():
    yield lambda: app.uplink.state == "connected"
    yield 0.3
    seen("after")
    shot("fleet-after-rating")
    new_lang = [c for c in app.cfg.languages.enabled if c not in ("vi", "en")][0]
    tap([b for b in app.sm.get_screen("rating").ids.langs.children if b.code == new_lang][0])
    yield 0.3
    seen("after_new_lang")
    shot(f"fleet-after-rating-{new_lang}")
    tap(faces()[0])
    yield on("followup")
    yield 0.2
    seen("after_followup")
    shot(f"fleet-after-followup-{new_lang}")
    key = app.flow.reasons[-1].key
    tap([b for b in app.sm.get_screen("followup").ids.reasons.children if b.reason_key == key][0])
    yield on("thanks")
    made()
    yield on("rating")
    tap(faces()[-1])
    yield on("thanks")
    made()
    yield lambda: app.outbox.depth() == 0 and app.config_taker.pending is None
    result["depth"] = app.outbox.depth()
    result["pending"] = app.config_taker.pending
    result["config_error"] = app.config_taker.config_error


app.bind(on_start=lambda *_: play(app, phase_one() if phase == 1 else phase_two(), result, patience_s=20))
app.run()
result["restarting"] = app.restarting
result["stopped"] = round(time.monotonic(), 3)
save(result, f"{result_prefix}-{phase}.json")
if phase == 1 and app.restarting:  # as kiosk.__main__.restart does: the same process starts afresh
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:6], "2"])
