"""Starts the real kiosk app in on_request mode connected to a real broker; the desk's command line
(``python -m kiosk request``) asks it to rate; taps the faces; writes what it saw as JSON.
Run by tests/ui/test_officer_ui.py.

usage: python tests/ui/request_driver.py CONFIG OUTBOX PORT DESK_YAML SHOTS_DIR RESULT_JSON
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from window_script import ROOT, play, save, shot as shoot, tap, texts  # first: sizes the window

from config import load  # noqa: E402
from kiosk.app import KioskApp  # noqa: E402

cfg_path, outbox_path, port, desk, shots, result_path = sys.argv[1:7]
shots = Path(shots)
cfg = load(cfg_path)
app = KioskApp(cfg, cfg_path, outbox_path, host="127.0.0.1", port=int(port))
result: dict = {"steps": [], "errors": [], "cli": []}


def shot(name):
    shoot(shots / f"{name}.png")


def seen(label):
    result["steps"].append({"step": label, "screen": app.sm.current, "texts": texts(app.sm.current_screen, True)})


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


app.bind(on_start=lambda *_: play(app, script(), result, patience_s=20))
app.run()
save(result, result_path)
