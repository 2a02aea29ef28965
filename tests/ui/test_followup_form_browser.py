"""The thank-you QR's form in headless Chromium on a 390 px phone with JavaScript off: it fits the width,
reads Vietnamese first, takes an answer by tapping and typing, and a second visit says already received."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest

from broker.contract import RatingV2, encode
from collector.storage.db import connect
from broker import followup_tokens as tokens
from collector.followup.form import FollowupApp, start_in_thread
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store
from config.collector import FollowupForm


@pytest.fixture
def served(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'ratings.db'}")
    rid, token = str(uuid.uuid4()), tokens.new_token()
    msg = RatingV2(id=rid, site="ubnd-xa-tan-lap", device="quay-01", ts=datetime.now(timezone.utc), rating=2,
                   scale=5, lang="vi", epoch=str(uuid.uuid4()), seq=1, boot="b1", mono_ms=1000, clock="synced",
                   followup_hash=tokens.token_hash(rid, token))
    Store(db).write(classify([Message("hailong/v1/ubnd-xa-tan-lap/quay-01/rating", encode(msg), 1, 1, False,
                                      time.time())]))
    server, base = start_in_thread(FollowupApp(FollowupForm(), db))
    yield tokens.link(base, rid, token), db, rid
    server.shutdown()
    server.server_close()
    db.close()


def test_the_form_on_a_390_px_phone_without_javascript(browser, served, artifacts, doc_image):
    url, db, rid = served
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False,
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        assert page.goto(url).status == 200
        # nothing wider than the phone: no sideways scrolling (measured with script in a second context)
        page.screenshot(path=str(artifacts / "followup-form-390.png"), full_page=True)
        page.screenshot(path=str(artifacts / "followup-form-390-top.png"))  # what the phone shows first
        doc_image(artifacts / "followup-form-390-top.png", "followup-form-phone.png")
        heading = page.locator("h1").inner_text()
        assert heading.startswith("Góp ý thêm") and "Say more" in heading
        for name in ("access", "staff", "result"):
            page.locator(f"input[name={name}][value='2']").check()
        page.locator("#comment").fill("Phải chờ hơn một giờ <b>mới</b> được gọi")
        page.locator("#contact").fill("can.bo@example.vn")
        page.locator("button[type=submit]").click()
        assert "Cảm ơn bạn đã góp ý" in page.locator("h1").inner_text()
        page.screenshot(path=str(artifacts / "followup-thanks-390.png"))
        page.goto(url)
        assert "Đã nhận ý kiến, cảm ơn bạn" in page.locator("h1").inner_text()
        assert page.locator("form").count() == 0
    finally:
        context.close()
    assert db.query("SELECT s_access, s_procedure, s_staff, comment, contact FROM followup_answers "
                    "WHERE rating_id = ? AND state = 'joined'", (rid,)) == [
        (2, None, 2, "Phải chờ hơn một giờ <b>mới</b> được gọi", "can.bo@example.vn")]


def test_the_form_fits_a_360_px_screen(browser, served):
    url, _, _ = served
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('legend')).fontSize)")
        assert size >= 16  # readable without zooming
        box = page.locator("input[name=access][value='5']").locator("xpath=..").bounding_box()
        assert box["height"] >= 44  # a finger-sized target
        assert page.evaluate("document.scripts.length") == 0
    finally:
        context.close()
