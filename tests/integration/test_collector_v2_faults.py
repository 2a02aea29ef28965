"""Completeness through faults: a v2 kiosk's numbered stream through collector kill -9 arrives whole,
every seq once, and the audit says so (exit 0, no gap), on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broker.contract import RatingV2, StatusV2, encode
from tests.integration.test_collector_faults import _exactly
from tests.integration.test_collector_support import CollectorProc, Publisher, unique, wait_count

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
N = 5000


def test_kill_9_mid_stream_leaves_every_v2_outbox_complete_with_no_gap(mosquitto, tmp_path, db_url):
    prefix = unique("kv2") + "/v1"
    epoch, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    ratings = [encode(RatingV2(id=str(uuid.uuid4()), site="ubnd-test", device="quay-01", ts=now, rating=1 + i % 5,
                               scale=5, lang="vi", epoch=epoch, seq=i + 1, boot="boot1", mono_ms=1000 + i,
                               clock="synced")) for i in range(N)]
    status = encode(StatusV2(site="ubnd-test", device="quay-01", state="online", ts=now, app_version="2",
                             outbox_depth=N, boot="boot1", mono_ms=999, clock="synced", epoch=epoch, seq_last=N))
    col = CollectorProc(tmp_path, mosquitto.port, db_url, prefix=prefix, max_size=500).start()
    Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/status", [status]).run()
    # a stream of several seconds, so both kills land while it flows even on a busy machine
    pub = Publisher(mosquitto.port, f"{prefix}/ubnd-test/quay-01/rating", ratings, chunk=250, pause_s=0.25)
    try:
        pub.start()
        for at in (1500, 3000):
            stored = wait_count(db_url, at, timeout=30)
            col.kill9()
            assert stored < N, "everything was already stored: the kill was not mid-stream"
            col.start()
        pub.join_ok()
        _exactly(db_url, N)
        month = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
        out = subprocess.run([sys.executable, "-m", "collector", "audit", "--config", str(col.config), "--db", db_url,
                              "--period", month, "--format", "json"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        [d] = json.loads(out.stdout)["devices"]
        assert (d["created"], d["received"], d["missing"], d["missing_ranges"]) == (N, N, 0, [])
    finally:
        col.stop()
