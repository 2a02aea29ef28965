"""Where an account's scheduled reports go (e-mail, language, periods): set by `python -m collector users`
and on the admin page (an admin only within its scope, with the form token), stored, and audit-logged."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
import yaml

from collector.accounts.accounts import REPORT_KINDS, Scope, Store
from collector.storage.db import connect
from collector.reports.hierarchy import Hierarchy
from collector.web.server import Dashboard, start_in_thread
from tests.integration.test_dashboard_scope_matrix import login, request
from tests.integration.test_users_cli import users
from tests.scope_data import ADMIN_PASSWORD, CFG, NOW, PASSWORD, seed


def audit_rows(db, action: str) -> list[tuple]:
    return db.query("SELECT actor, target, detail FROM audit WHERE action = ? ORDER BY id", (action,))


def test_users_command_sets_email_language_and_periods(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    data = CFG.model_dump(mode="json", exclude_none=True)
    data["database"] = {"url": db_url}
    data["dashboard"].pop("password", None)
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {"NEW_PW": "mat-khau-chu-tich-1"}
    bad = users(config, "add", "chu-tich", "--scope", "commune:xa-an-phu", "--email", "not-an-address",
                "--password-env", "NEW_PW", env=env)
    assert bad.returncode == 2 and "e-mail 'not-an-address'" in bad.stderr
    done = users(config, "add", "chu-tich", "--scope", "commune:xa-an-phu", "--email", "chutich@anphu.gov.vn",
                 "--lang", "en", "--reports", "quarter,year", "--password-env", "NEW_PW", env=env)
    assert done.returncode == 0, done.stderr
    plain = users(config, "add", "pho-chu-tich", "--scope", "commune:xa-an-phu", "--password-env", "NEW_PW", env=env)
    assert plain.returncode == 0, plain.stderr
    listed = users(config, "list").stdout
    line = next(x for x in listed.splitlines() if x.startswith("chu-tich "))
    assert "en" in line.split() and "quarter,year" in line and "chutich@anphu.gov.vn" in line
    line = next(x for x in listed.splitlines() if x.startswith("pho-chu-tich "))
    assert line.split()[-3:] == ["vi", "all", "-"]  # every period by default, but no address: nothing is sent

    changed = users(config, "set", "pho-chu-tich", "--email", "pct@anphu.gov.vn", "--reports", "month")
    assert changed.returncode == 0, changed.stderr
    nothing = users(config, "set", "pho-chu-tich")
    assert nothing.returncode == 2 and "give --email, --lang or --reports" in nothing.stderr
    for args, message in ((["--email", "a@b.vn\r\nBcc: x@y.vn"], "e-mail"), (["--reports", "weekly"], "weekly"),
                          (["--lang", "fr"], "invalid choice")):
        refused = users(config, "set", "pho-chu-tich", *args)
        assert refused.returncode == 2 and message in refused.stderr, (args, refused.stderr)
    missing = users(config, "set", "khong-co", "--lang", "en")
    assert missing.returncode == 2 and "no account 'khong-co'" in missing.stderr
    removed = users(config, "set", "chu-tich", "--email", "", "--reports", "none")
    assert removed.returncode == 0, removed.stderr

    db = connect(db_url)
    store = Store(db, Hierarchy())
    a, b = store.get("chu-tich"), store.get("pho-chu-tich")
    assert (a.email, a.lang, a.reports) == (None, "en", ())
    assert (b.email, b.lang, b.reports) == ("pct@anphu.gov.vn", "vi", ("month",))
    assert [x.username for x in store.report_accounts()] == ["pho-chu-tich"]
    added = audit_rows(db, "account-added")
    assert added[0][1:] == ("chu-tich", "viewer commune:xa-an-phu; email chutich@anphu.gov.vn lang en "
                                        "reports quarter,year")
    assert audit_rows(db, "account-changed") == [
        (added[0][0], "pho-chu-tich", "email - -> pct@anphu.gov.vn; reports all -> month"),
        (added[0][0], "chu-tich", "email chutich@anphu.gov.vn -> -; reports quarter,year -> none")]
    db.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = seed(f"sqlite:///{tmp_path_factory.mktemp('delivery') / 'ratings.db'}")
    app = Dashboard(CFG, db, ADMIN_PASSWORD, now=lambda: NOW)
    app.store.add("vien-chuc-an-phu", PASSWORD, "viewer", Scope("commune", "xa-an-phu"))
    app.store.add("quan-tri-an-phu", PASSWORD, "admin", Scope("commune", "xa-an-phu"))
    app.store.add("zebra-nhan-vien", PASSWORD, "viewer", Scope("commune", "xa-zebra-b"), email="zebra@example.vn")
    server, url = start_in_thread(app)
    yield app, url
    server.shutdown()
    server.server_close()
    app.close()
    db.close()


def admin_form(url: str) -> tuple[str, str, str]:
    cookie = login(url, "quan-tri-an-phu")
    page = request(url, "GET", "/admin", {"Cookie": "hl_session=" + cookie})[2].decode()
    return cookie, re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1), page


def post(url: str, cookie: str, action: str, form: dict):
    return request(url, "POST", f"/admin/{action}", {"Cookie": "hl_session=" + cookie}, urlencode(form))


def test_an_admin_sets_reports_of_accounts_within_its_scope_only(served):
    app, url = served
    cookie, csrf, page = admin_form(url)
    assert "zebra@example.vn" not in page and 'action="/admin/set-reports"' in page
    form = {"username": "vien-chuc-an-phu", "email": "vienchuc@anphu.gov.vn", "lang": "en",
            "report-quarter": "1", "report-9m": "1"}
    assert post(url, cookie, "set-reports", form)[0] == 403  # no form token: refused
    assert app.store.get("vien-chuc-an-phu").email is None
    status, headers, _ = post(url, cookie, "set-reports", {**form, "csrf": csrf})
    assert status == 303, status
    a = app.store.get("vien-chuc-an-phu")
    assert (a.email, a.lang, a.reports) == ("vienchuc@anphu.gov.vn", "en", ("quarter", "9m"))
    assert app.db.query("SELECT actor, target, detail, scope FROM audit WHERE action = 'account-changed'") == [
        ("quan-tri-an-phu", "vien-chuc-an-phu",
         "email - -> vienchuc@anphu.gov.vn; lang vi -> en; reports all -> quarter,9m", "commune:xa-an-phu")]
    shown = request(url, "GET", "/admin", {"Cookie": "hl_session=" + cookie})[2].decode()
    assert "vienchuc@anphu.gov.vn · English<br>Quý, 9 tháng" in shown

    # another commune's account: refused like a missing one, and left as it was
    status, _, body = post(url, cookie, "set-reports", {"username": "zebra-nhan-vien", "email": "ke-gian@x.vn",
                                                        "lang": "vi", "csrf": csrf})
    assert status == 400 and b"no such account within your scope" in body and b"zebra@example.vn" not in body
    z = app.store.get("zebra-nhan-vien")
    assert (z.email, z.reports) == ("zebra@example.vn", REPORT_KINDS)

    status, _, body = post(url, cookie, "set-reports", {"username": "vien-chuc-an-phu", "email": "x@y.vn>, b@c.vn",
                                                        "lang": "vi", "csrf": csrf})
    assert status == 400 and "e-mail" in body.decode()
    assert app.store.get("vien-chuc-an-phu").email == "vienchuc@anphu.gov.vn"

    # a new account with its e-mail, language and periods, from the add form
    status, _, _ = post(url, cookie, "add-account", {
        "username": "pho-chu-tich-an-phu", "password": "mot-mat-khau-dai", "role": "viewer",
        "scope": "centre:ubnd-an-phu", "email": "pct@anphu.gov.vn", "lang": "vi", "report-month": "1",
        "report-year": "1", "csrf": csrf})
    assert status == 303
    n = app.store.get("pho-chu-tich-an-phu")
    assert (n.email, n.lang, n.reports) == ("pct@anphu.gov.vn", "vi", ("month", "year"))
    detail = app.db.scalar("SELECT detail FROM audit WHERE action = 'account-added' AND target = 'pho-chu-tich-an-phu'")
    assert detail == "viewer centre:ubnd-an-phu; email pct@anphu.gov.vn lang vi reports month,year"
