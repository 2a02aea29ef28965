"""The kiosk command line: help, clear errors, the broker override."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.__main__ import mqtt_url, size

ROOT = Path(__file__).resolve().parents[2]


def kiosk(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_help_names_both_commands_and_examples():
    out = kiosk("--help")
    assert out.returncode == 0
    for word in ("run", "simulate", "--config", "Examples"):
        assert word in out.stdout
    sim = kiosk("simulate", "--help")
    for word in ("--count", "--rate", "--mqtt-url", "--outbox", "--no-wait", "--journal"):
        assert word in sim.stdout
    assert "--windowed" in kiosk("run", "--help").stdout


def test_bad_config_is_one_clear_message(tmp_path):
    """--check-only checks as the start does and exits 2; without it the kiosk shows the config problem
    page instead (tests/ui/test_kiosk_config_problem.py)."""
    bad = tmp_path / "kiosk.yaml"
    bad.write_text("kind: kiosk\nsite: Not A Slug\ndevice: quay-01\n", encoding="utf-8")
    out = kiosk("--config", str(bad), "--check-only")  # 'run' is the default command
    assert out.returncode == 2
    assert "kiosk.yaml:2: site" in out.stderr and "Traceback" not in out.stderr
    out = kiosk("simulate", "--config", str(bad), "--count", "1")
    assert out.returncode == 2 and "kiosk.yaml:2: site" in out.stderr


def test_check_only_names_a_missing_ca_and_says_when_a_last_good_copy_would_run(tmp_path):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text("kind: kiosk\nsite: a\ndevice: b\nbroker:\n  port: 8883\n  tls: {ca: ca.crt}\n", encoding="utf-8")
    out = kiosk("run", "--config", str(cfg), "--check-only")
    assert out.returncode == 2
    assert f"kiosk.yaml:6: broker.tls.ca: {tmp_path / 'ca.crt'}: file not found" in out.stderr
    (tmp_path / "kiosk.yaml.last-good").write_text("kind: kiosk\nsite: a\ndevice: b\n", encoding="utf-8")
    out = kiosk("run", "--config", str(cfg), "--check-only")
    assert out.returncode == 2 and f"would run on the last good config {tmp_path / 'kiosk.yaml.last-good'}" in out.stderr
    (tmp_path / "ca.crt").write_text("x")
    out = kiosk("run", "--config", str(cfg), "--check-only")
    assert out.returncode == 0 and out.stderr == ""


def test_mqtt_url_and_size_parsing():
    assert mqtt_url("mqtt://127.0.0.1:1999") == ("127.0.0.1", 1999)
    assert mqtt_url("mqtt://broker.local") == ("broker.local", 1883)
    assert mqtt_url("mqtts://broker.local") == ("broker.local", 8883)
    assert size("1280x800") == (1280, 800)
    for bad in ("http://x:1", "127.0.0.1:1883"):
        with pytest.raises(argparse.ArgumentTypeError):
            mqtt_url(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        size("big")


def test_simulate_no_wait_keeps_taps_in_outbox_when_offline(tmp_path):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text("kind: kiosk\nsite: a\ndevice: b\nbroker: {host: 127.0.0.1, port: 9}\n", encoding="utf-8")
    out = kiosk("simulate", "--config", str(cfg), "--count", "25", "--rate", "0", "--no-wait",
                "--outbox", str(tmp_path / "x.db"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "tapped 25/25, outbox 25" in out.stdout
    from kiosk.outbox import Outbox

    box = Outbox(tmp_path / "x.db")
    assert box.depth() == 25
    box.close()
