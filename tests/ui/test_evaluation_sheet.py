"""The officer evaluation sheet as a manager prints it: the real ``report --by officer-evaluation``
over a collector database filled by the real ingest, as HTML shown in real Chromium (screenshot for the
README), and as CSV; hostile names from collector.yaml are shown as text, never run."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broker.contract import encode
from collector.storage.db import connect
from collector.ingest.ingest import Message, classify
from collector.ingest.store import Store
from tests.integration.test_collector_v2 import Kiosk

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]
TZ = "Asia/Ho_Chi_Minh"
HOSTILE = '=HYPERLINK("http://x","<b>Lan</b>")'


def fill(db_url: str) -> None:
    db = connect(db_url)
    store = Store(db)
    msgs = []
    h = 3600
    for device, officer, values in (("quay-01", "tran-thi-binh", [5] * 9 + [2]), ("quay-02", "le-van-cuong", [5, 4, 3, 2, 5, 5]),
                                    ("quay-03", "pham-lan", [5, 5])):
        k = Kiosk("hailong/v1", "ubnd-xa-tan-lap", device, synced=True, booted_s_ago=9 * h)
        sign_in = k.event("sign_in", officer=officer, service="ho-tich")
        items = [sign_in.model_copy(update={"ts": k.wall(8 * h), "mono_ms": k.mono_ms(8 * h)})]
        for i, v in enumerate(values):
            items.append(k.rating(value=v, ago_s=(7 - 0.5 * i) * h, officer=officer, service="ho-tich",
                                  reason="waiting" if v <= 2 else None))
        out = k.event("sign_out", officer=officer, service="ho-tich")
        items.append(out.model_copy(update={"ts": k.wall(2 * h), "mono_ms": k.mono_ms(2 * h)}))
        for m in items:
            kind = "event" if m.__class__.__name__ == "Event" else "rating"
            msgs.append(Message(k.topic(kind), encode(m), len(msgs) + 1, received=time.time()))
    k = Kiosk("hailong/v1", "ubnd-xa-tan-lap", "quay-04", synced=True)
    msgs += [Message(k.topic("rating"), encode(k.rating(value=4, ago_s=3 * h)), 999, received=time.time())]
    store.write(classify(msgs))
    db.close()


def test_evaluation_sheet_printable_and_csv(tmp_path, artifacts, doc_image, browser):
    db_url = f"sqlite:///{tmp_path / 'ratings.db'}"
    fill(db_url)
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"""kind: collector
timezone: {TZ}
database: {{url: '{db_url}'}}
labels:
  officers: {{tran-thi-binh: "Trần Thị Bình", le-van-cuong: "Lê Văn Cường", pham-lan: '{HOSTILE}'}}
  reasons: {{waiting: "Chờ đợi lâu"}}
evaluation:
  min_ratings: 5
  grade_min_ratings: 5
""", encoding="utf-8")
    now = datetime.now(ZoneInfo(TZ))
    window = ["--since", (now - timedelta(days=1)).date().isoformat(), "--until", now.date().isoformat()]

    def report(*args):
        out = subprocess.run([sys.executable, "-m", "collector", "report", "--config", str(cfg), *window,
                              "--by", "officer-evaluation", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out

    html = tmp_path / "evaluation.html"
    report("--format", "html", "--output", str(html))
    page = html.read_text(encoding="utf-8")
    assert "<b>Lan</b>" not in page and "&lt;b&gt;Lan&lt;/b&gt;" in page
    assert "<td>Tốt</td>" in page and "90.0 %" in page
    text = report().stdout
    # Bình 9 of 10 satisfied (90.0 %, Tốt), Cường 4 of 6 (66.7 %, Trung bình), Lan 2 ratings: hidden
    assert "90.0 %" in text and "Tốt" in text and "66.7 %" in text and "Trung bình" in text
    assert "ẩn (< 5 đánh giá)" in text
    csv = report("--format", "csv").stdout
    assert "'=HYPERLINK" in csv  # a formula-like name is typed text in a spreadsheet

    pg = browser.new_page(viewport={"width": 1400, "height": 700})
    pg.goto(html.as_uri())
    alerts = []
    pg.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    assert pg.locator("table").count() == 2
    pg.screenshot(path=str(artifacts / "officer-evaluation.png"), full_page=True)
    pg.close()
    assert not alerts
    doc_image(artifacts / "officer-evaluation.png", "officer-evaluation.png")
