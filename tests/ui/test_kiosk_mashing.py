"""A child mashing the real kiosk window (real multi-touch under Xvfb), at the shipped timings:
thank-you 4 s, repeat window 3 s, settle 0.4 s. Before, 500 taps in 20 s gave ratings whose follow-up
"reasons" were picked by the mashing and read as genuine complaints, and none was flagged."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker.contract import decode
from kiosk.outbox import Outbox
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "kiosk_mash_driver.py"
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
followup:
  reasons:
    - {key: waiting, texts: {vi: "Chờ đợi lâu", en: "Long waiting time"}}
    - {key: attitude, texts: {vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
    - {key: guidance, texts: {vi: "Hướng dẫn khó hiểu", en: "Unclear guidance"}}
    - {key: paperwork, texts: {vi: "Hồ sơ, giấy tờ phức tạp", en: "Too much paperwork"}}
outbox: {path: outbox.db}
"""


def test_mashing_with_several_fingers_gives_flagged_ratings_without_reasons(tmp_path, artifacts):
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    shots = artifacts / "mash"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(tmp_path / "outbox.db"), str(shots),
                          str(result), "10"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    assert data["touches"] >= 150 and data["screens"].get("thanks", 0) > 30, data  # the hands kept going

    box = Outbox(tmp_path / "outbox.db")
    rows = [decode(r.topic, r.payload) for r in box.peek(0, 100)]
    box.close()
    calm, mashed = rows[0], rows[1:]
    assert (calm.rating, calm.reason, calm.flags) == (5, None, [])
    assert 2 <= len(mashed) <= 4, [(r.rating, r.reason, r.flags) for r in mashed]
    # no complaint "reason" comes from a mashing hand
    assert all(r.reason is None for r in mashed), [(r.rating, r.reason, r.flags) for r in mashed]
    # the first tap of a mash cannot be told from a choice when it lands; every later rating is flagged
    assert all(r.flags == ["rapid_repeat"] for r in mashed[1:]), [(r.rating, r.flags) for r in mashed]
    # the thank-you screen does not show that anything was different
    assert (artifacts / "mash-thanks-calm.png").read_bytes() == (artifacts / "mash-thanks-mashed.png").read_bytes()
