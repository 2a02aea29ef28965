"""Managers see the thank-you QR's answers within their scope: the /followup page, its CSV and XLSX, and
/api/v1/followup, for accounts and tokens of commune A and of commune B (tests/scope_data.py, whose answers
test_dashboard_scope_matrix.py also searches every URL for). Commune A never
gets B's comments or contacts; contact details go only to admin accounts, with an audit line; comments are in
the exports and can never run as formulas; script in a comment is escaped on the page."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess

import pytest
from openpyxl import load_workbook

from collector.accounts.accounts import Scope
from collector.web.api import TokenLimiter
from collector.web.server import Dashboard, start_in_thread
from tests.integration.test_dashboard_scope_matrix import login, request
from tests.scope_data import ADMIN_PASSWORD, CFG, FOLLOWUP_A, FOLLOWUP_B, NOW, PASSWORD, seed

A_RATING, A_COMMENT, A_CONTACT, _ = FOLLOWUP_A
B_RATING, B_COMMENT, B_CONTACT, _ = FOLLOWUP_B


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request, tmp_path_factory):
    if request.param == "sqlite":
        db = seed(f"sqlite:///{tmp_path_factory.mktemp('followup') / 'ratings.db'}")
    else:
        db = seed(request.getfixturevalue("postgres_server").fresh_database(f"followup_dash_{os.getpid()}"))
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    app.api_limiter = TokenLimiter(burst=100_000, per_s=1000)
    app.store.add("vien-chuc-an-phu", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
    app.store.add("quan-tri-an-phu", PASSWORD, "admin", Scope("commune", "xa-an-phu"))
    app.store.add("zebra-nhan-vien", PASSWORD, "viewer", Scope("commune", "xa-zebra-b"))
    _, token_a = app.store.add_token("BI An Phú", Scope("commune", "xa-an-phu"), None)
    server, url = start_in_thread(app)
    yield app, url, token_a
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def text_of(body: bytes) -> str:
    if body[:2] == b"PK":
        wb = load_workbook(io.BytesIO(body))
        return "\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)
    return body.decode("utf-8")


def test_each_commune_sees_its_own_answers_and_only_admins_see_contacts(served):
    app, url, token_a = served
    viewer = {"Cookie": "hl_session=" + login(url, "vien-chuc-an-phu")}
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    zebra = {"Cookie": "hl_session=" + login(url, "zebra-nhan-vien")}
    token = {"Authorization": "Bearer " + token_a}
    paths = ["/followup?period=2026-10", "/followup.csv?period=2026-10", "/followup.xlsx?period=2026-10",
             "/api/v1/followup?period=2026-10", "/api/v1/followup?period=2026-10&format=csv",
             "/followup?period=2026-10&centre=ubnd-zebra-b", "/api/v1/followup?period=2026&commune=xa-zebra-b"]
    for who, headers in (("viewer", viewer), ("admin", admin), ("token", token)):
        for path in paths:
            status, _, body = request(url, "GET", path, headers)
            if who == "token" and not path.startswith("/api/"):
                assert status == 303  # pages are for accounts: to the login
                continue
            if "zebra" in path:
                assert status == 403, (who, path, status)
                continue
            assert status == 200, (who, path, status)
            text = text_of(body)
            assert "chờ lâu" in text and "Zebra" not in text and "zebra@" not in text, (who, path)
            assert (A_CONTACT in text) == (who == "admin"), (who, path)
    status, _, body = request(url, "GET", "/followup?period=2026-10", zebra)  # B's own account sees B
    assert status == 200 and B_COMMENT in body.decode() and "chờ lâu" not in body.decode()
    assert "Cán bộ Zebra Ngựa Vằn" in body.decode() and "Dịch vụ Zebra" in body.decode()  # names, not keys
    assert B_CONTACT not in body.decode()  # a viewer, even of B
    audit = app.db.query("SELECT actor, scope FROM audit WHERE action = 'followup-contacts'")
    assert audit and {a for a, _ in audit} == {"quan-tri-an-phu"}


def test_the_page_shows_the_face_counter_officer_and_scores_and_escapes_comments(served):
    _, url, _ = served
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    status, _, body = request(url, "GET", "/followup?period=2026-10", admin)
    page = body.decode()
    assert status == 200 and "Góp ý qua mã QR" in page and "Tiếp cận dịch vụ" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "can-bo-an" in page and "quay-01" in page and A_RATING in page
    status, _, body = request(url, "GET", "/followup.csv?period=2026-10", admin)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Thời gian", "Trung tâm", "Quầy", "Mặt đánh giá"]
    line = rows[1]
    assert line[9] == "1" and line[10] == "4"  # civil servant, result
    assert any(c.startswith("'=HYPERLINK") for c in line), line  # never a formula in a spreadsheet
    status, _, body = request(url, "GET", "/followup.xlsx?period=2026-10", admin)
    ws = load_workbook(io.BytesIO(body)).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)
    assert re.search(r'"staff": 1', request(url, "GET", "/api/v1/followup?period=2026-10", admin)[2].decode())


def test_reasons_and_phone_answers_are_grouped_by_sipas_element_within_the_scope(served):
    app, url, token_a = served
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    a_reasons = app.db.scalar("SELECT COUNT(*) FROM ratings WHERE reason = 'ly-do-an' AND at_ms >= ? AND at_ms < ?",
                              (1790787600000, 1793466000000))  # October 2026, Hà Nội time
    data = json.loads(request(url, "GET", "/api/v1/followup?period=2026-10",
                                            {"Authorization": "Bearer " + token_a})[2])
    by = {e["element"]: e for e in data["elements"]}
    assert list(by) == ["access", "procedure", "staff", "result", "feedback"]
    assert by["access"]["reasons"] == a_reasons > 0 and by["access"]["reason_keys"] == {"ly-do-an": a_reasons}
    assert by["staff"] == {"element": "staff", "mean": 1.0, "answers": 1, "low": 1, "reasons": 0, "reason_keys": {}}
    assert by["result"]["mean"] == 4.0 and data["reasons_without_element"] == {}
    status, _, body = request(url, "GET", "/followup?period=2026-10", admin)
    page = body.decode()
    assert status == 200 and "Theo yếu tố SIPAS" in page and f"Chờ lâu ở An Phú: {a_reasons}" in page
    assert "Zebra" not in page
    status, _, body = request(url, "GET", "/followup.csv?period=2026-10&by=element", admin)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "Yếu tố" and rows[1][:5] == ["Tiếp cận dịch vụ", "", "0", "0", str(a_reasons)]
    assert rows[3][:5] == ["Công chức", "1.0", "1", "1", "0"]
    status, _, body = request(url, "GET", "/api/v1/followup?period=2026-10&format=csv&by=element&lang=en",
                              {"Authorization": "Bearer " + token_a})
    assert status == 200 and body.decode().splitlines()[1].startswith("Access,")
    wb = load_workbook(io.BytesIO(request(url, "GET", "/followup.xlsx?period=2026-10", admin)[2]))
    assert len(wb.worksheets) == 3 and wb.worksheets[1]["A1"].value == "Yếu tố"  # answers, elements, general


def pdf_text(body: bytes, tmp_path) -> str:
    f = tmp_path / "f.pdf"
    f.write_bytes(body)
    return subprocess.run(["pdftotext", str(f), "-"], capture_output=True, text=True, check=True).stdout


def test_the_comments_print_as_a_pdf_without_contacts_within_the_scope(served, tmp_path):
    _, url, _ = served
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    assert 'href="/followup.pdf?period=2026-10"' in request(url, "GET", "/followup?period=2026-10", admin)[2].decode()
    status, headers, body = request(url, "GET", "/followup.pdf?period=2026-10", admin)
    assert status == 200 and body[:5] == b"%PDF-"
    text = " ".join(pdf_text(body, tmp_path).split())
    assert "Theo yếu tố SIPAS" in text and "<script>alert(1)</script> chờ lâu" in text and "mặt 1/" in text
    assert A_CONTACT not in text and "Zebra" not in text
    zebra = {"Cookie": "hl_session=" + login(url, "zebra-nhan-vien")}
    assert request(url, "GET", "/followup.pdf?period=2026-10&centre=ubnd-an-phu", zebra)[0] == 403


def test_the_printed_counter_qr_general_feedback_is_shown_apart_within_the_scope(served):
    from tests.scope_data import GENERAL_A

    app, url, token_a = served
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    data = json.loads(request(url, "GET", "/api/v1/followup?period=2026-10", {"Authorization": "Bearer " + token_a})[2])
    assert data["general"]["count"] == 1 and data["general"]["answers"][0]["comment"] == GENERAL_A[0]
    assert data["general"]["answers"][0]["contact"] is None  # a token never gets contacts
    assert data["general"]["means"][0] == {"element": "access", "mean": 2.0, "answers": 1}
    by = {e["element"]: e for e in data["elements"]}
    assert by["access"]["answers"] == 0 and len(data["answers"]) == 1  # never in a visit's figures
    page = request(url, "GET", "/followup?period=2026-10", admin)[2].decode()
    assert "Góp ý chung (mã QR in tại quầy)" in page and "&lt;b&gt;bãi xe&lt;/b&gt;" in page
    assert "chung-an-phu@example.vn" in page and "Zebra" not in page and "chung-zebra" not in page
    status, _, body = request(url, "GET", "/followup.csv?period=2026-10&by=general", admin)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert status == 200 and len(rows) == 2 and rows[1][-2] == GENERAL_A[0]


def test_the_elements_scores_per_centre_counter_officer_and_service(served):
    _, url, token_a = served
    admin = {"Cookie": "hl_session=" + login(url, "quan-tri-an-phu")}
    token = {"Authorization": "Bearer " + token_a}
    for group, name in (("centre", "Một cửa xã An Phú"), ("counter", "Quầy 1 - Hộ tịch An Phú (Một cửa xã An Phú)"),
                        ("officer", "can-bo-an"), ("service", "dv-an")):
        data = json.loads(request(url, "GET", f"/api/v1/followup?period=2026-10&group={group}", token)[2])
        assert data["groups"] == [{"name": name, "answers": 1, "comments": 1, "face_mean": 1.0, "access": None,
                                   "procedure": None, "staff": 1.0, "result": 4.0, "feedback": None}], group
        status, _, body = request(url, "GET", f"/followup.csv?period=2026-10&group={group}", admin)
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert status == 200 and rows[1][:3] == [name, "1", "1"] and "Zebra" not in body.decode(), group
    page = request(url, "GET", "/followup?period=2026-10&group=officer", admin)[2].decode()
    assert "Góp ý qua mã QR – Cán bộ" in page and 'href="/followup?period=2026-10&amp;group=service"' in page
