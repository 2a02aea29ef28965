"""Every line the kiosk logs is printed once. Kivy's default log mode puts its own console handler on the root
logger beside the kiosk's, so each warning came out twice, once in each format. The real `python -m kiosk run`
under Xvfb, its broker refusing connections so the uplink warns."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import free_port
from tests.ui.test_kiosk_config_problem import kiosk_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]


def test_each_kiosk_log_line_is_printed_once(tmp_path):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(f"kind: kiosk\nsite: xa-a\ndevice: quay-1\nbroker: {{host: 127.0.0.1, port: {free_port()}}}\n"
                   "outbox: {path: outbox.db}\n", encoding="utf-8")
    log = tmp_path / "kiosk.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(cfg), "--windowed", "640x400"],
                                cwd=ROOT, env=kiosk_env(tmp_path), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and log.read_text(errors="replace").count("Connection refused") < 3:
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(20)
    lines = log.read_text(errors="replace").splitlines()
    refused = [line for line in lines if "Connection refused" in line]
    assert len(refused) >= 3, lines[-30:]
    # each in the kiosk's own format only (was: each again as "[WARNING] [uplink      ] ...", Kivy's format)
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING kiosk\.uplink: ", line) for line in refused), refused
    stamps = [line[:23] for line in refused]
    assert len(set(stamps)) == len(stamps), refused  # no line twice
