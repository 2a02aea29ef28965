"""The one-command demo, headless: the whole chain runs and its ratings show in the report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import sys

import pytest

from tests.e2e import chain
from tests.servers import free_port


def _stop_all(demo: subprocess.Popen, folder) -> str:
    """What the demo left running in its folder; then its process group and those are killed."""
    left = subprocess.run(["pgrep", "-af", str(folder)], capture_output=True, text=True).stdout
    if demo.poll() is None:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(10)
    subprocess.run(["pkill", "-9", "-f", str(folder)], capture_output=True)
    return left


@pytest.mark.slow
@pytest.mark.parametrize("embedded", [False, True], ids=["mosquitto", "embedded-broker"])
def test_demo_runs_headless_and_ratings_reach_the_report(tmp_path, embedded):
    args = [sys.executable, "scripts/demo.py", "--headless", "--rate", "10", "--dir", str(tmp_path),
            "--port", str(free_port())]  # not 8080: another test may hold it
    if embedded:
        args.append("--embedded")
    # Started as a person would, stopped with Ctrl-C (SIGINT) once it has run for a while.
    demo = subprocess.Popen(args, cwd=chain.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("  stop:"):
                break
        time.sleep(9)
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        left = _stop_all(demo, tmp_path)  # a failed run must not leave its broker, collector and kiosks behind
    out = "".join(lines) + rest
    assert demo.returncode == 0, out
    assert "dashboard:  http://127.0.0.1:" in out and "login admin / " in out and "demo: stopped" in out
    assert "python -m collector report --config" in out
    # every child (broker, collector, dashboard, kiosks) stopped too: none was left running
    assert not left, left
    report = subprocess.run([sys.executable, "-m", "collector", "report", "--config", str(tmp_path / "collector.yaml"),
                             "--by", "site", "--format", "json", "--include-flagged", "--since", "2000-01-01",
                             "--until", "2100-01-01"],
                            cwd=chain.ROOT, capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["rows"]
    total = sum(r["count"] for r in rows)
    assert total >= 100, rows  # 3 kiosks x 10 taps/s x ~9 s, minus start-up
    assert {r["name"] for r in rows} >= {"Bộ phận một cửa xã Tân Lập", "Bộ phận một cửa phường Đông Kinh"}


@pytest.mark.slow
@pytest.mark.window
def test_demo_opens_a_kiosk_window_when_a_display_exists(tmp_path):
    assert os.environ.get("DISPLAY"), "run the suite with scripts/test.sh, which provides a display (Xvfb)"
    demo = subprocess.Popen([sys.executable, "scripts/demo.py", "--duration", "15", "--rate", "5", "--dir", str(tmp_path),
                             "--port", str(free_port())], cwd=chain.ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = demo.communicate(timeout=120)
    finally:
        left = _stop_all(demo, tmp_path)
    assert demo.returncode == 0 and not left, out + left
    assert "a window (technician corner" in out
    log = (tmp_path / "kiosk-window.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    # The window's kiosk (the first counter) announced itself to the collector through the broker.
    from collector.storage.db import connect

    db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
    try:
        devices = {(s, d) for s, d in db.query("SELECT site, device FROM devices")}
    finally:
        db.close()
    assert ("ubnd-xa-tan-lap", "quay-01") in devices, (devices, log[-2000:])
