"""A broken kiosk.yaml at boot never gives a black screen: the real `python -m kiosk run` under Xvfb.

Missing file, bad YAML, `faces.scale: 9`, a missing CA file:
- with a last good copy the kiosk runs on it, citizens can rate, a quiet marker shows, and the
  technician view names the problem (in-process start-up driver with real touches);
- without one the process stays up on the config problem page (screenshot via SIGUSR1), and fixing
  the file brings the real kiosk up in the same process.
Screenshots go to tests/artifacts/config-*.png.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_start_driver.py"
PIN = "1357"
GOOD = ("kind: kiosk\nsite: ubnd-xa-tan-lap\ndevice: quay-01\nbroker: {host: 127.0.0.1, port: 9}\n"
        "timeouts: {thank_you_s: 1}\ntechnician: {pin: {env: KIOSK_TEST_PIN}, hold_s: 1}\n"
        "outbox: {path: outbox.db}\n")
BROKEN = {
    "missing": (None, "kiosk.yaml: file not found"),
    "bad-yaml": ("kind: kiosk\nsite: ubnd-xa-tan-lap\ndevice: [quay-01\n", "kiosk.yaml:4: not valid YAML"),
    "scale-9": (GOOD + "faces:\n  scale: 9\n", "kiosk.yaml:9: faces.scale: 9 is not allowed; use 2 to 5"),
    "missing-ca": (GOOD.replace("port: 9}", "port: 9, tls: {ca: certs/ca.crt}}"),
                   "kiosk.yaml:4: broker.tls.ca: {dir}/certs/ca.crt: file not found"),
}


def kiosk_env(tmp_path: Path) -> dict:
    env = window_env(tmp_path, KIOSK_TEST_PIN=PIN)
    env.pop("KIVY_NO_CONSOLELOG", None)  # the kiosk's messages are checked below
    return env


def write_broken(tmp_path: Path, name: str) -> tuple[Path, str]:
    cfg = tmp_path / "kiosk.yaml"
    text, problem = BROKEN[name]
    if text is not None:
        cfg.write_text(text, encoding="utf-8")
    return cfg, problem.format(dir=tmp_path)


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.mark.parametrize("name", list(BROKEN))
def test_with_a_last_good_copy_the_kiosk_runs_on_it_and_tells_the_technician(name, tmp_path, artifacts):
    cfg, problem = write_broken(tmp_path, name)
    copy = tmp_path / "kiosk.yaml.last-good"
    copy.write_text(GOOD, encoding="utf-8")
    result = tmp_path / "result.json"
    shots = artifacts / f"config-fallback-{name}"
    out = subprocess.run([sys.executable, str(DRIVER), str(result), str(shots), "--config", str(cfg),
                          "--windowed", "1280x800"], cwd=tmp_path, env=kiosk_env(tmp_path),
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    assert data["rc"] == 0
    assert f"running on the last good config {copy}" in out.stderr and problem in out.stderr
    # citizens see the normal screen with a quiet marker, and their rating is kept
    assert data["screen"] == "rating" and data["markers"] == ["[b]![/b] cấu hình / config"]
    assert data["outbox_after_tap"] == 1
    # the technician view says what runs and what is wrong
    assert f"Running on the last good config: {copy}" in data["notice"] and problem in data["notice"]
    assert "last good config" in data["tech_info"] and problem in data["tech_info"]
    assert copy.read_text(encoding="utf-8") == GOOD  # the broken file never replaces the good copy
    for screen in ("rating", "technician"):
        assert Path(f"{shots}-{screen}.png").stat().st_size > 10_000


def screenshot(p: subprocess.Popen, tmp_path: Path, dest: Path) -> None:
    """The app's own hook: SIGUSR1 saves the next frame as kiosk-screen.png in its working directory."""
    shot = tmp_path / "kiosk-screen.png"
    shot.unlink(missing_ok=True)
    for _ in range(10):  # asked again until the window is up to take it
        p.send_signal(signal.SIGUSR1)
        if wait_for(lambda: shot.exists() and shot.stat().st_size > 10_000, 1.5):
            break
    assert shot.exists(), "no screenshot"
    time.sleep(0.2)
    shutil.copyfile(shot, dest)


def spawn(tmp_path: Path, cfg: Path):
    """The real `python -m kiosk` in its own process, as systemd starts it; returns it and its log reader."""
    log = tmp_path / "kiosk.log"
    with open(log, "w") as out:
        p = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(cfg), "--windowed", "1280x800"],
                             cwd=tmp_path, env={**kiosk_env(tmp_path), "PYTHONPATH": str(ROOT)},
                             stdout=out, stderr=subprocess.STDOUT)
    return p, lambda: log.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("name", list(BROKEN))
def test_without_one_the_problem_page_shows_until_the_file_is_fixed(name, tmp_path, artifacts):
    cfg, problem = write_broken(tmp_path, name)
    p, text = spawn(tmp_path, cfg)
    try:
        assert wait_for(lambda: "showing the config problem page" in text(), 20), text()[-3000:]
        assert problem in text()
        page = artifacts / f"config-problem-{name}.png"
        screenshot(p, tmp_path, page)
        time.sleep(3.5)  # a check has run: still up, not exit 2 and a restart loop
        assert p.poll() is None, text()[-3000:]
        assert not (tmp_path / "kiosk.yaml.last-good").exists()
        cfg.write_text(GOOD + "faces:\n  scale: 1\n", encoding="utf-8")  # edited, still wrong: the page follows
        assert wait_for(lambda: "kiosk.yaml:9: faces.scale: 1 is not allowed; use 2 to 5" in text(), 10), text()[-2000:]
        assert p.poll() is None

        cfg.write_text(GOOD, encoding="utf-8")  # the technician fixes it
        copy = tmp_path / "kiosk.yaml.last-good"
        assert wait_for(copy.exists, 20), text()[-3000:]  # kept once the real kiosk is up
        assert copy.read_text(encoding="utf-8") == GOOD and "restarting" in text()
        assert p.poll() is None
        up = artifacts / f"config-fixed-{name}.png"
        screenshot(p, tmp_path, up)
        assert page.read_bytes() != up.read_bytes()
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_kiosk_on_its_last_good_copy_comes_back_on_the_fixed_file_when_nobody_is_using_it(tmp_path, artifacts):
    cfg, problem = write_broken(tmp_path, "scale-9")
    copy = tmp_path / "kiosk.yaml.last-good"
    copy.write_text(GOOD, encoding="utf-8")
    p, text = spawn(tmp_path, cfg)
    try:
        assert wait_for(lambda: "running on the last good config" in text(), 20), text()[-3000:]
        screenshot(p, tmp_path, artifacts / "config-fallback-marker.png")
        fixed = GOOD + "# fixed by the technician\n"
        cfg.write_text(fixed, encoding="utf-8")
        # after 10 s untouched on the rating screen it restarts on kiosk.yaml, which becomes the good copy
        assert wait_for(lambda: copy.read_text(encoding="utf-8") == fixed, 40), text()[-3000:]
        assert "restarting the kiosk on it" in text() and p.poll() is None
        after = artifacts / "config-fallback-fixed.png"
        screenshot(p, tmp_path, after)
        assert after.read_bytes() != (artifacts / "config-fallback-marker.png").read_bytes()  # no marker
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
