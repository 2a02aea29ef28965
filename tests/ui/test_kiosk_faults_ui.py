"""The real kiosk window under Xvfb when its disk fills up: a tap the disk refuses is not thanked;
an honest, drawn "out of order, tell the counter" screen shows instead (no black screen, no crash),
the technician view names the fault, and when space returns the kiosk comes back by itself with the
held rating written once. The outbox sits on a real 2 MB tmpfs that the driver fills.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_kiosk_storage_faults import _mount
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_faults_driver.py"
PIN = "2468"
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
languages: {enabled: [vi, en]}
timeouts: {thank_you_s: 1}
settle_s: 0  # these scripted taps come right after a screen appears
technician: {pin: {env: KIOSK_TEST_PIN}, hold_s: 1}
outbox: {path: disk/outbox.db}
"""


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def run_driver(tmp_path: Path, outbox: Path, artifacts: Path, mode: str) -> tuple[dict, dict]:
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    env = window_env(tmp_path, KIOSK_TEST_PIN=PIN)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(outbox), str(artifacts), str(result), mode],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    return data, {s["step"]: s for s in data["steps"]}


def test_a_damaged_outbox_still_opens_the_window_and_the_technician_reads_the_salvage(tmp_path, artifacts):
    """Was: a crash before any window, on every restart (a black screen)."""
    from tests.unit.test_kiosk_outbox import damage, filled

    (tmp_path / "disk").mkdir()
    path, made = filled(tmp_path / "disk", 120)
    damage(path, "header")
    data, steps = run_driver(tmp_path, path, artifacts, "salvaged")
    assert steps["start"]["screen"] == "rating" and steps["start"]["fault"] is None
    info = data["tech_info"]
    assert "Hộp thư đi bị hỏng / Outbox was corrupt" in info and "salvaged 120, không đọc được / unreadable 0" in info
    assert "kept as o.db.corrupt-" in info and "Lưu trữ / Storage: ok" in info
    assert steps["thanks"]["screen"] == "thanks"
    assert data["outbox_ids"][:120] == made and len(data["outbox_ids"]) == 121


def test_a_full_disk_shows_out_of_order_and_the_kiosk_heals_by_itself(small_disk, tmp_path, artifacts, doc_image):
    data, steps = run_driver(tmp_path, small_disk / "outbox.db", artifacts, "diskfull")

    assert steps["durable"]["screen"] == "thanks"
    full = steps["disk_full"]
    assert full["screen"] == "outoforder" and full["fault"] == "disk full" and full["held"] == 1
    for text in ("Máy tạm ngừng hoạt động", "Out of order", "Xin Ông/Bà vui lòng báo cho cán bộ tại quầy.",
                 "Please tell the staff at the counter."):
        assert any(text in t for t in full["texts"]), full["texts"]
    assert not any("cảm ơn" in t or "Thank you" in t for t in full["texts"])  # no thanks for a lost tap
    assert steps["tapped_again"]["screen"] == "outoforder" and steps["tapped_again"]["held"] == 1
    assert steps["still_full"]["screen"] == "outoforder"
    assert steps["technician"]["screen"] == "technician"
    assert "Lưu trữ / Storage: DISK FULL" in data["tech_info"] and "held in memory: 1" in data["tech_info"]
    assert "thẻ nhớ đầy" in data["tech_info"]
    assert steps["after_technician"]["screen"] == "outoforder"
    # healed without a touch, within a few retries
    assert steps["healed"]["screen"] == "rating" and steps["healed"]["fault"] is None and data["healed_s"] < 8
    assert steps["thanks_again"]["screen"] == "thanks"
    # nothing lost, nothing doubled: every tap once, in tap order, numbered without a gap
    assert data["outbox_ids"] == data["tapped"] and len(set(data["tapped"])) == len(data["tapped"])
    assert data["seq_last"] == len(data["tapped"])
    for name in ("kiosk-out-of-order", "kiosk-technician-disk-full", "kiosk-healed"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
    doc_image(artifacts / "kiosk-out-of-order.png", "kiosk-out-of-order.png")
