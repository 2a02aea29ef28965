"""The thank-you QR end to end, every part real: the kiosk window (Xvfb) with a real touch on a face; the QR
read off its screenshot by zbarimg; the link opened in headless Chromium on a 390 px phone without script,
answered while the kiosk is still offline (the answer waits); the kiosk's own uplink then sends its outbox row
through Mosquitto to the real `python -m collector run`, which joins the answer to the rating; the form runs as the real
`python -m collector followup serve`; the dashboard's /followup page and /api/v1/followup show the answer with
that rating's face and counter. A second answer with the same link, and a forged link, are refused."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest

from collector.storage.db import connect
from broker import followup_tokens as tokens
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from config.kiosk import KioskConfig
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from tests.e2e.chain import start_collector, wait_for
from tests.integration.test_dashboard_scope_matrix import login, request
from tests.servers import free_port, wait_port
from tests.ui.test_followup_qr_kiosk import ROOT, run_driver

pytestmark = [pytest.mark.ui, pytest.mark.window, pytest.mark.mosquitto]
ADMIN_PASSWORD = "mật-khẩu-quản-trị-chuỗi"
CFG = CollectorConfig.model_validate({
    "sites": [{"slug": "lam-dong", "name": "Tỉnh Lâm Đồng", "communes": [
        {"slug": "xa-tan-lap", "name": "Xã Tân Lập", "centres": [
            {"site": "ubnd-xa-tan-lap", "name": "Bộ phận một cửa xã Tân Lập",
             "counters": [{"device": "quay-01", "name": "Quầy 1 - Hộ tịch"}]}]}]}],
    "dashboard": {"password": {"env": "UNUSED_IN_TESTS"}}})


def test_tap_scan_answer_on_a_phone_and_find_it_joined_on_the_dashboard_and_the_api(
        tmp_path, mosquitto, browser, artifacts):
    data = run_driver(tmp_path, artifacts / "followup-chain-kiosk.png")
    scanned = subprocess.run(["zbarimg", "--raw", "-q", str(artifacts / "followup-chain-kiosk.png")],
                             capture_output=True, text=True, timeout=30)
    assert scanned.returncode == 0, scanned.stderr
    link = scanned.stdout.strip()
    assert link == data["link"]
    rid, token = tokens.parse(urlsplit(link).path.rsplit("/", 1)[1])

    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    collector = start_collector(tmp_path, mosquitto.port, db_url)
    port = free_port()
    (tmp_path / "form.yaml").write_text(f"kind: collector\ndatabase: {{url: '{db_url}'}}\n"
                                        f"followup_form: {{port: {port}}}\n", encoding="utf-8")
    form = subprocess.Popen([sys.executable, "-m", "collector", "followup", "serve", "--config",
                             str(tmp_path / "form.yaml")], cwd=ROOT, stdout=open(tmp_path / "form.log", "wb"),
                            stderr=subprocess.STDOUT)
    db = connect(db_url)
    dash = server = None
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False,
                                  is_mobile=True, has_touch=True)
    try:
        wait_port(port, 20)
        phone = f"http://127.0.0.1:{port}{urlsplit(link).path}"  # the QR's path, on the test's own listener
        page = context.new_page()
        assert page.goto(phone).status == 200
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator("input[name=staff][value='1']").check()
        page.locator("input[name=result][value='3']").check()
        page.locator("#comment").fill("Quét từ kiosk, chờ quá lâu <script>x</script>")
        page.locator("button[type=submit]").click()
        assert "Cảm ơn bạn đã góp ý" in page.locator("h1").inner_text()
        assert db.query("SELECT state FROM followup_answers WHERE rating_id = ?", (rid,)) == [("pending",)]

        # the kiosk comes back online: its own uplink sends the outbox row and forgets it only on the receipt
        box = Outbox(tmp_path / "outbox.db")
        assert len(box.peek(0, 10)) == 1
        uplink = Uplink(KioskConfig.model_validate({"site": "ubnd-xa-tan-lap", "device": "quay-01", "broker": {
            "host": "127.0.0.1", "port": mosquitto.port}}), box).start()
        try:
            assert wait_for(lambda: box.depth() == 0, 60), collector.tail()
        finally:
            uplink.stop()
            box.close()
        assert db.scalar("SELECT COUNT(*) FROM ratings WHERE id = ?", (rid,)) == 1
        assert db.query("SELECT state, site, device, s_staff FROM followup_answers WHERE rating_id = ?", (rid,)) == [
            ("joined", "ubnd-xa-tan-lap", "quay-01", 1)]

        assert page.goto(phone).status == 200 and "Đã nhận ý kiến" in page.locator("h1").inner_text()
        assert page.locator("form").count() == 0  # the same link again: already received
        forged = phone.rsplit(".", 1)[0] + "." + tokens.new_token()
        assert page.goto(forged).status == 404 and "Liên kết không hợp lệ" in page.locator("h1").inner_text()
        page.screenshot(path=str(artifacts / "followup-chain-forged-390.png"))

        month = datetime.now(timezone.utc).strftime("%Y-%m")
        dash = Dashboard(CFG, db, ADMIN_PASSWORD)
        server, url = start_in_thread(dash)
        cookie = {"Cookie": "hl_session=" + login(url, "admin", ADMIN_PASSWORD)}
        status, _, body = request(url, "GET", f"/followup?period={month}", cookie)
        html = body.decode()
        assert status == 200 and f'data-rating="{rid}"' in html
        assert "1/5" in html and "Bộ phận một cửa xã Tân Lập" in html and "&lt;script&gt;x&lt;/script&gt;" in html
        status, _, body = request(url, "GET", f"/api/v1/followup?period={month}", cookie)
        [answer] = json.loads(body)["answers"]
        assert (answer["rating_id"], answer["rating"], answer["scale"], answer["device"], answer["staff"],
                answer["result"]) == (rid, 1, 5, "quay-01", 1, 3)
    finally:
        context.close()
        if server is not None:
            server.shutdown()
            server.server_close()
            dash.close()
        form.terminate()
        form.wait(10)
        collector.stop()
        db.close()
    assert "Traceback" not in (tmp_path / "form.log").read_text(errors="replace")
