"""``python -m broker health``: does the running Mosquitto still answer? Restart it when it does not.

A broker can stop answering while its process lives on: Mosquitto 2.0.11 (Debian 12, Raspberry Pi OS)
was seen spinning in its keepalive check after a power cut and a long uplink outage, accepting TCP
connections and never sending CONNACK. systemd's Restart= does not see that (the process is there), and
every kiosk of the commune keeps its ratings until someone notices. Run this from a timer
(docs/hailong-broker-health.timer): it opens an admin session on the control socket, and when that gets
no answer twice in a row it runs the restart command. Nothing is lost by a restart: kiosks keep every
rating until the collector's receipt.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .control import Control, NotRunning, admin_password
from .errors import SetupError


@dataclass
class Health:
    state: str      # "ok", "not running" or "not answering"
    detail: str
    answer_ms: float | None = None


def probe(folder: Path, timeout_s: float = 10.0) -> Health:
    """One admin session on the control socket: CONNACK and SUBACK within ``timeout_s``."""
    t0 = time.monotonic()
    try:
        with Control(folder, admin_password(folder), timeout_s=timeout_s):
            pass
    except NotRunning:
        return Health("not running", f"nothing answers on {Path(folder) / 'data' / 'mosquitto.sock'}")
    except SetupError as exc:
        return Health("not answering", str(exc))
    return Health("ok", "", (time.monotonic() - t0) * 1000)


def check(folder: Path, timeout_s: float = 10.0, tries: int = 2, pause_s: float = 5.0) -> Health:
    """``probe`` up to ``tries`` times: a broker busy for a moment is not taken for a hung one."""
    health = probe(folder, timeout_s)
    for _ in range(tries - 1):
        if health.state != "not answering":
            break
        time.sleep(pause_s)
        health = probe(folder, timeout_s)
    return health


def restart(command: str, timeout_s: float = 60.0) -> tuple[int, str]:
    """Run the restart command (e.g. ``systemctl restart hailong-broker``); its exit status and output."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout_s)
    return done.returncode, (done.stdout + done.stderr).strip()
