"""Clearing retained messages the broker should not keep.

Mosquitto keeps the last retained message of a topic and hands it to every new subscriber.
Status and config are meant to be retained; a rating, event or request never is, and the
dynamic-security plugin of Mosquitto 2.0 cannot refuse the retain flag on a topic a client may
publish. So a retained rating left by a kiosk is swept here (the collector also refuses a rating
that arrives flagged retained), and a removed device's topics are emptied.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from . import control
from .state import load_state, save_state

NEVER_RETAINED = ("rating", "event", "request")


def clear(folder: Path, wait_s: float = 0.0) -> str:
    """Sweep the running broker; waits up to ``wait_s`` for it to come up."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    password = control.admin_password(folder)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with control.Control(folder, password) as c:
                prefix = state.settings.topic_prefix
                stray = c.find_retained([f"{prefix}/+/+/{k}" for k in NEVER_RETAINED])
                topics = sorted(stray | set(state.retained_to_clear))
                c.clear_retained(topics)
            break
        except control.NotRunning:
            if time.monotonic() >= deadline:
                return f"Mosquitto is not running on {folder}; nothing cleared"
            time.sleep(0.2)
    state = load_state(folder)  # an add/remove may have run meanwhile
    state.retained_to_clear = [t for t in state.retained_to_clear if t not in topics]
    save_state(folder, state)
    return f"cleared {len(topics)} retained topic(s)" + (f": {', '.join(topics)}" if topics else "")


def clear_after_start(folder: Path, wait_s: float = 20.0) -> None:
    """Started by `run` just before it becomes Mosquitto: sweeps once the broker answers."""
    subprocess.Popen([sys.executable, "-m", "broker", "clear-retained", "--dir", str(Path(folder).resolve()),
                      "--wait", str(wait_s)], start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
