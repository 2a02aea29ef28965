"""``python -m collector audit`` on SQLite and PostgreSQL: the exit status says whether anything is
missing, --site narrows the scope, and the XLSX holds text and numbers only, never a formula."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from broker.contract import RatingV2, StatusV2, encode
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 10, 14, 3, 0, tzinfo=timezone.utc)
HOSTILE = '=HYPERLINK("http://evil.example","x")'
CONFIG = f"""kind: collector
timezone: Asia/Ho_Chi_Minh
sites:
  - slug: p1
    name: "Tỉnh Một"
    communes:
      - slug: c1
        name: "Xã Một"
        centres:
          - site: s-one
            name: "Trung tâm Một"
            counters: [{{device: d1, name: '{HOSTILE}'}}]
      - slug: c2
        name: "Xã Hai"
        centres:
          - site: s-two
            name: "Trung tâm Hai"
"""


def messages(site: str, seqs: list[int], seq_last: int) -> list[Message]:
    epoch, t = str(uuid.uuid4()), AT.timestamp()
    out = [Message(f"hailong/v1/{site}/d1/status", encode(StatusV2(
        site=site, device="d1", state="online", ts=AT, app_version="2", outbox_depth=0, boot="b", mono_ms=10_000,
        clock="synced", epoch=epoch, seq_last=seq_last)), 1, 1, False, t)]
    out += [Message(f"hailong/v1/{site}/d1/rating", encode(RatingV2(
        id=str(uuid.uuid4()), site=site, device="d1", ts=AT, rating=4, scale=5, lang="vi", epoch=epoch, seq=s,
        boot="b", mono_ms=10_000, clock="synced")), s + 1, 1, False, t) for s in seqs]
    return out


@pytest.fixture
def stored(db_url, tmp_path):
    db = connect(db_url)
    Store(db).write(classify(messages("s-one", [1, 2, 3], 3) + messages("s-two", [1, 3], 4)))
    db.close()
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg, db_url


def run(cfg, db_url, *args):
    return subprocess.run([sys.executable, "-m", "collector", "audit", "--config", str(cfg), "--db", db_url, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_exit_status_follows_what_is_missing_in_the_scope(stored):
    cfg, url = stored
    whole = run(cfg, url, "--period", "2026-10", "--format", "json")
    assert whole.returncode == 1 and "2 messages missing in 2 ranges" in whole.stderr
    got = json.loads(whole.stdout)
    assert [(d["site"], d["created"], d["received"], [(r["first"], r["last"]) for r in d["missing_ranges"]])
            for d in got["devices"]] == [("s-one", 3, 3, []), ("s-two", 4, 2, [(2, 2), (4, 4)])]
    assert got["summary"]["missing"] == 2 and got["complete"] is False
    assert run(cfg, url, "--period", "2026-10", "--site", "c1").returncode == 0  # a commune takes in its centre
    assert run(cfg, url, "--period", "2026-11", "--format", "json").returncode == 0  # nothing active then
    bad = run(cfg, url, "--period", "2026-13")
    assert bad.returncode == 2 and "not a month" in bad.stderr


def test_the_xlsx_holds_text_and_numbers_only(stored, tmp_path):
    from openpyxl import load_workbook

    cfg, url = stored
    out = tmp_path / "audit.xlsx"
    assert run(cfg, url, "--period", "2026-10", "--format", "xlsx", "--output", str(out), "--lang", "en").returncode == 1
    sheet = load_workbook(out).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type in ("s", "n") for c in cells), {c.coordinate: c.data_type for c in cells}
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][:7] == ["Site", "Device", "Name", "Ratings in period", "Created", "Received", "Missing"]
    assert values[2][:8] == ["s-one", "d1", f"{HOSTILE} (Trung tâm Một)", 3, 3, 3, 0, None]
    assert values[3][:8] == ["s-two", "d1", "s-two/d1", 2, 4, 2, 2, "2, 4"]
