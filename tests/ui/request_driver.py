"""Starts the real kiosk app in on_request mode connected to a real broker; the desk's command line
(``python -m kiosk request``) asks it to rate; taps the faces; writes what it saw as JSON.
Run by tests/ui/test_officer_ui.py.

usage: python tests/ui/request_driver.py CONFIG OUTBOX PORT DESK_YAML SHOTS_DIR RESULT_JSON
"""
from __future__ import annotations

import json
import subprocess
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
from kivy.tests.common import UnitTestTouch  # noqa: E402

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, port, desk, shots, result_path = sys.argv[1:7]
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, host="127.0.0.1", port=int(port))
result: dict = {"steps": [], "errors": [], "cli": []}


def tap(widget):
    t = UnitTestTouch(*widget.to_window(*widget.center))
    t.touch_down()
    t.touch_up()


def shot(name):
    path = Path(Window.screenshot(name=str(shots / f"{name}.png")))
    if path != shots / f"{name}.png":
        path.replace(shots / f"{name}.png")


def seen(label):
    texts = [w.text for w in app.sm.current_screen.walk(restrict=True) if isinstance(getattr(w, "text", None), str)
             and w.text]
    result["steps"].append({"step": label, "screen": app.sm.current, "texts": texts})


def ask(*args):
    """The officer's PC asks this counter to rate (a real process through the real broker)."""
    out = subprocess.run([sys.executable, "-m", "kiosk", "request", "--settings", desk, "--site", cfg.site,
                          "--device", cfg.device, *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    result["cli"].append({"rc": out.returncode, "out": out.stdout, "err": out.stderr})


def script():
    yield lambda: app.uplink.state == "connected"
    yield 0.5  # subscribed to the request topic
    seen("idle")
    shot("waiting-vi")
    faces = sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating)
    tap(faces[-1])                      # hidden faces take no tap
    yield 0.3
    ask("--dossier", "H56.22-261126-0007", "--ticket", "A015", "--service", "ho-tich")
    yield lambda: app.sm.current == "rating"
    yield 0.2
    seen("asked")
    tap(faces[-1])
    yield lambda: app.sm.current == "thanks"
    seen("thanks")
    yield lambda: app.sm.current == "waiting"
    seen("after")
    ask("--dossier", "H56.22-261126-0008", "--expires", "2")
    yield lambda: app.sm.current == "rating"
    seen("asked_again")
    yield lambda: app.sm.current == "waiting"   # nobody answered in 2 s
    yield 0.3
    seen("expired")
    yield lambda: app.outbox.depth() == 0       # everything reached the broker
    result["depth"] = app.outbox.depth()


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
            deadline = time.monotonic() + 20

            def poll(_dt, cond=delay):
                if cond() or time.monotonic() > deadline:
                    advance(0)
                else:
                    Clock.schedule_once(poll, 0.05)

            Clock.schedule_once(poll, 0.05)
            return
        Clock.schedule_once(advance, delay)

    Clock.schedule_once(advance, 0)


app.bind(on_start=lambda *_: runner())
app.run()
Path(result_path).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
