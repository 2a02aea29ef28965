"""The thank-you QR on the real kiosk window (Xvfb): a real touch on a face, the QR read back from a
screenshot by a real decoder (zbarimg), and the link it holds opens the real form, which takes the answer
once the rating from the kiosk's outbox is stored."""
from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from broker.contract import decode
from collector.storage.db import connect
from broker import followup_tokens as tokens
from collector.followup.form import FollowupApp, start_in_thread
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store
from config.collector import FollowupForm
from kiosk.outbox import Outbox
from tests.ui.window_env import window_env

pytestmark = [pytest.mark.ui, pytest.mark.window]
ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "ui" / "followup_qr_driver.py"
CONFIG = """kind: kiosk
site: ubnd-xa-tan-lap
device: quay-01
followup_qr: {enabled: true, base_url: "https://gopy.lamdong.gov.vn", size_mm: 40, seconds: 8}
timeouts: {thank_you_s: 1}
repeat_window_s: 0
settle_s: 0
outbox: {path: outbox.db}
"""


def run_driver(tmp_path: Path, shot: Path) -> dict:
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    env = window_env(tmp_path)
    result = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(DRIVER), str(cfg), str(tmp_path / "outbox.db"), str(shot), str(result)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and result.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert not data["errors"], data["errors"]
    return data


def test_the_qr_on_the_thank_you_screen_opens_the_form_for_that_rating(tmp_path, artifacts, doc_image):
    shot = artifacts / "kiosk-thanks-qr-vi.png"
    data = run_driver(tmp_path, shot)
    doc_image(shot, "kiosk-thanks-qr-vi.png")
    assert data["segno_before_tap"] is False  # made only when the first code is drawn
    assert "Xin cảm ơn!" in data["texts"] and any("Quét mã" in t for t in data["texts"])
    assert data["thanks_s"] == 8 and data["still_thanks_after_1_5_s"]  # longer than thank_you_s: 1
    scanned = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, timeout=30)
    assert scanned.returncode == 0, f"zbarimg read no code from {shot}: {scanned.stderr}"
    link = scanned.stdout.strip()
    assert link == data["link"] and link.startswith("https://gopy.lamdong.gov.vn/f/")

    box = Outbox(tmp_path / "outbox.db")
    [row] = box.peek(0, 10)
    box.close()
    rating = decode(row.topic, row.payload)
    rid, token = tokens.parse(urlsplit(link).path.rsplit("/", 1)[1])
    assert rating.id == rid and rating.rating == 1 and rating.followup_hash == tokens.token_hash(rid, token)
    assert token.encode() not in row.payload

    db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
    Store(db).write(classify([Message(row.topic, row.payload, 1, 1, False, time.time())]))
    server, base = start_in_thread(FollowupApp(FollowupForm(), db))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(base).port, timeout=10)
        conn.request("POST", urlsplit(link).path, urlencode({"staff": "1", "comment": "Quét từ màn hình"}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        assert resp.status == 200 and "Cảm ơn bạn đã góp ý" in resp.read().decode()
        conn.close()
        assert db.query("SELECT state, site, device, s_staff FROM followup_answers WHERE rating_id = ?", (rid,)) == [
            ("joined", "ubnd-xa-tan-lap", "quay-01", 1)]
    finally:
        server.shutdown()
        server.server_close()
        db.close()
