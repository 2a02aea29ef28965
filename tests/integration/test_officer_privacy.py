"""An officer with fewer ratings than evaluation.min_ratings keeps a name and a count everywhere figures are
grouped by officer, never a rate, a score, a face or a reason: the dashboard's ranking and printable report
(HTML, CSV, XLSX), the API (summaries by officer and with ?officer=, the officers endpoint), the command
line's report, and the e-mailed report (XLSX, PDF through a real SMTP server). The officer with enough
ratings beside it keeps its figures in each place, so each check can fail."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from collector.accounts.accounts import Scope
from collector.storage.db import connect
from collector.web.server import Dashboard, start_in_thread
from config import load
from tests.alert_data import SITES, TZ, add_ratings, local
from tests.integration.test_bootstrap_admin import log_in, request
from tests.smtp_server import PASSWORD as SMTP_PASSWORD, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
FEW, MANY = "can-bo-it", "nguyen-van-an"  # 1 rating (the saddest face, a reason) / 12 ratings
MANY_NAME = "Nguyễn Văn An"
ADMIN_PASSWORD = "mat-khau-quan-tri-1"
PERIOD = "2026-07"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("smtp")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, smtp):
    tmp = tmp_path_factory.mktemp("privacy")
    db_url = f"sqlite:///{tmp / 'r.db'}"
    data = {"kind": "collector", "timezone": TZ, "database": {"url": db_url}, "sites": SITES,
            "labels": {"officers": {MANY: MANY_NAME}, "reasons": {"waiting": {"vi": "Chờ đợi lâu", "en": "Long wait"}}},
            "dashboard": {"password": {"env": "HL_PRIVACY_ADMIN_PW"}},
            "notify": {"smtp": smtp.smtp_config(), "recipients": [
                {"name": "Chủ tịch xã Tân Lập", "email": "tanlap@example.vn", "scope": "xa-tan-lap",
                 "reports": ["month"]}]}}
    path = tmp / "collector.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    db = connect(db_url)
    t = local("2026-07-06 08:00")
    add_ratings(db, "ubnd-tan-lap", "quay-01", t, [1], officer=FEW, service="ho-tich", reason="waiting")
    add_ratings(db, "ubnd-tan-lap", "quay-02", t, [5, 5, 4, 1, 2, 5, 4, 4, 5, 3, 5, 4], officer=MANY,
                service="ho-tich", reason="waiting")
    db.close()
    env = {**os.environ, "HAILONG_TEST_SMTP_PASSWORD": SMTP_PASSWORD, "HL_PRIVACY_ADMIN_PW": ADMIN_PASSWORD}
    return path, db_url, env, tmp


@pytest.fixture(scope="module")
def served(setup):
    path, db_url, env, _ = setup
    cfg = load(path, kind="collector")
    db = connect(db_url)
    app = Dashboard(cfg, db, ADMIN_PASSWORD, now=lambda: datetime(2026, 8, 10, 3, 0, tzinfo=timezone.utc))
    _, token = app.store.add_token("BI", Scope("all"), None)
    server, url = start_in_thread(app)
    yield url, log_in(url, "admin", ADMIN_PASSWORD), token
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


# ------------------------------------------------------------------------------ what "hidden" looks like
FIGURES = ("Tỷ lệ hài lòng", "Điểm TB (0-100)", "Satisfied", "Mean score (0-100)")


def figure_cells(headers: list, row: list) -> list:
    """The rate, score and per-face cells of one table row."""
    return [v for h, v in zip(headers, row) if str(h) in FIGURES or str(h).startswith(("Mức ", "Level "))]


def check_table(headers: list, rows: list[list], where: str) -> None:
    few = [r for r in rows if FEW in [str(v) for v in r]]
    many = [r for r in rows if MANY in [str(v) for v in r] or MANY_NAME in [str(v) for v in r]]
    assert len(few) == 1 and many, (where, rows)
    assert all(v in (None, "") for v in figure_cells(headers, few[0])), (where, headers, few[0])
    assert 1 in few[0] or "1" in few[0], (where, few[0])  # its count is still there
    assert any(v not in (None, "", 0, "0") for v in figure_cells(headers, many[0])), (where, many[0])


def check_csv(body: bytes, where: str, title_word: str | None = None) -> None:
    """Every table of a CSV download that holds the officers (tables are separated by a blank line)."""
    text = body.decode("utf-8-sig")
    found = 0
    for block in text.split("\r\n\r\n"):
        rows = [r for r in csv.reader(io.StringIO(block)) if r]
        for k, r in enumerate(rows):
            if "Tỷ lệ hài lòng" in r or "Satisfied" in r:
                table = rows[k + 1:]
                if any(FEW in c for row in table for c in row):
                    check_table(r, table, where)
                    found += 1
                break
    assert found, (where, text[:500])


def check_xlsx(body: bytes, sheet_word: str, where: str) -> None:
    wb = load_workbook(io.BytesIO(body))
    checked = 0
    for name in [n for n in wb.sheetnames if sheet_word in n]:
        rows = [[c.value for c in row] for row in wb[name].iter_rows()]
        heads = [i for i, r in enumerate(rows) if "Tỷ lệ hài lòng" in r or "Satisfied" in r]
        if heads and any(FEW in [str(v) for v in r] for r in rows):
            check_table(rows[heads[0]], rows[heads[0] + 1:], f"{where} {name}")
            checked += 1
    assert checked, (where, wb.sheetnames)


def check_html(body: bytes, where: str) -> None:
    html = body.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
    few = [r for r in rows if FEW in r]
    many = [r for r in rows if MANY_NAME in r and "%" in r]
    assert few and many, where
    assert all("%" not in r for r in few), (where, few)


def check_json_rows(rows: list[dict], where: str, officer_at: int = 0) -> None:
    few = [r for r in rows if r["keys"][officer_at] == FEW] if rows and "keys" in rows[0] else \
        [r for r in rows if r["group"] == FEW]
    assert len(few) == 1, (where, few)  # folded into one row, whatever else it was grouped by
    r = few[0]
    assert r.get("hidden") is True and r["count"] == 1, (where, r)
    assert r["satisfied_rate"] is None and r["mean_score"] is None and r["levels"] == {} and r["satisfied"] is None
    assert "waiting" not in json.dumps(r), (where, r)


# ------------------------------------------------------------------------------ every place
def test_every_grouping_by_officer_hides_an_officer_below_the_minimum(setup, served, smtp, tmp_path):
    path, _, env, _ = setup
    url, cookie, token = served
    api = {"Authorization": f"Bearer {token}"}

    def get(p: str, headers: dict | None = None) -> bytes:
        import http.client
        from urllib.parse import urlsplit
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port, timeout=60)
        conn.request("GET", p, headers=headers or {"Cookie": f"hl_session={cookie}"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200, (p, resp.status, body[:300])
        return body

    # the dashboard: ranking by officer and the printable report, on screen and downloaded
    check_html(get(f"/ranking?dim=officer&period={PERIOD}"), "/ranking")
    check_csv(get(f"/ranking.csv?dim=officer&period={PERIOD}"), "/ranking.csv")
    check_xlsx(get(f"/ranking.xlsx?dim=officer&period={PERIOD}"), "Xếp hạng", "/ranking.xlsx")
    check_html(get(f"/report?period={PERIOD}"), "/report")
    check_csv(get(f"/report.csv?period={PERIOD}"), "/report.csv")
    check_xlsx(get(f"/report.xlsx?period={PERIOD}"), "Cán bộ", "/report.xlsx")
    officers = get(f"/officers?period={PERIOD}").decode()
    assert FEW in officers

    # the API
    for by in ("officer", "officer,reason", "officer,day", "reason,officer"):
        rows = json.loads(get(f"/api/v1/summary?by={by}&period={PERIOD}", api))["rows"]
        check_json_rows(rows, f"summary by={by}", officer_at=by.split(",").index("officer"))
        assert any(r["keys"][by.split(",").index("officer")] == MANY and r["satisfied_rate"] is not None
                   for r in rows), by
    for by in ("", "reason"):
        rows = json.loads(get(f"/api/v1/summary?officer={FEW}&by={by}&period={PERIOD}", api))["rows"]
        assert len(rows) == 1 and rows[0]["hidden"] and rows[0]["count"] == 1, (by, rows)
        assert rows[0]["satisfied_rate"] is None and rows[0]["levels"] == {}, (by, rows)
        assert "waiting" not in json.dumps(rows)
    mine = json.loads(get(f"/api/v1/summary?officer={MANY}&by=reason&period={PERIOD}", api))["rows"]
    assert sum(r["count"] for r in mine) == 12 and all(r["satisfied_rate"] is not None for r in mine), mine
    check_csv_api = get(f"/api/v1/summary?by=officer&period={PERIOD}&format=csv", api).decode("utf-8-sig")
    few_line = [line for line in check_csv_api.splitlines() if f",{FEW}," in line or line.startswith(f'"[""{FEW}')]
    assert few_line and "%" not in few_line[0] and ",0.0," not in few_line[0], check_csv_api
    officers_api = json.loads(get(f"/api/v1/officers?period={PERIOD}", api))
    few_officer = [o for o in officers_api["officers"] if o["officer"] == FEW]
    assert few_officer and few_officer[0]["hidden"], officers_api

    # the command line's report
    done = cli(env, "report", "--config", str(path), "--period", PERIOD, "--by", "officer", "--format", "json")
    assert done.returncode == 0, done.stderr
    check_json_rows(json.loads(done.stdout)["rows"], "collector report --format json")
    done = cli(env, "report", "--config", str(path), "--period", PERIOD, "--by", "officer", "--format", "csv")
    check_csv(done.stdout.encode(), "collector report --format csv")
    out = tmp_path / "officers.xlsx"
    assert cli(env, "report", "--config", str(path), "--period", PERIOD, "--by", "officer", "--format", "xlsx",
               "--output", str(out)).returncode == 0
    check_xlsx(out.read_bytes(), "", "collector report --format xlsx")

    # the e-mailed report, as the recipient receives it
    sent = cli(env, "reports", "send", "--config", str(path), "--period", PERIOD)
    assert sent.returncode == 0 and "delivered 1" in sent.stdout, sent.stdout + sent.stderr
    msg = [m for _, m, _, _ in smtp.inbox.messages if m["To"] == "tanlap@example.vn"][-1]
    files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    xlsx = next(v for k, v in files.items() if k.endswith(".xlsx"))
    check_xlsx(xlsx, "Cán bộ", "e-mailed XLSX")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(next(v for k, v in files.items() if k.endswith(".pdf")))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    few_lines = [line for line in text.splitlines() if FEW in line]
    many_lines = [line for line in text.splitlines() if MANY_NAME in line]
    assert few_lines and all("%" not in line for line in few_lines), few_lines
    assert many_lines and any("%" in line for line in many_lines), many_lines
