"""The officers page, its printable sheet and XLSX, and /api/v1/officers over real HTTP, against the real
``python -m collector report --by officer-evaluation`` on the same hand-built data (tests/officer_data.py),
within scopes and with the privacy minimum."""
from __future__ import annotations

import csv
import html
import http.client
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from openpyxl import load_workbook

from collector.accounts.accounts import Scope
from collector.web.server import Dashboard, start_in_thread
from tests.officer_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, ZEBRA, seed, write_config

ROOT = Path(__file__).resolve().parents[2]


def request(url: str, path: str, headers: dict | None = None, method: str = "GET", body: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port, timeout=30)
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body, h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def login(url: str, username: str, password: str = PASSWORD) -> dict:
    status, headers, _ = request(url, "/login", method="POST",
                                 body=urlencode({"username": username, "password": password}))
    assert status == 303, (username, status)
    return {"Cookie": "hl_session=" + re.search(r"hl_session=([^;]+)", headers["set-cookie"]).group(1)}


def serve(db, cfg=CFG):
    app = Dashboard(cfg, db, ADMIN_PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    return app, server, url


@pytest.fixture
def served(db_url, tmp_path):
    """The same data in SQLite and in PostgreSQL: the page, the API and the command line agree on both."""
    db = seed(db_url)
    app, server, url = serve(db)
    app.store.add("tan-lap", PASSWORD, "viewer", Scope("commune", "xa-tan-lap"))
    app.store.add("zebra", PASSWORD, "viewer", Scope("commune", "xa-zebra-b"))
    yield app, url, db_url, tmp_path
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def page_rows(body: bytes) -> dict[str, dict[str, str]]:
    """officer key -> {rank, name, ratings, rate, ...} as the page shows them."""
    text = body.decode()
    out = {}
    for officer, row in re.findall(r'<tr data-officer="([^"]+)"[^>]*>(.*?)</tr>', text, re.S):
        out[html.unescape(officer)] = {k: html.unescape(re.sub(r"<[^>]+>", "", v)).strip()
                                       for k, v in re.findall(r'data-k="(\w+)">(.*?)</td>', row, re.S)}
    return out


def page_quality(body: bytes) -> dict[str, str]:
    return dict(re.findall(r'data-quality="([^"]+)"[^>]*>.*?<span class="share">([^<]+)</span>', body.decode(), re.S))


def cli_json(tmp_path: Path, db_url: str, *args: str) -> list[dict]:
    cfg = tmp_path / "collector.yaml"
    write_config(cfg, db_url)
    res = subprocess.run([sys.executable, "-m", "collector", "report", "--config", str(cfg), "--period", "2026-10",
                          "--by", "officer-evaluation", "--format", "json", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_page_and_api_figures_equal_the_command_lines_evaluation(served):
    app, url, db_url, tmp_path = served
    main, quality = cli_json(tmp_path, db_url, "--lang", "en")
    cli = {r[1]: dict(zip(main["headers"], r)) for r in main["rows"]}
    admin = login(url, "admin", ADMIN_PASSWORD)
    status, _, body = request(url, "/officers?period=2026-10&lang=en", admin)
    assert status == 200
    shown = page_rows(body)
    assert set(shown) == set(cli) == {"an", "binh", "cuong", "can-bo-zebra"}
    for key, want in cli.items():
        got = shown[key]
        hidden = isinstance(want["Satisfied"], str)  # the command line's "hidden (< 5 ratings)"
        assert got["ratings"] == str(want["Ratings"]), key
        assert got["rate"] == ("hidden" if hidden else f"{want['Satisfied'] * 100:.1f} %"), key
        assert got["rank"] == ("hidden" if hidden else str(want["Rank"])), key
        assert got["grade"] == ("hidden" if hidden else (want["Grade"] or "too few")), key
        assert got["hours"] == f"{want['Hours on duty']:.2f}", key
        assert got["per_hour"] == ("–" if want["Ratings per hour"] is None else f"{want['Ratings per hour']:.2f}"), key
        assert (got["answered"], got["expired"]) == (str(want["Requests answered"]), str(want["Requests expired"])), key
        assert got["name"] == want["Name"]
    # the hand-computed figures (tests/officer_data.py), so the comparison above compares something
    assert shown["an"] | {} == {"rank": "1", "name": "Nguyễn Văn An", "ratings": "10", "rate": "90.0 %", "grade": "Tốt",
                                "hours": "4.00", "per_hour": "2.50", "answered": "2", "expired": "0",
                                "reasons": "Long waiting time (1)"}
    assert (shown["binh"]["rate"], shown["binh"]["rank"], shown["binh"]["expired"]) == ("66.7 %", "2", "1")
    cli_quality = {r[0]: r[3] for r in quality["rows"]}
    assert page_quality(body) == {"ubnd-tan-lap": f"{cli_quality['ubnd-tan-lap'] * 100:.1f} %", "ubnd-zebra-b": "0.0 %",
                                  "total": "10.3 %"}  # 3 of 29 ratings name no officer
    assert cli_quality["ubnd-tan-lap"] == round(3 / 22, 4)

    _, token = app.store.add_token("BI", Scope("all"), None)
    status, _, body = request(url, "/api/v1/officers?period=2026-10&lang=en", {"Authorization": "Bearer " + token})
    assert status == 200
    data = json.loads(body)
    api = {o["officer"]: o for o in data["officers"]}
    for key, want in cli.items():
        o = api[key]
        hidden = isinstance(want["Satisfied"], str)
        assert o["hidden"] is hidden and o["ratings"] == want["Ratings"]
        assert o["satisfied_rate"] == (None if hidden else want["Satisfied"]) and o["rank"] == want["Rank"]
        assert o["grade"] == (None if hidden else want["Grade"] or None) and o["hours"] == want["Hours on duty"]
        assert o["ratings_per_hour"] == want["Ratings per hour"]
        assert (o["requests_answered"], o["requests_expired"]) == (want["Requests answered"], want["Requests expired"])
        assert "; ".join(f"{r['name']}: {r['count']}" for r in o["reasons"]) == ("" if hidden else want["Reasons for poor ratings"])
    assert {q["centre"]: q["no_officer_share"] for q in data["quality"]} == cli_quality
    assert data["min_ratings"] == 5 and data["grade_min_ratings"] == 8 and data["grades"][1] == {"name": "Tốt", "min_satisfied": 0.85}
    status, headers, body = request(url, "/api/v1/officers?period=2026-10&format=csv", {"Authorization": "Bearer " + token})
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    an = next(r for r in rows if r["officer"] == "an")
    assert (an["ratings"], an["satisfied_rate"], an["grade"], an["hours"]) == ("10", "0.9", "Tốt", "4.0")
    centre = next(r for r in rows if r["kind"] == "centre" and r["centre"] == "ubnd-tan-lap")
    assert (centre["ratings"], centre["no_officer"], centre["no_officer_share"]) == ("22", "3", str(round(3 / 22, 4)))


def test_xlsx_and_printable_sheet_are_the_command_lines_for_the_accounts_scope(served):
    app, url, db_url, tmp_path = served
    main, quality = cli_json(tmp_path, db_url, "--site", "xa-tan-lap")
    cookie = login(url, "tan-lap")
    status, _, body = request(url, "/officers?period=2026-10", cookie)
    page = body.decode()
    assert status == 200 and 'aria-current="page">Cán bộ<' in page  # in the navigation, current
    assert 'href="/officers/print?period=2026-10"' in page and 'href="/officers.xlsx?period=2026-10"' in page
    status, headers, body = request(url, "/officers.xlsx?period=2026-10", cookie)
    assert status == 200 and "officers-2026-10.xlsx" in headers["content-disposition"]
    sheets = load_workbook(io.BytesIO(body)).worksheets
    got = [[[c.value for c in row] for row in ws.iter_rows()] for ws in sheets]
    assert [g[1:] for g in got] == [[[None if v == "" else v for v in r] for r in t["rows"]] for t in (main, quality)]
    assert [g[0] for g in got] == [t["headers"] for t in (main, quality)]
    status, headers, body = request(url, "/officers/print?period=2026-10", cookie)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'none'" in headers["content-security-policy"] and "frame-ancestors 'none'" in headers["content-security-policy"]
    sheet = body.decode()
    assert "Đánh giá cán bộ 2026-10" in sheet and "<td>Tốt</td>" in sheet and "90.0 %" in sheet and "13.6 %" in sheet
    assert not [z for z in ZEBRA if z in sheet]
    exports = [t for (t,) in app.db.query("SELECT target FROM audit WHERE action = 'export' AND actor = 'tan-lap'")]
    assert sorted(exports) == ["officers-2026-10.html", "officers-2026-10.xlsx"]


def test_an_account_of_one_commune_gets_nothing_of_anothers_officers(served):
    app, url, _, _ = served
    mine = login(url, "tan-lap")
    _, token = app.store.add_token("BI Tân Lập", Scope("commune", "xa-tan-lap"), None)
    bearer = {"Authorization": "Bearer " + token}
    for path, who in [("/officers?period=2026-10", mine), ("/officers.csv?period=2026-10", mine),
                      ("/officers.xlsx?period=2026-10", mine), ("/officers/print?period=2026-10", mine),
                      ("/api/v1/officers?period=2026-10", bearer), ("/api/v1/officers?period=2026-10&format=csv", bearer),
                      ("/api/v1/officers?period=2026-10", mine)]:
        status, headers, body = request(url, path, who)
        assert status == 200, path
        if body[:2] == b"PK":
            body = "\n".join(str(c.value) for ws in load_workbook(io.BytesIO(body)).worksheets
                             for row in ws.iter_rows() for c in row).encode()
        assert b"Nguy\xe1\xbb\x85n V\xc4\x83n An".decode() in body.decode(), path  # its own officers are there
        assert not [z for z in ZEBRA if z.encode() in body], path
    for path in ("/officers?commune=xa-zebra-b", "/officers/print?centre=ubnd-zebra-b", "/officers.xlsx?site=ubnd-zebra-b"):
        status, _, body = request(url, path, mine)
        assert status == 403 and not [z for z in ZEBRA[:3] if z.encode() in body], path
    status, _, _ = request(url, "/api/v1/officers?commune=xa-zebra-b", bearer)
    assert status == 403
    # the other commune's own account does see them: the searches above could fail
    status, _, body = request(url, "/officers?period=2026-10", login(url, "zebra"))
    assert status == 200 and "Cán bộ Zebra Ngựa Vằn" in body.decode() and "Nguyễn Văn An" not in body.decode()
    # nobody signed in: the login page, or 401 for the API
    status, headers, _ = request(url, "/officers/print?period=2026-10")
    assert status == 303 and headers["location"].startswith("/login?next=/officers/print")
    assert request(url, "/api/v1/officers")[0] == 401


def test_officers_below_the_privacy_minimum_show_no_figures(tmp_path):
    """Raised to 7 ratings: Bình's 6 are hidden too, on the page, in the API, the sheet and the XLSX."""
    db = seed(f"sqlite:///{tmp_path / 'ratings.db'}")
    cfg = CFG.model_copy(update={"evaluation": CFG.evaluation.model_copy(update={"min_ratings": 7})})
    app, server, url = serve(db, cfg)
    try:
        admin = login(url, "admin", ADMIN_PASSWORD)
        _, _, body = request(url, "/officers?period=2026-10", admin)
        shown = page_rows(body)
        for key in ("binh", "cuong"):
            assert {shown[key][k] for k in ("rate", "grade", "rank", "reasons")} == {"ẩn"}, key
            assert 'class="few"' in re.search(rf'<tr data-officer="{key}"[^>]*>', body.decode()).group(0)
        assert shown["binh"]["ratings"] == "6" and shown["an"]["rate"] == "90.0 %"
        assert "Thái độ chưa tốt" not in body.decode() and "dưới 7 lượt đánh giá" in body.decode()
        _, token = app.store.add_token("BI", Scope("all"), None)
        data = json.loads(request(url, "/api/v1/officers?period=2026-10", {"Authorization": "Bearer " + token})[2])
        binh = next(o for o in data["officers"] if o["officer"] == "binh")
        assert binh["hidden"] and binh["satisfied_rate"] is None and binh["rank"] is None and binh["reasons"] == []
        sheet = request(url, "/officers/print?period=2026-10", admin)[2].decode()
        assert "66.7 %" not in sheet and "Thái độ chưa tốt" not in sheet and "ẩn (&lt; 7 đánh giá)" in sheet
        xlsx = request(url, "/officers.xlsx?period=2026-10", admin)[2]
        cells = {str(c.value) for ws in load_workbook(io.BytesIO(xlsx)).worksheets for row in ws.iter_rows() for c in row}
        assert "ẩn (< 7 đánh giá)" in cells and not [c for c in cells if "Thái độ" in c]
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()


def test_an_officer_key_that_looks_like_markup_is_shown_as_text(tmp_path):
    from collector.storage import records
    from tests.officer_data import _rating, at

    db = seed(f"sqlite:///{tmp_path / 'ratings.db'}")
    hostile = '<img src=x onerror="alert(1)">'
    rows = [_rating(900 + k, "ubnd-tan-lap", "quay-02", at(15, k), 5, hostile, None) for k in range(5)]
    with db.transaction():
        db.executemany(records.INSERT_RATING_SQL, rows)
    app, server, url = serve(db)
    try:
        admin = login(url, "admin", ADMIN_PASSWORD)
        for path in ("/officers?period=2026-10", "/officers/print?period=2026-10"):
            body = request(url, path, admin)[2].decode()
            assert hostile not in body and "&lt;img src=x onerror=" in body, path
        assert page_rows(request(url, "/officers?period=2026-10", admin)[2])[hostile]["rate"] == "100.0 %"
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        db.close()
