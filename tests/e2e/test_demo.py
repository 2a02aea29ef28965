"""The one-command demo, headless: the whole chain runs and its ratings show in the report."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e import chain


@pytest.mark.slow
@pytest.mark.parametrize("embedded", [False, True], ids=["mosquitto", "embedded-broker"])
def test_demo_runs_headless_and_ratings_reach_the_report(tmp_path, embedded):
    args = [sys.executable, "scripts/demo.py", "--headless", "--duration", "12", "--rate", "10",
            "--dir", str(tmp_path), "--port", "0"]
    if embedded:
        args.append("--embedded")
    out = subprocess.run(args, cwd=chain.ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dashboard:  http://127.0.0.1:" in out.stdout and "demo: stopped" in out.stdout
    report = subprocess.run([sys.executable, "-m", "collector", "report", "--config", str(tmp_path / "collector.yaml"),
                             "--by", "site", "--format", "json", "--include-flagged", "--since", "2000-01-01",
                             "--until", "2100-01-01"],
                            cwd=chain.ROOT, capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    total = sum(r["count"] for r in rows)
    assert total >= 100, rows  # 3 kiosks x 10 taps/s x ~10 s, minus start-up
    assert {r["name"] for r in rows} >= {"Bộ phận một cửa xã Tân Lập", "Bộ phận một cửa phường Đông Kinh"}


@pytest.mark.slow
def test_demo_opens_a_kiosk_window_when_a_display_exists(tmp_path):
    assert os.environ.get("DISPLAY"), "run the suite with scripts/test.sh, which provides a display (Xvfb)"
    out = subprocess.run([sys.executable, "scripts/demo.py", "--duration", "15", "--rate", "5", "--dir", str(tmp_path),
                          "--port", "0"], cwd=chain.ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "a window (technician corner" in out.stdout
    log = (tmp_path / "kiosk-window.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    # The window's kiosk (the first counter) announced itself to the collector through the broker.
    from collector.db import connect

    db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
    try:
        devices = {(s, d) for s, d in db.query("SELECT site, device FROM devices")}
    finally:
        db.close()
    assert ("ubnd-xa-tan-lap", "quay-01") in devices, (devices, log[-2000:])
