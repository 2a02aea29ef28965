"""The read-only API over real HTTP: tokens, scope, JSON and CSV, rate limit, OpenAPI, SQLite = PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from collector.accounts.accounts import Scope
from collector.reports.report import DIMENSIONS, RollupRow, aggregate
from collector.web.api import TokenLimiter
from collector.web.server import Dashboard, start_in_thread
from tests.scope_data import A_COUNT, ADMIN_PASSWORD, B_COUNT, CFG, NOW, ratings, seed


def call(url: str, path: str, token: str | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@pytest.fixture
def api(db_url):
    db = seed(db_url)
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    server, url = start_in_thread(app)
    yield app, url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def test_summaries_are_the_same_figures_on_sqlite_and_postgresql(api):
    """Every dimension against the figures aggregated in Python from the seeded ratings (same on both databases)."""
    app, url = api
    _, token = app.store.add_token("BI tỉnh", Scope("all"), None)
    rows = [RollupRow(0, r.site, r.device, r.officer or "", r.service or "", r.reason or "", r.scale, r.rating,
                      int(bool(r.flags)), 1) for r in ratings() if r.ts.startswith("2026")]
    for dim in DIMENSIONS:
        if dim in ("day", "week", "month", "hour", "weekday"):
            continue  # time groupings are covered against the rollup by the report tests
        status, _, body = call(url, f"/api/v1/summary?by={dim}&period=2026", token)
        assert status == 200, body
        got = {r["group"]: (r["count"], r["satisfied"], r["mean_score"]) for r in json.loads(body)["rows"]}
        want = {r.group: (r.count, r.satisfied, r.mean_score)
                for r in aggregate(rows, dim, satisfied=CFG.satisfied, tz=CFG.timezone, hierarchy=app.hierarchy)}
        assert got == want, dim
    summary = json.loads(call(url, "/api/v1/summary?period=2026", token)[2])
    assert summary["rows"][0]["count"] == A_COUNT + B_COUNT
    assert summary["speaking_mode"] == 0  # ratings made in the kiosk's speaking mode: none seeded


def test_a_token_reads_its_scope_in_json_and_csv(api):
    app, url = api
    _, token = app.store.add_token("Xã An Phú", Scope("commune", "xa-an-phu"), None)
    status, headers, body = call(url, "/api/v1/summary?by=centre,month&since=2026-01-01&until=2026-12-31", token)
    assert status == 200 and headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert {r["keys"][0] for r in data["rows"]} == {"ubnd-an-phu"}
    assert sum(r["count"] for r in data["rows"]) == A_COUNT  # the merged commune's old slug counts too
    status, headers, body = call(url, "/api/v1/summary?by=site&period=2026&format=csv", token)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0][:4] == ["keys", "group", "name", "count"]
    assert sorted(r[1] for r in table[1:]) == ["ubnd-an-hoa", "ubnd-an-phu"]
    for path in ("/api/v1/devices", "/api/v1/alerts", "/api/v1/devices?format=csv"):
        status, _, body = call(url, path, token)
        assert status == 200 and b"ubnd-an-phu" in body and b"zebra" not in body, path


@pytest.mark.parametrize("path", ["/api/v1/summary", "/api/v1/officers"])
@pytest.mark.parametrize("query", ["since=0001-01-01&until=9999-12-31", "since=0001-01-01", "until=9999-12-31",
                                   "period=0001", "period=9999-Q4"])
def test_days_far_outside_the_calendar_are_a_bad_request_not_an_error(api, path, query):
    app, url = api
    _, token = app.store.add_token("BI tỉnh", Scope("all"), None)
    status, _, body = call(url, f"{path}?{query}", token)
    assert status == 400 and b"2000" in body, (status, body)
    assert call(url, f"{path}?since=2026-01-01&until=2026-12-31", token)[0] == 200


def test_revoked_unknown_and_missing_tokens_get_nothing(api):
    app, url = api
    token_info, token = app.store.add_token("tạm", Scope("commune", "xa-an-phu"), None)
    assert call(url, "/api/v1/summary", token)[0] == 200
    app.store.revoke_token(token_info.id, None)
    for t in (token, None, token[:-2] + "xx", "hl_000000000000_abc"):
        status, headers, body = call(url, "/api/v1/summary?by=centre", t)
        assert status == 401 and b"ubnd" not in body and "Bearer" in headers["www-authenticate"]


def test_each_token_has_its_own_request_budget(api):
    app, url = api
    app.api_limiter = TokenLimiter(burst=5, per_s=0.01)
    _, busy = app.store.add_token("bận", Scope("all"), None)
    _, calm = app.store.add_token("rảnh", Scope("all"), None)
    statuses = [call(url, "/api/v1/devices", busy)[0] for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    status, headers, _ = call(url, "/api/v1/devices", busy)
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert call(url, "/api/v1/devices", calm)[0] == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_openapi_description_is_valid_and_lists_every_api_route(api):
    app, url = api
    status, _, body = call(url, "/api/v1/openapi.json")
    assert status == 200
    doc = json.loads(body)
    validate(doc)  # raises on an invalid OpenAPI 3.1 document
    routed = {r.path for r in app.asgi.routes if isinstance(r, Route) and r.path.startswith("/api/")}
    assert routed == set(doc["paths"]), routed ^ set(doc["paths"])
    by = next(p for p in doc["paths"]["/api/v1/summary"]["get"]["parameters"] if p["name"] == "by")
    assert all(d in by["description"] for d in DIMENSIONS)
    # the officers' answer has exactly the fields its description lists
    schema = doc["paths"]["/api/v1/officers"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    _, token = app.store.add_token("BI", Scope("all"), None)
    answer = json.loads(call(url, "/api/v1/officers?period=2026-10", token)[2])
    assert set(answer) == set(schema["properties"])
    officer = schema["properties"]["officers"]["items"]["properties"]
    assert answer["officers"] and all(set(o) == set(officer) for o in answer["officers"])
    quality = schema["properties"]["quality"]["items"]["properties"]
    assert answer["quality"] and all(set(q) == set(quality) for q in answer["quality"])


def test_ratings_made_in_the_speaking_mode_are_counted_within_each_scope(api):
    """Three of commune A's ratings made in the kiosk's speaking mode: the province sees 3, A sees 3, B none."""
    app, url = api
    ids = [r.id for r in ratings() if r.ts.startswith("2026") and r.site == "ubnd-an-phu"][:3]
    with app.db.transaction():
        app.db.executemany("UPDATE ratings SET mode = 'speaking' WHERE id = ?", [(i,) for i in ids])
    for scope, want in ((Scope("all"), 3), (Scope("commune", "xa-an-phu"), 3), (Scope("commune", "xa-zebra-b"), 0)):
        _, token = app.store.add_token(f"BI {scope}", scope, None)
        status, _, body = call(url, "/api/v1/summary?period=2026", token)
        assert status == 200 and json.loads(body)["speaking_mode"] == want, (scope, body[:300])
    _, token = app.store.add_token("BI tháng khác", Scope("all"), None)
    assert json.loads(call(url, "/api/v1/summary?period=2025", token)[2])["speaking_mode"] == 0  # not that year
