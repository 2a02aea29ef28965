"""Completeness on the dashboard in headless Chromium: device health shows each kiosk's received share
and missing seqs, and a gap open longer than completeness.gap_alert_after_min is an alert."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from broker.contract import RatingV2, StatusV2, encode
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store
from collector.web.server import Dashboard, start_in_thread
from config.collector import CollectorConfig
from tests.ui.test_dashboard_browser import CFG, PASSWORD, login

NOW = datetime(2026, 10, 28, 4, 0, tzinfo=timezone.utc)
EPOCH = "33333333-3333-4333-8333-333333333333"


def stream(device: str, seqs: list[int], seq_last: int, at: datetime) -> list[Message]:
    t = at.timestamp()
    msgs = [Message(f"hailong/v1/ubnd-tan-lap/{device}/status", encode(StatusV2(
        site="ubnd-tan-lap", device=device, state="online", ts=at, app_version="2.0", outbox_depth=0, boot="b1",
        mono_ms=3_600_000, clock="synced", epoch=EPOCH if device == "quay-01" else str(uuid.uuid4()),
        seq_last=seq_last)), 1, 1, False, t)]
    for s in seqs:
        msgs.append(Message(f"hailong/v1/ubnd-tan-lap/{device}/rating", encode(RatingV2(
            id=str(uuid.uuid4()), site="ubnd-tan-lap", device=device, ts=at, rating=5, scale=5, lang="vi",
            epoch=_epoch(msgs[0]), seq=s, boot="b1",
            mono_ms=3_600_000, clock="synced")), s + 1, 1, False, t))
    return msgs


def _epoch(status: Message) -> str:
    import json
    return json.loads(status.payload)["epoch"]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('dashc') / 'ratings.db'}")
    store = Store(db)
    # quay-01: seqs 3 and 5 never arrived, known for two hours; quay-02 complete, with a new outbox.
    store.write(classify(stream("quay-01", [1, 2, 4, 6], 6, NOW - timedelta(hours=2))))
    store.write(classify(stream("quay-02", [1, 2, 3], 3, NOW - timedelta(hours=2))))
    store.write(classify(stream("quay-02", [1], 1, NOW - timedelta(hours=1))))  # its SD card was replaced
    cfg = CollectorConfig.model_validate({**CFG.model_dump(), "completeness": {"gap_alert_after_min": 30}})
    app = Dashboard(cfg, db, PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    yield url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def test_device_health_shows_completeness_and_an_open_gap_is_an_alert(browser, dashboard):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(dashboard + "/login")
    login(page, dashboard)
    page.goto(dashboard + "/devices")
    rows = {tuple(r.split("\t")[:2]): r for r in page.inner_text("table tbody").splitlines() if "\t" in r}
    rows = {device: r for (site, device), r in rows.items() if site == "ubnd-tan-lap"}
    assert "66.7 %" in rows["quay-01"] and rows["quay-01"].rstrip().endswith("3, 5")
    assert "100.0 %" in rows["quay-02"] and rows["quay-02"].rstrip().endswith(
        "đã thay hộp thư đi ngày 2026-10-28 / outbox replaced on 2026-10-28")  # Vietnamese first
    page.goto(dashboard + "/alerts")
    text = page.inner_text("main")
    assert "Bản tin thiếu quá 30 phút" in text
    gap_lines = [line for line in text.splitlines() if line.startswith("ubnd-tan-lap\tquay-01\t33333333")]
    assert [line.split("\t")[3] for line in gap_lines] == ["3", "5"]
    page.close()
