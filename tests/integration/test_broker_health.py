"""`broker health` tells a broker that answers from one that lives on without answering, and restarts it.

A real Mosquitto on a folder from `broker init`; the hung broker of the field (Mosquitto 2.0.11 spinning in
its keepalive check, TCP accepted, no CONNACK) is played by stopping the process (SIGSTOP): the process is
there, nothing answers. The restart command of the timer's unit is replaced by one that leaves a mark and
lets the broker go on (SIGCONT), so the test sees the broker answer again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.integration.test_broker_setup import ROOT, init_dir
from tests.servers import Mosquitto

pytestmark = pytest.mark.mosquitto


def health(folder, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "broker", "health", "--dir", str(folder), "--timeout", "2", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_broker_that_stops_answering_is_found_and_restarted(tmp_path):
    folder = tmp_path / "b"
    tls_port, _ = init_dir(folder)
    down = health(folder)
    assert down.returncode == 2 and "không chạy / the broker is not running" in down.stderr, down.stderr
    broker = Mosquitto(folder, port=tls_port, conf_file=folder / "mosquitto.conf").start()
    try:
        ok = health(folder)
        assert ok.returncode == 0 and "the broker answers" in ok.stdout, ok.stdout + ok.stderr
        os.kill(broker.proc.pid, signal.SIGSTOP)  # alive, not answering
        mark = tmp_path / "restarted"
        hung = health(folder, "--restart-cmd", f"touch '{mark}' && kill -CONT {broker.proc.pid}")
        assert hung.returncode == 1, hung.stdout + hung.stderr
        assert "không trả lời / the broker does not answer" in hung.stderr and mark.exists()
        assert health(folder).returncode == 0  # what the restart brought back answers
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
        broker.stop()
